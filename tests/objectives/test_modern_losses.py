"""The hinge, least squares and relativistic pairing losses against hand computations, their
distance estimates at the optimal critic, and R1/R2 against an independent per-sample autograd."""

import math

import pytest
import torch
from torch import nn

from lit_gan import LSGAN, Hinge, RpGAN
from lit_gan.objectives import losses
from lit_gan.objectives.penalties import r1_r2
from tests.conftest import tiny_networks

REAL = torch.tensor([2.0, 0.5, -1.0])
FAKE = torch.tensor([-3.0, 0.0, 1.5])


def test_hinge_losses_by_hand():
    # relu(1 - [2, .5, -1]) = [0, .5, 2] -> 2.5 / 3; relu(1 + [-3, 0, 1.5]) = [0, 1, 2.5] -> 3.5 / 3
    assert losses.hinge_critic_loss(REAL, FAKE).item() == pytest.approx(2.5 / 3 + 3.5 / 3)
    assert losses.hinge_generator_loss(FAKE).item() == pytest.approx(-(-3.0 + 0.0 + 1.5) / 3)


def test_hinge_estimate_is_the_total_variation_at_the_optimal_critic():
    # two discrete distributions on 3 points; D* = sign(pi - p), the losses as expectations (weights)
    pi, p = torch.tensor([0.5, 0.3, 0.2]), torch.tensor([0.1, 0.3, 0.6])
    d = torch.sign(pi - p)
    risk = (pi * torch.relu(1 - d)).sum() + (p * torch.relu(1 + d)).sum()
    tv = 0.5 * (pi - p).abs().sum()
    assert (1 - risk / 2).item() == pytest.approx(tv.item())
    # through the estimate, with samples drawn in those proportions (10 draws each)
    real = torch.repeat_interleave(d, (pi * 10).long())
    fake = torch.repeat_interleave(d, (p * 10).long())
    assert losses.total_variation_estimate(real, fake).item() == pytest.approx(tv.item())


def test_lsgan_losses_by_hand():
    a, b, c = -1.0, 1.0, 0.0
    expected = 0.5 * ((REAL - b) ** 2).mean() + 0.5 * ((FAKE - a) ** 2).mean()
    assert losses.lsgan_critic_loss(REAL, FAKE, a, b).item() == pytest.approx(expected.item())
    assert losses.lsgan_generator_loss(FAKE, c).item() == pytest.approx((0.5 * FAKE**2).mean().item())


def test_lsgan_estimate_is_half_the_triangular_discrimination_at_the_optimal_critic():
    pi, p, a, b = torch.tensor([0.5, 0.3, 0.2]), torch.tensor([0.1, 0.3, 0.6]), 0.0, 1.0
    d = (b * pi + a * p) / (pi + p)  # D*
    risk = 0.5 * (pi * (d - b) ** 2).sum() + 0.5 * (p * (d - a) ** 2).sum()
    assert (1 - 4 * risk / (b - a) ** 2).item() == pytest.approx((0.5 * ((pi - p) ** 2 / (pi + p)).sum()).item())
    assert losses.triangular_estimate(torch.ones(4), torch.zeros(4), a, b).item() == pytest.approx(1.0)  # disjoint
    assert losses.triangular_estimate(torch.full((4,), 0.5), torch.full((4,), 0.5), a, b).item() == pytest.approx(0.0)


def test_rpgan_losses_pair_rows_by_hand():
    softplus = lambda t: math.log1p(math.exp(t))  # noqa: E731
    d = [softplus(f - r) for r, f in zip(REAL.tolist(), FAKE.tolist())]
    g = [softplus(r - f) for r, f in zip(REAL.tolist(), FAKE.tolist())]
    assert losses.rpgan_critic_loss(REAL, FAKE).item() == pytest.approx(sum(d) / 3)
    assert losses.rpgan_generator_loss(FAKE, REAL).item() == pytest.approx(sum(g) / 3)
    # pairing matters: the loss of the rows as given differs from that of shuffled rows
    assert losses.rpgan_critic_loss(REAL, FAKE.flip(0)).item() != pytest.approx(sum(d) / 3)
    assert losses.relativistic_margin(REAL, FAKE).item() == pytest.approx((REAL - FAKE).mean().item())


