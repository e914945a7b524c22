"""Packing (PacGAN): a critic scores packs of m samples; shapes, which samples a pack holds, the
penalties' norms per pack, every family through a short fit, spectral norm, DiffAugment, exact
resume, DDP, and the refusals."""

from functools import partial

import pytest
import torch
from lightning.pytorch import seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn

from lit_gan import FGAN, GAN, LSGAN, WGAN, WGANGP, Hinge, RpGAN
from lit_gan.data import RingOfGaussians, StackedMNIST
from lit_gan.errors import ConfigError
from lit_gan.networks import (DCGANCritic, DCGANGenerator, DiffAugment, LabelConcat, MLPCritic, MLPGenerator, Packed,
                              Projection)
from lit_gan.networks.packing import pack_samples, pack_size
from lit_gan.networks.spectral import is_spectrally_normalized
from lit_gan.objectives import losses
from tests.conftest import cpu_trainer


class LinearScore(nn.Module):
    """f(v) = <w, v>: its input gradient is w, whatever v is."""

    def __init__(self, img_shape, weights) -> None:
        super().__init__()
        self.register_buffer("w", torch.as_tensor(weights, dtype=torch.float32))
        assert self.w.numel() == torch.Size(img_shape).numel()

    def forward(self, x):
        return x.flatten(1) @ self.w


def packed_mlp(pack: int = 2, hidden=(16,)):
    return partial(Packed, critic=partial(MLPCritic, hidden_dims=hidden), pack=pack)


def tiny(critic, **kwargs) -> dict:
    generator = partial(MLPGenerator, hidden_dims=(16,))
    return dict(generator=generator, critic=critic, latent_dim=2, img_shape=(2,), **kwargs)


# ----------------------------------------------------------------- shapes and packs
def test_a_pack_of_images_is_its_samples_along_channels_and_one_score():
    critic = Packed((3, 8, 8), partial(DCGANCritic, base_channels=4), pack=3)
    assert critic.critic.net[0].in_channels == 9 and pack_size(critic) == 3
    x = torch.randn(12, 3, 8, 8)
    assert critic(x).shape == (4,)
    packs = pack_samples(x, 3)  # (4, 9, 8, 8): pack j holds samples j, j + 4, j + 8, one after the other
    assert packs.shape == (4, 9, 8, 8)
    for j in range(4):
        assert torch.equal(packs[j], torch.cat([x[j], x[j + 4], x[j + 8]]))
    assert torch.equal(critic(x), critic.critic(packs))


def test_every_pack_holds_distinct_samples_and_every_sample_is_in_one():
    b, pack = 24, 4
    ids = torch.arange(b, dtype=torch.float32)[:, None]  # (B, 1): sample i is the number i
    packs = pack_samples(ids, pack)  # (6, 4)
    assert packs.shape == (6, 4)
    assert all(len(set(p.tolist())) == pack for p in packs)
    assert sorted(packs.flatten().tolist()) == list(range(b))


def test_a_packed_mlp_reads_m_times_the_features():
    critic = Packed((2,), partial(MLPCritic, hidden_dims=(8,)), pack=4)
    assert critic.critic.net[1].in_features == 8
    assert critic(torch.randn(16, 2)).shape == (4,)
    assert Packed((2,), partial(MLPCritic, hidden_dims=(8,)), pack=1)(torch.randn(5, 2)).shape == (5,)


def test_in_eval_mode_a_batch_that_does_not_fill_its_packs_is_completed_in_training_refused():
    critic = Packed((2,), partial(LinearScore, weights=[1.0, 0.0, 10.0, 0.0]), pack=2)
    x = torch.tensor([[1.0, 0], [2, 0], [3, 0]])  # 3 samples: packs (0, 2) and (1, 0): the first one again
    assert torch.equal(critic.eval()(x), torch.tensor([1 + 30.0, 2 + 10.0]))
    with pytest.raises(ConfigError, match=r"`pack` \(2\) to divide the batch the critic scores, got 3 samples"):
        critic.train()(x)


# ----------------------------------------------------------------- penalties per pack
@pytest.mark.parametrize("pack", [1, 2, 3])
def test_the_gradient_penalty_and_r1_take_one_norm_per_pack(pack):
    """A linear critic <w, v> on packs of m samples of 2 features: each pack's input gradient is w,
    whose norm is the pack's; a per-sample norm would be that of w's part for one sample."""
    w = torch.arange(1.0, 2 * pack + 1)  # (1, 2, ..., 2m)
    critic = Packed((2,), partial(LinearScore, weights=w), pack=pack)
    real, fake = torch.randn(6, 2), torch.randn(6, 2)
    penalty, norm = losses.gradient_penalty(critic, real, fake)
    assert norm == pytest.approx(w.norm().item())  # ||w||, per pack: sqrt(5) for m 1, sqrt(30) for 2, sqrt(91) for 3
    assert penalty.item() == pytest.approx((w.norm().item() - 1) ** 2, rel=1e-6)
    r1, r1_norm = losses.zero_centered_gradient_penalty(critic, real)
    assert r1.item() == pytest.approx(w.pow(2).sum().item()) and r1_norm == pytest.approx(w.norm().item())


