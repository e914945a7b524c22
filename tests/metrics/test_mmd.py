"""CMMD's Gaussian MMD: the reference estimator (google-research cmmd/distance.py) to round-off,
its known bias between two samples of one distribution, its growth with a shift, and the metric."""

import math

import numpy as np
import pytest
import torch

from lit_gan.metrics.mmd import KernelMMD, gaussian_mmd


def reference_mmd(x: torch.Tensor, y: torch.Tensor, sigma: float = 10.0, scale: float = 1000.0) -> float:
    """google-research/google-research cmmd/distance.py ``mmd``, line for line in numpy (float64,
    whole matrices), with ``_SIGMA`` and ``_SCALE`` as arguments."""
    x, y = x.double().numpy(), y.double().numpy()
    x_sqnorms = np.diag(np.matmul(x, x.T))
    y_sqnorms = np.diag(np.matmul(y, y.T))
    gamma = 1 / (2 * sigma**2)
    k_xx = np.mean(np.exp(-gamma * (-2 * np.matmul(x, x.T) + np.expand_dims(x_sqnorms, 1)
                                    + np.expand_dims(x_sqnorms, 0))))
    k_xy = np.mean(np.exp(-gamma * (-2 * np.matmul(x, y.T) + np.expand_dims(x_sqnorms, 1)
                                    + np.expand_dims(y_sqnorms, 0))))
    k_yy = np.mean(np.exp(-gamma * (-2 * np.matmul(y, y.T) + np.expand_dims(y_sqnorms, 1)
                                    + np.expand_dims(y_sqnorms, 0))))
    return float(scale * (k_xx + k_yy - 2 * k_xy))


def unit_embeddings(n: int, d: int, shift: float, rng: torch.Generator) -> torch.Tensor:
    """Unit-length float32 features, as CLIP embeddings are in CMMD."""
    return torch.nn.functional.normalize(torch.randn(n, d, generator=rng) + shift, dim=1)


@pytest.mark.parametrize("block_size", [1000, 64, 7])
def test_equals_the_reference_estimator(block_size):
    rng = torch.Generator().manual_seed(0)
    x, y = 5 * torch.randn(300, 16, generator=rng), 5 * torch.randn(200, 16, generator=rng) + 1  # n != m
    value = gaussian_mmd(x, y, block_size=block_size)
    assert value.dtype == torch.float64 and value.ndim == 0
    assert value.item() == pytest.approx(reference_mmd(x, y), rel=1e-12)  # measured: <= 1e-15
    assert value.item() > 10  # informative: E = 12.1, of which the bias is 8.0 and the shift 4.1
    # CMMD's setting: unit embeddings, the reference's sigma 10 and scale 1000
    a, b = unit_embeddings(300, 64, 0.0, rng), unit_embeddings(250, 64, 0.3, rng)
    cmmd = gaussian_mmd(a, b, block_size=block_size)
    assert cmmd.item() == pytest.approx(reference_mmd(a, b), rel=1e-10)  # measured: <= 3e-12 on a value of 0.95
    # other sigma and scale
    assert gaussian_mmd(x, y, 3.0, 7.0, block_size).item() == pytest.approx(reference_mmd(x, y, 3.0, 7.0), rel=1e-12)


def test_bias_between_two_samples_of_one_distribution():
    """For x, x' ~ P (n of them) and y, y' ~ P (m), E mean(K_xx) = 1/n + (1 - 1/n) kappa, the n
    diagonal entries being k(x, x) = 1, kappa = E k(x, x'); likewise K_yy, and E mean(K_xy) = kappa:

        E[MMD] = scale * (1 - kappa) * (1/n + 1/m)  <=  scale * (1/n + 1/m).

    For P = N(0, s^2 I_d), ||x - x'||^2 ~ 2 s^2 chi^2_d and E exp(-l chi^2_d) = (1 + 2 l)^(-d/2):
    kappa = (1 + 2 s^2 / sigma^2)^(-d/2)."""
    sigma, s, d, n, m, repeats = 10.0, 5.0, 4, 100, 150, 200
    kappa = (1 + 2 * s**2 / sigma**2) ** (-d / 2)  # 4/9
    expected = 1000 * (1 - kappa) * (1 / n + 1 / m)  # 9.26
    rng = torch.Generator().manual_seed(0)
    values = np.array([gaussian_mmd(s * torch.randn(n, d, generator=rng), s * torch.randn(m, d, generator=rng)).item()
                       for _ in range(repeats)])
    assert (values >= 0).all()  # a V-statistic is a squared norm, ||mean phi(x) - mean phi(y)||^2
    # the mean of 200 draws within 4 standard errors of E (an unbiased, U-statistic, estimator would give ~0)
    standard_error = values.std(ddof=1) / math.sqrt(repeats)  # ~0.3
    assert abs(values.mean() - expected) < 4 * standard_error
    assert values.mean() < 1000 * (1 / n + 1 / m)
    # one draw of CMMD's size class: below 3x the bound (the bound is 1.8 E, and a draw's standard
    # deviation is ~0.46 E (measured): 3x the bound is E + 10 standard deviations)
    big_n = 2000
    one = gaussian_mmd(s * torch.randn(big_n, d, generator=rng), s * torch.randn(big_n, d, generator=rng))
    assert 0 <= one.item() < 3 * 1000 * (2 / big_n)


