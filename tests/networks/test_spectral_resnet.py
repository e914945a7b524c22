"""Spectral normalization on every critic, and SNGAN's ResNet generator and critic: shapes, ranges,
refused sizes, singular values after power iterations, state dicts and copies."""

import copy
import io
import re

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from lit_gan.networks import DCGANCritic, MLPCritic, ResNetCritic, ResNetGenerator, apply_spectral_norm


def normalized(critic: nn.Module) -> list[nn.Module]:
    return [m for m in critic.modules() if parametrize.is_parametrized(m, "weight")]


@pytest.mark.parametrize("side", [32, 64])
@pytest.mark.parametrize("c", [1, 3])
def test_resnet_produces_and_scores_32_and_64(side, c):
    g, d = ResNetGenerator(16, (c, side, side), channels=32), ResNetCritic((c, side, side), channels=32)
    x = g(torch.randn(4, 16))
    assert x.shape == (4, c, side, side)
    assert x.min() >= -1 and x.max() <= 1  # tanh: the data's [-1, 1]
    scores = d(x)
    assert scores.shape == (4,) and torch.isfinite(scores).all()
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in d.modules())  # fits a gradient penalty


@pytest.mark.parametrize("side,g_widths,d_widths", [
    (32, [256, 256, 256, 256], [128, 128, 128, 128]),  # Miyato et al. 2018, Tables 4-5
    (64, [1024, 512, 256, 128, 64], [64, 128, 256, 512, 1024]),  # Mimicry's sngan_64
])
def test_resnet_defaults_are_sngans_channels(side, g_widths, d_widths):
    g, d = ResNetGenerator(128, (3, side, side)), ResNetCritic((3, side, side))
    assert [g.linear.out_features // 16] + [b.c2.out_channels for b in g.blocks] == g_widths
    assert [b.c2.out_channels for b in d.blocks] == d_widths
    downsampling = [b.downsample for b in d.blocks]
    assert downsampling == ([True, True, False, False] if side == 32 else [True] * 5)
    assert g.out[-2].out_channels == 3 and d.linear.out_features == 1
    assert len(normalized(d)) == sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in d.modules())  # SN by default


BAD_SHAPES = [(3, 48, 48), (3, 32, 64), (3, 28, 28), (1, 16, 16), (3, 128, 128), (3072,), (0, 32, 32)]


@pytest.mark.parametrize("shape", BAD_SHAPES)
def test_resnet_refuses_other_sizes_naming_img_shape(shape):
    for build in (lambda: ResNetGenerator(16, shape, channels=16), lambda: ResNetCritic(shape, channels=16)):
        with pytest.raises(ValueError, match=r"`img_shape`.*" + re.escape(str(tuple(shape)))) as info:
            build()
        assert "\n" not in str(info.value)


def test_resnet_refuses_channels_it_cannot_halve():
    with pytest.raises(ValueError, match="`channels`.*multiple of 16"):
        ResNetGenerator(16, (3, 64, 64), channels=40)
    with pytest.raises(ValueError, match="`channels`"):
        ResNetCritic((3, 32, 32), channels=0)


def critics() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    return {
        "mlp": MLPCritic((2,), hidden_dims=(64, 64), spectral_norm=True),
        # SN with BatchNorm is allowed (SNGAN's critic has none: the user's choice); BN stays as it is
        "mlp_batch": MLPCritic((1, 8, 8), hidden_dims=(32,), norm="batch", spectral_norm=True),
        "dcgan": DCGANCritic((3, 32, 32), base_channels=8, norm="none", spectral_norm=True),
        "resnet": ResNetCritic((3, 32, 32), channels=16),
    }


@pytest.mark.parametrize("name", ["mlp", "mlp_batch", "dcgan", "resnet"])
def test_spectral_norm_makes_the_largest_singular_value_one(name):
    critic = critics()[name]
    layers = normalized(critic)
    assert layers and len(layers) == sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in critic.modules())
    batch_norms = [m for m in critic.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert not any(parametrize.is_parametrized(m) for m in batch_norms)
    with torch.no_grad():
        raw = [torch.linalg.matrix_norm(m.parametrizations.weight.original.flatten(1), 2) for m in layers]
    assert any(abs(s - 1) > 0.2 for s in raw)  # the unnormalized weights are not already there
    shape = {"mlp": (2,), "mlp_batch": (1, 8, 8), "dcgan": (3, 32, 32), "resnet": (3, 32, 32)}[name]
    critic.train()
    with torch.no_grad():
        for _ in range(5):  # one power iteration each
            critic(torch.randn(8, *shape))
    critic.eval()  # reading the weights now runs no more iterations
    with torch.no_grad():
        sigmas = torch.stack([torch.linalg.matrix_norm(m.weight.flatten(1), 2) for m in layers])
    torch.testing.assert_close(sigmas, torch.ones_like(sigmas), atol=0.05, rtol=0)


def test_power_iterations_run_in_training_mode_forwards_only():
    critic = critics()["mlp"]
    u = lambda: [m.parametrizations.weight[0]._u.clone() for m in normalized(critic)]  # noqa: E731
    before = u()
    critic.eval()
    critic(torch.randn(4, 2))
    assert all(torch.equal(a, b) for a, b in zip(before, u()))
    critic.train()
    critic(torch.randn(4, 2))
    assert not all(torch.equal(a, b) for a, b in zip(before, u()))


def test_spectral_norm_is_refused_on_a_network_without_a_weight_layer():
    with pytest.raises(ValueError, match="`spectral_norm`.*Sequential"):
        apply_spectral_norm(nn.Sequential(nn.Flatten(), nn.ReLU()))
    with pytest.raises(ValueError, match="`spectral_norm`"):
        apply_spectral_norm(nn.Sequential(nn.BatchNorm1d(3)))  # a weight, but not one of a linear map


def test_spectral_norm_twice_normalizes_once():
    critic = MLPCritic((2,), hidden_dims=(8,), spectral_norm=True)
    keys = set(critic.state_dict())
    assert apply_spectral_norm(critic) is critic and set(critic.state_dict()) == keys


def test_a_normalized_critic_loads_with_weights_only_and_deep_copies():
    critic = critics()["resnet"].train()
    critic(torch.randn(2, 3, 32, 32))  # move u and v away from their initial values
    state = critic.state_dict()
    assert any(k.endswith("parametrizations.weight.original") for k in state)
    assert any(k.endswith("._u") for k in state) and any(k.endswith("._v") for k in state)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    fresh = ResNetCritic((3, 32, 32), channels=16)
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    x = torch.randn(3, 3, 32, 32)
    critic.eval(), fresh.eval()
    assert torch.equal(critic(x), fresh(x))

    clone = copy.deepcopy(critic)
    assert torch.equal(clone(x), critic(x))
    clone.train()(x)  # the copy's power iteration leaves the original's buffers alone
    for key, value in critic.state_dict().items():
        assert clone.state_dict()[key].data_ptr() != value.data_ptr(), key
    assert not all(torch.equal(clone.state_dict()[k], v) for k, v in critic.state_dict().items() if k.endswith("._u"))


def test_gradient_penalty_flows_through_a_normalized_critic():
    critic = critics()["resnet"].train()
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    grad.flatten(1).norm(dim=1).sub(1).square().mean().backward()  # double backward, as WGAN-GP's
    weights = [p for name, p in critic.named_parameters() if name.endswith("parametrizations.weight.original")]
    assert weights and all(p.grad is not None and torch.isfinite(p.grad).all() for p in weights)