def test_the_penalty_norm_of_a_nonlinear_packed_critic_is_that_of_its_packed_input():
    torch.manual_seed(0)
    critic = Packed((3, 8, 8), partial(DCGANCritic, base_channels=4, norm="none"), pack=2)
    x = torch.randn(8, 3, 8, 8)
    _, norm = losses.zero_centered_gradient_penalty(critic, x)
    packs = pack_samples(x, 2).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic.critic(packs).sum(), packs)
    assert norm.item() == pytest.approx(grad.flatten(1).norm(dim=1).mean().item(), rel=1e-5)


def test_the_diagnostics_take_norms_per_pack_and_the_landscape_of_points_switches_off():
    from lit_gan.callbacks import CriticLandscape
    from lit_gan.callbacks.gradient_diagnostics import input_gradient_norm

    w = torch.arange(1.0, 5.0)
    critic = Packed((2,), partial(LinearScore, weights=w), pack=2)
    assert input_gradient_norm(critic, torch.randn(6, 2)).item() == pytest.approx(w.norm().item())  # not per sample
    model = WGANGP(**tiny(packed_mlp()))
    assert "packed critic" in CriticLandscape().check(model)
    assert CriticLandscape().check(WGANGP(**tiny(MLPCritic))) == ""


# ----------------------------------------------------------------- every family, briefly
FAMILIES = {
    "gan": partial(GAN, generator_loss="non_saturating"),
    "wgan": WGAN,
    "wgan_gp": WGANGP,
    "fgan_gp": partial(FGAN, divergence="kl", gp_lambda=1.0),
    "hinge": Hinge,
    "lsgan": LSGAN,
    "rpgan_r1_r2": partial(RpGAN, r1_gamma=1.0, r2_gamma=1.0),
}


class RecordInputs(nn.Module):
    """The inner critic, recording the shapes it is given."""

    def __init__(self, img_shape) -> None:
        super().__init__()
        self.critic, self.shapes = MLPCritic(img_shape, hidden_dims=(16,)), []

    def forward(self, x):
        self.shapes.append(tuple(x.shape))
        return self.critic(x)


@pytest.mark.parametrize("family", FAMILIES.values(), ids=FAMILIES.keys())
def test_every_family_trains_on_packs_one_score_each(tmp_path, family):
    model = family(n_critic=2, **tiny(partial(Packed, critic=RecordInputs, pack=4)))
    trainer = cpu_trainer(tmp_path, fast_dev_run=2)
    trainer.fit(model, RingOfGaussians(batch_size=8, n_train=64, n_val=8))
    assert trainer.global_step == 2
    shapes = set(model.critic.critic.shapes)
    assert shapes == {(2, 8)}  # 8 samples of 2 features -> 2 packs of 4 x 2: one score a pack
    assert all(torch.isfinite(p).all() for p in model.critic.parameters())


def test_spectral_norm_and_diffaugment_around_a_packed_dcgan_critic_on_stacked_digits(tmp_path, mnist_root):
    """DiffAugment augments each sample, then Packed packs them; the inner critic is spectrally normalized."""
    critic = partial(DiffAugment, critic=partial(Packed, pack=2, critic=partial(
        DCGANCritic, base_channels=4, norm="none", spectral_norm=True)))
    model = Hinge(generator=partial(DCGANGenerator, base_channels=4), critic=critic, latent_dim=4, img_shape=(3, 8, 8))
    assert is_spectrally_normalized(model.critic) and model.critic.critic.critic.net[0].in_channels == 6
    data = StackedMNIST(source="mnist", root=str(mnist_root), download=False, image_size=8, batch_size=8, n_train=32,
                        n_val=8)
    trainer = cpu_trainer(tmp_path, fast_dev_run=2)
    trainer.fit(model, data)
    assert trainer.global_step == 2
    with pytest.raises(ValueError, match="clip"):  # WGAN's clipping refuses a spectrally normalized critic, packed too
        WGAN(**tiny(partial(Packed, critic=partial(MLPCritic, hidden_dims=(8,), spectral_norm=True))))


