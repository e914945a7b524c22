"""The Fréchet distance: closed forms for known Gaussians, scipy's sqrtm formula, torchmetrics' FID."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from torchmetrics.image.fid import FrechetInceptionDistance, _compute_fid

from lit_gan.metrics import FrechetDistance, PrecomputedFeatures, frechet_distance, trace_sqrt_product


def spd(d: int, seed: int, n: int = None) -> torch.Tensor:
    """The covariance of n (default 2d) correlated random vectors, float64 (d, d)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n or 2 * d, d, generator=g, dtype=torch.float64) @ torch.randn(d, d, generator=g, dtype=torch.float64)
    return torch.from_numpy(np.cov(x.numpy(), rowvar=False))


def scipy_frechet(mu1, sigma1, mu2, sigma2) -> float:
    """pytorch-fid's formula: tr sqrtm(S1 S2) with scipy."""
    mu1, sigma1, mu2, sigma2 = (t.numpy() for t in (mu1, sigma1, mu2, sigma2))
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    covmean = covmean.real if np.iscomplexobj(covmean) else covmean
    return float((mu1 - mu2) @ (mu1 - mu2) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def random_orthogonal(d: int, seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return q


def test_one_dimension_is_the_difference_of_means_and_standard_deviations():
    # W2^2(N(m1, s1^2), N(m2, s2^2)) = (m1 - m2)^2 + (s1 - s2)^2
    d2 = frechet_distance(torch.tensor([1.5]), torch.tensor([[4.0]]), torch.tensor([-0.5]), torch.tensor([[0.25]]))
    assert d2.dtype == torch.float64
    assert d2.item() == pytest.approx(2.0**2 + (2.0 - 0.5) ** 2, rel=1e-12)


def test_commuting_covariances_match_the_closed_form():
    # S1 = Q diag(a) Q^T, S2 = Q diag(b) Q^T: d^2 = |mu1 - mu2|^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2
    d = 64
    g = torch.Generator().manual_seed(1)
    a, b = torch.rand(d, generator=g, dtype=torch.float64) + 0.1, 3 * torch.rand(d, generator=g, dtype=torch.float64)
    q = random_orthogonal(d, 2)
    mu1, mu2 = torch.randn(d, generator=g, dtype=torch.float64), torch.randn(d, generator=g, dtype=torch.float64)
    expected = (mu1 - mu2).square().sum() + (a.sqrt() - b.sqrt()).square().sum()
    got = frechet_distance(mu1, q @ torch.diag(a) @ q.T, mu2, q @ torch.diag(b) @ q.T)
    assert got.item() == pytest.approx(expected.item(), rel=1e-10)


def test_scaled_covariance_matches_the_closed_form():
    # S2 = c^2 S1: tr((S1^1/2 S2 S1^1/2)^1/2) = c tr(S1), so d^2 = (1 - c)^2 tr(S1)
    sigma = spd(128, seed=3)
    mu = torch.zeros(128, dtype=torch.float64)
    got = frechet_distance(mu, sigma, mu, 9.0 * sigma)
    assert got.item() == pytest.approx(4.0 * sigma.trace().item(), rel=1e-10)


@pytest.mark.parametrize("d", [2, 17, 256])
def test_agrees_with_scipy_sqrtm_on_non_commuting_covariances(d):
    sigma1, sigma2 = spd(d, seed=4), spd(d, seed=5)
    g = torch.Generator().manual_seed(6)
    mu1, mu2 = torch.randn(d, generator=g, dtype=torch.float64), torch.randn(d, generator=g, dtype=torch.float64)
    expected = scipy_frechet(mu1, sigma1, mu2, sigma2)
    assert frechet_distance(mu1, sigma1, mu2, sigma2).item() == pytest.approx(expected, rel=1e-9)
    # and with torchmetrics 1.9's eigvals(S1 @ S2)
    assert _compute_fid(mu1, sigma1, mu2, sigma2).item() == pytest.approx(expected, rel=1e-9)


def test_singular_covariances_take_the_eigh_factor_and_stay_exact():
    # fewer samples than dimensions: S1 = F F^T has rank 19, Cholesky fails, the eigh factor is used
    d, n = 96, 20
    g = torch.Generator().manual_seed(7)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    factor = (x - x.mean(0)).T / (n - 1) ** 0.5  # (d, n): S1 = factor @ factor.T exactly
    sigma1, sigma2 = factor @ factor.T, spd(d, seed=8)
    assert torch.linalg.cholesky_ex(sigma1).info > 0
    # reference without round-off in the null space: the singular values of C^T F, S2 = C C^T
    expected = torch.linalg.svdvals(torch.linalg.cholesky(sigma2).T @ factor).sum()
    assert trace_sqrt_product(sigma1, sigma2).item() == pytest.approx(expected.item(), rel=1e-10)
    # the distance of a singular Gaussian to itself is 0, to round-off
    mu = torch.zeros(d, dtype=torch.float64)
    assert abs(frechet_distance(mu, sigma1, mu, sigma1).item()) < 1e-8 * sigma1.trace().item()


def test_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="Expected means of shape"):
        frechet_distance(torch.zeros(3), torch.eye(3), torch.zeros(4), torch.eye(4))
    with pytest.raises(ValueError, match="Expected argument `sigma1`"):
        frechet_distance(torch.zeros(3), torch.zeros(3), torch.zeros(3), torch.eye(3))


def test_metric_accumulates_like_torchmetrics_and_keeps_real_features():
    d = 32
    g = torch.Generator().manual_seed(9)
    real = torch.randn(300, d, generator=g) @ torch.randn(d, d, generator=g)
    fake = 0.5 + torch.randn(200, d, generator=g) @ torch.randn(d, d, generator=g)
    ours = FrechetDistance(PrecomputedFeatures(d), reset_real_features=False)
    theirs = FrechetInceptionDistance(PrecomputedFeatures(d))
    for metric in (ours, theirs):
        for chunk in real.split(64):
            metric.update(chunk, real=True)
        for chunk in fake.split(64):
            metric.update(chunk, real=False)
    value = ours.compute()
    assert value.dtype == torch.float64
    expected = scipy_frechet(
        torch.from_numpy(real.double().numpy().mean(0)), torch.from_numpy(np.cov(real.double().numpy(), rowvar=False)),
        torch.from_numpy(fake.double().numpy().mean(0)), torch.from_numpy(np.cov(fake.double().numpy(), rowvar=False)),
    )
    assert value.item() == pytest.approx(expected, rel=1e-9)
    assert value.item() == pytest.approx(theirs.compute().item(), rel=1e-5)  # theirs returns float32
    # reset keeps the real statistics: the same fake features give the same value again
    ours.reset()
    assert int(ours.real_features_num_samples) == 300 and int(ours.fake_features_num_samples) == 0
    ours.update(fake, real=False)
    assert ours.compute().item() == pytest.approx(value.item(), rel=1e-12)
    assert not math.isclose(value.item(), 0.0)


def test_triangular_products_on_the_cpu_equal_the_general_ones():
    from lit_gan.metrics.frechet import _congruence

    sigma1, sigma2 = spd(64, seed=10), spd(64, seed=11)
    sigma2 = (sigma2 + sigma2.T) / 2
    lower = torch.linalg.cholesky(sigma1)
    expected = lower.T @ sigma2 @ lower
    tolerance = dict(rtol=1e-12, atol=1e-12 * expected.abs().max().item())
    row_major, column_major = lower.contiguous(), lower.mT.contiguous().mT  # both layouts go to BLAS without copies
    assert row_major.is_contiguous() and not column_major.is_contiguous()
    for factor in (row_major, column_major):
        torch.testing.assert_close(_congruence(factor, True, sigma2), expected, **tolerance)
        torch.testing.assert_close(_congruence(factor, True, sigma2.mT.contiguous().mT), expected, **tolerance)
    torch.testing.assert_close(_congruence(lower, False, sigma2), expected, **tolerance)  # the general products
