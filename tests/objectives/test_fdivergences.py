"""f-GAN's table: f* is the Fenchel conjugate of f, g_f maps into dom f*, and the stable
composition f*(g_f(v)) agrees with composing the two columns."""

import math

import pytest
import torch

from lit_gan.objectives.fdivergences import DIVERGENCES, variational_bound

NAMES = sorted(DIVERGENCES)


def _t_grid(name: str, dom: tuple[float, float]) -> torch.Tensor:
    # Pearson: f is taken on u > 0, where sup_u ut - (u - 1)^2 = t^2/4 + t needs the maximizer
    # u = 1 + t/2 > 0, i.e. t > -2; the paper's table extends f to all of R.
    lo, hi = max(dom[0], -1.9 if name == "pearson" else -3.0), min(dom[1], 3.0)
    margin = 0.05 * (hi - lo)
    closed = math.isfinite(dom[0]) and dom == (-0.5, 0.5)  # total variation: dom f* is closed
    return torch.linspace(lo + (0 if closed else margin), hi - (0 if closed else margin), 41, dtype=torch.float64)


@pytest.mark.parametrize("name", NAMES)
def test_conjugate_is_the_supremum_over_u(name):
    div = DIVERGENCES[name]
    # u > 0 on a fine log grid wide enough for every t on the grid: the maximizer is f'^{-1}(t)
    u = torch.logspace(-8, 3, 400_001, dtype=torch.float64)
    fu = div.f(u)
    for t in _t_grid(name, div.dom):
        sup = torch.max(u * t - fu).item()
        assert div.conj(t).item() == pytest.approx(sup, abs=2e-4, rel=1e-4), f"{name}: f*({t.item():.3f})"


@pytest.mark.parametrize("name", NAMES)
def test_f_is_a_generator_function(name):
    div = DIVERGENCES[name]
    # f(1) = 0, except GAN's f, whose divergence is 2 JSD - log 4 (Nowozin et al. 2016, Table 1)
    expected = -math.log(4) if name == "gan" else 0.0
    assert div.f(torch.tensor(1.0, dtype=torch.float64)).item() == pytest.approx(expected, abs=1e-12)
    u = torch.linspace(0.1, 5, 50, dtype=torch.float64)
    second_difference = div.f(u[:-2]) - 2 * div.f(u[1:-1]) + div.f(u[2:])
    assert (second_difference >= -1e-12).all()  # convex


@pytest.mark.parametrize("name", NAMES)
def test_activation_maps_into_the_domain_of_the_conjugate(name):
    div = DIVERGENCES[name]
    v = torch.linspace(-30, 30, 2001, dtype=torch.float64)
    t = div.act(v)
    lo, hi = div.dom
    closed = name == "total_variation"
    assert ((t >= lo) & (t <= hi)).all() if closed else ((t > lo) & (t < hi)).all()
    assert torch.isfinite(div.conj(div.act(torch.linspace(-5, 5, 101)))).all()


@pytest.mark.parametrize("name", NAMES)
def test_stable_composition_matches_the_table(name):
    div = DIVERGENCES[name]
    v = torch.linspace(-5, 5, 101, dtype=torch.float64)
    assert torch.allclose(div.conj_of_act(v), div.conj(div.act(v)), rtol=1e-9, atol=1e-9)
    # far out in float32, where composing the columns loses every digit (GAN: 1 - exp(T), T -> 0-),
    # the stable form still agrees with float64
    v32 = torch.tensor([-40.0, -20.0, 20.0, 40.0], dtype=torch.float32)
    stable = div.conj_of_act(v32)
    assert torch.isfinite(stable).all()
    assert torch.allclose(stable.double(), div.conj_of_act(v32.double()), rtol=1e-5, atol=1e-6)


def test_variational_bound_is_tight_at_the_optimal_critic():
    # pi = N(1, 1), p = N(0, 1): KL(pi || p) = 1/2, and T*(x) = f'(pi/p) = 1 + log(pi(x)/p(x)) = 1 + x - 1/2
    torch.manual_seed(0)
    real, fake = 1 + torch.randn(400_000), torch.randn(400_000)
    t_star = lambda x: 1 + x - 0.5  # noqa: E731 ; KL's activation is the identity, so V = T
    bound = variational_bound(DIVERGENCES["kl"], t_star(real), t_star(fake))
    assert bound.item() == pytest.approx(0.5, abs=0.01)
    # and a worse critic gives a lower bound
    assert variational_bound(DIVERGENCES["kl"], 0.5 * t_star(real), 0.5 * t_star(fake)).item() < bound.item()


def test_jensen_shannon_row_estimates_twice_the_jsd():
    # The table's f for Jensen-Shannon gives D_f = KL(pi || m) + KL(p || m), m = (pi + p) / 2: twice the
    # JSD, not the 1/2 (...) printed beside it (Nowozin et al. 2016, Table 1; the lecture). At the optimal
    # critic V* = log(pi / p) (g_f(V*) = f'(pi / p) = log(2 pi / (pi + p))) the bound reaches 2 JSD.
    div = DIVERGENCES["jensen_shannon"]
    pi = torch.tensor([0.5, 0.3, 0.15, 0.05], dtype=torch.float64)
    p = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    m = (pi + p) / 2
    jsd = 0.5 * (pi * (pi / m).log()).sum() + 0.5 * (p * (p / m).log()).sum()
    d_f = (p * div.f(pi / p)).sum()
    assert d_f.item() == pytest.approx(2 * jsd.item(), rel=1e-12)
    v_star = (pi / p).log()
    assert torch.allclose(div.act(v_star), (2 * pi / (pi + p)).log(), rtol=1e-12)
    bound = (pi * div.act(v_star)).sum() - (p * div.conj_of_act(v_star)).sum()
    assert bound.item() == pytest.approx(2 * jsd.item(), rel=1e-12)