def test_a_resumed_packed_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path, mnist_root):
    """Stacked digits (their order resumable as every image module's), a packed critic, a gradient penalty."""
    def model():
        return WGANGP(n_critic=2, generator=partial(MLPGenerator, hidden_dims=(16,)),
                      critic=partial(Packed, pack=2, critic=partial(MLPCritic, hidden_dims=(16,))),
                      latent_dim=2, img_shape=(3, 8, 8))

    def data():
        return StackedMNIST(source="mnist", root=str(mnist_root), download=False, image_size=8, batch_size=4,
                            n_train=32)

    seed_everything(0)
    uninterrupted = model()
    cpu_trainer(tmp_path / "a", max_steps=6).fit(uninterrupted, data())  # 4 steps an epoch: resumed mid-epoch 2
    seed_everything(0)
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=5, save_top_k=-1)
    cpu_trainer(tmp_path / "b", max_steps=5, callbacks=[ckpt], enable_checkpointing=True).fit(model(), data())
    seed_everything(123)
    resumed = model()
    cpu_trainer(tmp_path / "c", max_steps=6).fit(resumed, data(), ckpt_path=tmp_path / "ckpt" / "epoch=1-step=5.ckpt")
    for key, value in uninterrupted.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], value), key


# ----------------------------------------------------------------- refusals, one line each
def test_a_pack_below_one_is_refused():
    for pack in (0, -2):
        with pytest.raises(ValueError, match=rf"Expected argument `pack` to be an integer >= 1 .*, got {pack}"):
            Packed((2,), MLPCritic, pack=pack)


def test_a_pack_that_does_not_divide_the_batch_is_refused_at_setup(tmp_path):
    model = WGANGP(**tiny(packed_mlp(pack=3)))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ConfigError, match=r"`pack` \(3\) to divide the batch of 8 samples per process"):
        cpu_trainer(tmp_path, max_steps=1).fit(model, RingOfGaussians(batch_size=8, n_train=64))
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # nothing trained


def test_a_pack_without_drop_last_is_refused_at_setup(tmp_path, mnist_root):
    model = WGANGP(generator=partial(MLPGenerator, hidden_dims=(8,)), critic=packed_mlp(), latent_dim=2,
                   img_shape=(3, 8, 8))
    data = StackedMNIST(source="mnist", root=str(mnist_root), download=False, image_size=8, batch_size=4, n_train=30,
                        drop_last=False)
    with pytest.raises(ConfigError, match=r"`pack` \(2\) to come with `drop_last: true`"):
        cpu_trainer(tmp_path, max_steps=1).fit(model, data)


def test_packing_a_conditional_model_is_refused():
    with pytest.raises(ConfigError, match=r"`Packed` \(`pack` 2\) is for unconditional models.*`num_classes` 8"):
        WGANGP(num_classes=8, generator=partial(LabelConcat, generator=partial(MLPGenerator, hidden_dims=(8,))),
               critic=packed_mlp(), latent_dim=2, img_shape=(2,))
    with pytest.raises(ValueError, match="`features` and `score` methods for Projection, Packed has not"):
        Projection((2,), packed_mlp(), num_classes=8)


def test_diffaugment_inside_packed_is_refused():
    with pytest.raises(ValueError, match="augment packs, not samples; wrap Packed in DiffAugment instead"):
        Packed((3, 8, 8), partial(DiffAugment, critic=partial(DCGANCritic, base_channels=4)))


@pytest.mark.slow
def test_two_processes_of_batch_b_train_packs_as_one_of_batch_2b(tmp_path):
    """Each rank's packs are packs of the global batch (sample i in pack i mod B / m; rank r holds the
    global positions r, r + W, ...), and the penalty's norm is per pack: the weights agree."""
    from tests.test_ddp import assert_ranks_identical, run_ddp

    mlp = {"class_path": "lit_gan.networks.MLPCritic", "init_args": {"hidden_dims": [32, 32]}}
    model = lambda: {"class_path": "lit_gan.WGANGP", "init_args": {  # noqa: E731
        "gp_lambda": 10.0,
        "critic": {"class_path": "lit_gan.networks.Packed", "init_args": {"pack": 4, "critic": mlp}}}}
    ring = lambda b: {"class_path": "lit_gan.data.RingOfGaussians", "init_args": {"batch_size": b, "n_train": 512}}  # noqa: E731
    (one,) = run_ddp(tmp_path / "one", model(), devices=1, data=ring(16), max_steps=4)
    two = run_ddp(tmp_path / "two", model(), devices=2, data=ring(8), max_steps=4)
    assert_ranks_identical(*two, steps=4, critic_steps=8)
    assert one["state"]["critic.critic.net.1.weight"].shape == (32, 8)  # 4 samples of 2 features a pack
    # sums in another order, which Adam's first steps amplify where a gradient is near 0 (up to 2e-5 here);
    # packs of other samples (consecutive ones) would differ by 1e-3
    for key, value in one["state"].items():
        torch.testing.assert_close(two[0]["state"][key], value, rtol=1e-5, atol=1e-4, msg=key)
