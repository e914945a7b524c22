"""Each loss against a hand computation on small tensors."""

import math

import pytest
import torch

from lit_gan.objectives import losses

REAL = torch.tensor([2.0, -1.0, 0.5])
FAKE = torch.tensor([-3.0, 0.0, 1.0])


def sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_gan_value_and_discriminator_loss():
    # V = mean log D(x) + mean log(1 - D(G(z))), D = sigmoid(logit)
    v = sum(math.log(sig(r)) for r in REAL.tolist()) / 3 + sum(math.log(1 - sig(f)) for f in FAKE.tolist()) / 3
    assert losses.gan_value(REAL, FAKE).item() == pytest.approx(v, rel=1e-6)
    assert losses.gan_discriminator_loss(REAL, FAKE).item() == pytest.approx(-v, rel=1e-6)


def test_gan_generator_losses():
    minimax = sum(math.log(1 - sig(f)) for f in FAKE.tolist()) / 3
    non_saturating = -sum(math.log(sig(f)) for f in FAKE.tolist()) / 3
    assert losses.gan_generator_loss_minimax(FAKE).item() == pytest.approx(minimax, rel=1e-6)
    assert losses.gan_generator_loss_non_saturating(FAKE).item() == pytest.approx(non_saturating, rel=1e-6)


def test_gan_losses_are_stable_for_extreme_logits():
    # log(sigmoid(-200)) underflows to -inf; the softplus form gives -200 exactly
    big = torch.tensor([200.0])
    assert losses.gan_generator_loss_non_saturating(-big).item() == pytest.approx(200.0)
    assert losses.gan_discriminator_loss(-big, big).item() == pytest.approx(400.0)
    assert torch.isfinite(losses.gan_generator_loss_minimax(big))


def test_jsd_estimate_at_optimum_and_disjoint_supports():
    # D* = 1/2 everywhere (pi = p): V = -log 4, JSD = 0
    half = torch.zeros(4)
    assert losses.jsd_estimate(losses.gan_value(half, half)).item() == pytest.approx(0.0, abs=1e-7)
    # perfect discriminator on disjoint supports: V -> 0, JSD -> log 2
    assert losses.jsd_estimate(losses.gan_value(torch.full((4,), 50.0), torch.full((4,), -50.0))).item() == pytest.approx(
        math.log(2), rel=1e-6
    )


def test_wasserstein_losses():
    # mean(REAL) = 0.5, mean(FAKE) = -2/3
    assert losses.wasserstein_estimate(REAL, FAKE).item() == pytest.approx(0.5 + 2 / 3)
    assert losses.wgan_critic_loss(REAL, FAKE).item() == pytest.approx(-2 / 3 - 0.5)
    assert losses.wgan_generator_loss(FAKE).item() == pytest.approx(2 / 3)