def test_r1_and_r2_match_a_per_sample_autograd_computation():
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1), nn.Flatten(0))
    real, fake = torch.randn(5, 2), torch.randn(5, 2)

    def expected(x):  # mean over samples of ||grad_x D(x_i)||^2, one sample at a time
        norms = []
        for row in x:
            row = row.clone().requires_grad_(True)
            (g,) = torch.autograd.grad(critic(row[None]).sum(), row)
            norms.append(g.pow(2).sum())
        return torch.stack(norms).mean()

    penalty, logs = r1_r2(critic, critic, real, fake, r1_gamma=0.4, r2_gamma=3.0)
    assert logs["r1"].item() == pytest.approx(expected(real).item(), rel=1e-6)
    assert logs["r2"].item() == pytest.approx(expected(fake).item(), rel=1e-6)
    assert penalty.item() == pytest.approx(0.2 * expected(real).item() + 1.5 * expected(fake).item(), rel=1e-6)
    penalty.backward()  # differentiable w.r.t. the critic's parameters, out of place for the inputs
    assert critic[0].weight.grad is not None and real.grad is None
    none, nothing = r1_r2(critic, critic, real, fake, 0.0, 0.0)
    assert none.item() == 0 and nothing == {}


@pytest.mark.parametrize("family", [Hinge, LSGAN, RpGAN])
def test_the_families_use_their_losses(family):
    model = family(**tiny_networks())
    real, fake = torch.randn(6), torch.randn(6)
    assert torch.isfinite(model.critic_loss(real, fake)) and torch.isfinite(model.estimate(real, fake))
    assert torch.isfinite(model.generator_loss(fake, real))


def test_rpgan_reads_the_paired_real_scores_and_lsgan_refuses_equal_targets():
    assert RpGAN.pairs_real and not Hinge.pairs_real
    with pytest.raises(ValueError, match="paired real samples"):
        RpGAN(**tiny_networks()).generator_loss(torch.zeros(3))
    with pytest.raises(ValueError, match="`a` and `b` to differ"):
        LSGAN(a=1.0, b=1.0, **tiny_networks())


@pytest.mark.parametrize("kwargs,message", [
    ({"r1_gamma": -1.0}, "`r1_gamma` to be a finite number >= 0, got -1.0"),
    ({"r2_gamma": float("nan")}, "`r2_gamma` to be a finite number >= 0, got nan"),
    ({"ema_decay": 1.0}, r"`ema_decay` to be in \[0, 1\), got 1.0"),
    ({"ema_decay": -0.1}, r"`ema_decay` to be in \[0, 1\), got -0.1"),
    ({"ema_decay": 0.9, "ema_warmup": -1}, "`ema_warmup` to be an integer >= 0, got -1"),
    ({"ema_decay": 0.9, "ema_warmup": 2.5}, "`ema_warmup` to be an integer >= 0, got 2.5"),  # not rounded down
    ({"ema_warmup": 10}, r"`ema_warmup` \(10\) to come with an `ema_decay`"),
    ({"r1_gamma": float("inf")}, "`r1_gamma` to be a finite number >= 0, got inf"),
    ({"max_consecutive_skips": 0, "r1_gamma": -1.0}, "`max_consecutive_skips` to be an integer >= 1"),  # checked first
])
def test_bad_penalty_and_ema_values_are_refused_naming_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RpGAN(**tiny_networks(), **kwargs)


def test_r1_refuses_a_batch_norm_critic():
    from functools import partial

    from lit_gan.networks import MLPCritic

    with pytest.raises(ValueError, match="no BatchNorm with `r1_gamma` or `r2_gamma` > 0"):
        RpGAN(**{**tiny_networks(), "critic": partial(MLPCritic, hidden_dims=(8,), norm="batch")}, r1_gamma=1.0)


def test_lsgan_refuses_targets_that_are_not_finite():
    with pytest.raises(ValueError, match="`c` to be a finite number, got nan"):
        LSGAN(c=float("nan"), **tiny_networks())


def test_weight_clipping_refuses_a_spectrally_normalized_critic():
    from functools import partial

    from lit_gan import WGAN
    from lit_gan.networks import MLPCritic

    with pytest.raises(ValueError, match="no `spectral_norm` with weight clipping"):
        WGAN(**{**tiny_networks(), "critic": partial(MLPCritic, hidden_dims=(8,), spectral_norm=True)})
