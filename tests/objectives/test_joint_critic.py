"""``joint_critic``: one critic call on a critic update's real and generated samples, for every family; the
same training as a call on each (to float rounding), with labels and with packing; the critics it would
change refused in one line."""

from functools import partial

import pytest
import torch

from lit_gan import FGAN, GAN, LSGAN, WGAN, WGANGP, Hinge, RpGAN
from lit_gan.data import RingOfGaussians
from lit_gan.networks import (DiffAugment, LabelConcat, MLPCritic, MLPGenerator, Packed, Projection,
                              apply_spectral_norm)
from tests.conftest import cpu_trainer

FAMILIES = [(GAN, {}), (LSGAN, {}), (WGAN, {}), (WGANGP, {}), (Hinge, {}), (RpGAN, {"r1_gamma": 1.0}),
            (FGAN, {"divergence": "kl"})]


def trained(tmp_path, family, joint, **kwargs):
    torch.manual_seed(0)
    generator = partial(MLPGenerator, hidden_dims=(16,))
    if kwargs.get("num_classes"):
        generator = partial(LabelConcat, generator=generator, embed_dim=4)
    networks = dict(generator=generator, latent_dim=2, img_shape=(2,))
    critic = kwargs.pop("critic", partial(MLPCritic, hidden_dims=(16,)))
    sgd = partial(torch.optim.SGD, lr=0.05)  # Adam's first step, lr * sign(g), would make rounding noise a full step
    model = family(n_critic=2, joint_critic=joint, critic=critic, g_optimizer=sgd, d_optimizer=sgd, **networks, **kwargs)
    calls = []
    model.critic.register_forward_hook(lambda module, args, out: calls.append(args[0].shape[0]))
    data = RingOfGaussians(batch_size=8, n_train=256, labelled="num_classes" in kwargs)
    cpu_trainer(tmp_path, max_steps=3, limit_val_batches=0).fit(model, data)
    return model, calls


@pytest.mark.parametrize("family,kwargs", FAMILIES, ids=[f.__name__ for f, _ in FAMILIES])
def test_one_call_trains_as_two(tmp_path, family, kwargs):
    apart, apart_calls = trained(tmp_path / "apart", family, False, **kwargs)
    joint, joint_calls = trained(tmp_path / "joint", family, True, **kwargs)
    assert 16 in joint_calls and 16 not in apart_calls  # real and generated, 8 each, in one call
    for key, value in joint.state_dict().items():
        assert torch.allclose(value, apart.state_dict()[key], rtol=1e-4, atol=1e-6), key


def test_with_labels_and_with_packs(tmp_path):
    projection = partial(Projection, critic=partial(MLPCritic, hidden_dims=(16,)))
    for kwargs in ({"num_classes": 8, "critic": projection}, {"critic": partial(Packed, pack=2, critic=partial(MLPCritic, hidden_dims=(16,)))}):
        apart, _ = trained(tmp_path / "apart", WGANGP, False, **dict(kwargs))
        joint, _ = trained(tmp_path / "joint", WGANGP, True, **dict(kwargs))
        for key, value in joint.state_dict().items():
            assert torch.allclose(value, apart.state_dict()[key], rtol=1e-4, atol=1e-6), (kwargs, key)


def dropout_critic(img_shape):
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 8), torch.nn.Dropout(0.1), torch.nn.Linear(8, 1),
                               torch.nn.Flatten(0))


def batch_norm_critic(img_shape):
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 1),
                               torch.nn.Flatten(0))


@pytest.mark.parametrize("critic,why", [
    (batch_norm_critic, "BatchNorm"),
    (dropout_critic, "dropout"),
    (lambda img_shape: apply_spectral_norm(MLPCritic(img_shape, hidden_dims=(16,))), "spectral normalization"),
    (partial(DiffAugment, critic=partial(MLPCritic, hidden_dims=(16,))), "DiffAugment"),
])
def test_a_critic_that_depends_on_its_call_is_refused(critic, why):
    with pytest.raises(ValueError, match=rf"^Expected argument `joint_critic` to be false for a critic with {why} \("):
        GAN(generator=MLPGenerator, critic=critic, latent_dim=2, img_shape=(1, 8, 8), joint_critic=True)
    with pytest.raises(ValueError, match="^Expected argument `joint_critic` to be false with `code_categories`"):
        GAN(generator=MLPGenerator, critic=MLPCritic, latent_dim=4, img_shape=(2,), joint_critic=True, code_categories=2)
