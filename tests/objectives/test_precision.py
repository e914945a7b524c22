"""bf16-mixed on the CPU: every family trains, the gradient penalty included; losses stay float32.
The true precisions train image data too (its images come as float32 from uint8)."""

import math
from functools import partial

import pytest
import torch

from lit_gan import FGAN, GAN, WGAN, WGANGP
from lit_gan.data import DigitsDataModule
from lit_gan.networks import DCGANCritic, DCGANGenerator
from lit_gan.objectives.losses import gradient_penalty
from tests.conftest import cpu_trainer


@pytest.mark.parametrize("family", [GAN, WGAN, WGANGP, partial(FGAN, divergence="pearson")], ids=["gan", "wgan", "wgan_gp", "fgan"])
def test_bf16_mixed_trains_every_family(tmp_path, family):
    torch.manual_seed(0)
    model = family(generator=partial(DCGANGenerator, base_channels=8), critic=partial(DCGANCritic, base_channels=8),
                   latent_dim=8, img_shape=(1, 8, 8), n_critic=2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = cpu_trainer(tmp_path, max_steps=3, precision="bf16-mixed")
    trainer.fit(model, DigitsDataModule(batch_size=16))
    metrics = trainer.callback_metrics
    assert all(torch.isfinite(metrics[k]) for k in ("train/d_loss", "train/g_loss"))
    assert metrics["train/d_loss"].dtype == torch.float32
    assert all(v.dtype == torch.float32 for v in model.state_dict().values() if v.is_floating_point())
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items() if k.startswith("generator"))
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items() if k.startswith("critic"))


def test_gradient_penalty_under_autocast_matches_float32():
    torch.manual_seed(0)
    critic = DCGANCritic((1, 8, 8), base_channels=8, norm="layer")
    real, fake = torch.randn(16, 1, 8, 8), torch.randn(16, 1, 8, 8)
    torch.manual_seed(1)
    exact, exact_norm = gradient_penalty(critic, real, fake)
    torch.manual_seed(1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed, mixed_norm = gradient_penalty(critic, real, fake)
    assert mixed_norm.dtype == torch.float32  # the norm is taken on the float32 input's gradient
    assert mixed_norm.item() == pytest.approx(exact_norm.item(), rel=0.03)
    assert mixed.float().item() == pytest.approx(exact.item(), rel=0.05, abs=1e-3)
    mixed.backward()
    assert all(torch.isfinite(p.grad).all() for n, p in critic.named_parameters() if p.grad is not None)


@pytest.mark.parametrize("precision,dtype", [("bf16-true", torch.bfloat16), ("64-true", torch.float64)])
def test_true_precisions_train_on_images(tmp_path, precision, dtype):
    torch.manual_seed(0)
    model = WGANGP(generator=partial(DCGANGenerator, base_channels=8), critic=partial(DCGANCritic, base_channels=8, norm="layer"),
                   latent_dim=8, img_shape=(1, 8, 8), n_critic=2)
    trainer = cpu_trainer(tmp_path, max_steps=2, precision=precision, limit_val_batches=1)
    data = DigitsDataModule(batch_size=16)
    trainer.fit(model, data)
    assert all(v.dtype == dtype for v in model.state_dict().values() if v.is_floating_point())
    assert torch.isfinite(trainer.callback_metrics["train/d_loss"])
    assert math.isfinite(trainer.validate(model, data, verbose=False)[0]["val/wasserstein"])
