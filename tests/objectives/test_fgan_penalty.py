"""f-GAN's opt-in gradient penalty on the critic (``gp_lambda``): off by default, WGAN-GP's penalty when on."""

from functools import partial

import pytest
import torch

from lit_gan import FGAN
from lit_gan.data import RingOfGaussians
from lit_gan.networks import MLPCritic
from lit_gan.objectives.losses import drift_penalty, gradient_penalty
from tests.conftest import cpu_trainer, tiny_networks


def test_penalty_is_gp_lambda_times_the_gradient_penalty_of_v():
    model = FGAN(**tiny_networks(), divergence="total_variation", gp_lambda=2.5)
    real, fake = torch.randn(16, 2), torch.randn(16, 2)
    torch.manual_seed(0)
    penalty, logs = model.critic_penalty(real, fake)
    torch.manual_seed(0)
    expected, grad_norm = gradient_penalty(model.critic, real, fake, torch.rand(16))  # the same t per sample
    assert penalty.item() == pytest.approx(2.5 * expected.item(), rel=1e-6) and penalty.item() > 0
    assert logs["gradient_penalty"].item() == pytest.approx(expected.item(), rel=1e-6)
    assert logs["grad_norm"].item() == pytest.approx(grad_norm.item(), rel=1e-6)
    penalty.backward()  # it trains the critic
    assert all(p.grad is not None for p in model.critic.parameters() if p.dim() > 1)


def test_off_by_default_draws_nothing_and_adds_nothing():
    model = FGAN(**tiny_networks(), divergence="kl")
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    state = torch.get_rng_state()
    penalty, logs = model.critic_penalty(real, fake)
    assert penalty.item() == 0 and logs == {}
    assert torch.equal(state, torch.get_rng_state())  # no t drawn: runs without the penalty are unchanged


def test_bad_values_and_batch_norm_are_refused():
    with pytest.raises(ValueError, match="gp_lambda"):
        FGAN(**tiny_networks(), gp_lambda=-1.0)
    networks = {**tiny_networks(), "critic": partial(MLPCritic, hidden_dims=(16,), norm="batch")}
    FGAN(**networks)  # BatchNorm is fine without the penalty
    with pytest.raises(ValueError, match="BatchNorm"):
        FGAN(**networks, gp_lambda=1.0)


def test_training_with_the_penalty_logs_it(tmp_path):
    model = FGAN(**tiny_networks(), divergence="total_variation", gp_lambda=1.0)
    trainer = cpu_trainer(tmp_path, max_steps=3)
    trainer.fit(model, RingOfGaussians(batch_size=32, n_train=256, n_val=64))
    assert trainer.global_step == 3
    metrics = trainer.callback_metrics
    assert metrics["train/gradient_penalty"] >= 0 and metrics["train/grad_norm"] > 0


def test_drift_penalty_is_the_mean_square_of_both_batches_of_scores():
    real, fake = torch.tensor([1.0, -3.0]), torch.tensor([2.0, 0.0, 4.0])
    assert drift_penalty(real, fake).item() == pytest.approx((1 + 9) / 2 + (4 + 0 + 16) / 3)


def test_drift_lambda_adds_the_drift_penalty_to_the_critic_loss_only():
    real, fake = torch.randn(8), torch.randn(8)
    plain = FGAN(**tiny_networks(), divergence="total_variation")
    drift = FGAN(**tiny_networks(), divergence="total_variation", drift_lambda=0.5)
    expected = plain.critic_loss(real, fake) + 0.5 * drift_penalty(real, fake)
    assert drift.critic_loss(real, fake).item() == pytest.approx(expected.item(), rel=1e-6)
    assert torch.equal(drift.generator_loss(fake), plain.generator_loss(fake))
    with pytest.raises(ValueError, match="drift_lambda"):
        FGAN(**tiny_networks(), drift_lambda=-0.1)


def test_drift_penalty_pulls_saturated_scores_back_where_tanh_has_a_gradient():
    # total variation's T = tanh(v) / 2: at v = -11 on both batches the bound is flat (no gradient) ...
    v = torch.full((4,), -11.0, requires_grad=True)
    plain = FGAN(**tiny_networks(), divergence="total_variation")
    (grad,) = torch.autograd.grad(plain.critic_loss(v, v), v)
    assert grad.abs().max() < 1e-8
    # ... the drift term's gradient points back to 0
    drift = FGAN(**tiny_networks(), divergence="total_variation", drift_lambda=0.1)
    (grad,) = torch.autograd.grad(drift.critic_loss(v, v), v)
    assert (grad < -0.1).all()  # descending the loss raises v towards 0