def test_grows_with_a_shift():
    """y shifted by delta * sigma along one axis: E k(x, y) = kappa * exp(-delta^2 / (2 (1 + 2 s^2/sigma^2))),
    so E[MMD] = scale * (2 kappa - 2 E k(x, y) + (1 - kappa)(1/n + 1/m)), increasing in delta."""
    sigma, s, d, n = 10.0, 5.0, 4, 500
    kappa = (1 + 2 * s**2 / sigma**2) ** (-d / 2)
    rng = torch.Generator().manual_seed(1)
    values, expected = [], []
    for delta in (0.0, 0.25, 0.5, 1.0, 2.0):
        shift = torch.zeros(d)
        shift[0] = delta * sigma
        x, y = s * torch.randn(n, d, generator=rng), s * torch.randn(n, d, generator=rng) + shift
        values.append(gaussian_mmd(x, y, sigma).item())
        k_xy = kappa * math.exp(-(delta**2) / (2 * (1 + 2 * s**2 / sigma**2)))
        expected.append(1000 * (2 * kappa - 2 * k_xy + (1 - kappa) * 2 / n))
    assert all(a < b for a, b in zip(values, values[1:])), values
    # E = 73, 254, 657 for delta 0.5, 1, 2; the sd of a draw (measured over 50) is 12%, 6%, 2% of E
    for value, want in zip(values[2:], expected[2:]):
        assert value == pytest.approx(want, rel=0.4)


def test_bad_arguments():
    x = torch.randn(5, 3)
    for name, value in (("sigma", 0.0), ("sigma", -1.0), ("sigma", math.inf), ("scale", 0), ("scale", math.nan)):
        with pytest.raises(ValueError, match=rf"^Expected argument `{name}` to be > 0, got {value}$"):
            gaussian_mmd(x, x, **{name: value})
        with pytest.raises(ValueError, match=rf"^Expected argument `{name}` to be > 0"):
            KernelMMD(**{name: value})
    with pytest.raises(ValueError, match="argument `y` to be a tensor of shape"):
        gaussian_mmd(x, x[0])
    with pytest.raises(ValueError, match="argument `x` to be a tensor of shape .* got \\(0, 3\\)"):
        gaussian_mmd(x[:0], x)
    with pytest.raises(ValueError, match="one dimension d, got 3 and 2"):
        gaussian_mmd(x, x[:, :2])
    with pytest.raises(ValueError, match="argument `block_size`"):
        KernelMMD(block_size=0)
    with pytest.raises(ValueError, match="argument `reset_real_features` to be a bool"):
        KernelMMD(reset_real_features=1)
    metric = KernelMMD()
    metric.update(x, real=False)
    with pytest.raises(ValueError, match="got 0 real and 5 fake"):
        metric.compute()


def test_metric_in_batches_and_reset():
    rng = torch.Generator().manual_seed(2)
    real, fake = unit_embeddings(230, 32, 0.0, rng), unit_embeddings(170, 32, 0.2, rng)
    metric = KernelMMD(block_size=64, reset_real_features=False)
    for batch in real.split(50):
        metric.update(batch, real=True)
    for batch in fake.split(33):
        metric.update(batch, real=False)
    value = metric.compute()
    assert value.dtype == torch.float64 and value.ndim == 0
    torch.testing.assert_close(value, gaussian_mmd(real, fake), rtol=1e-12, atol=0)  # other blocks, same sums
    metric.reset()
    assert len(metric.fake_features) == 0 and torch.equal(torch.cat(metric.real_features), real)
    metric.update(real[:100], real=False)  # the real set against a part of itself: smaller
    assert metric.compute() < value
    torch.testing.assert_close(metric.compute(), gaussian_mmd(real, real[:100]), rtol=1e-12, atol=0)
    dropping = KernelMMD()
    dropping.update(real, real=True)
    dropping.reset()
    assert len(dropping.real_features) == 0
