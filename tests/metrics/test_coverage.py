"""Mode coverage on samples of the mixtures themselves: every mode, and 1 - exp(-k^2/2) of high quality in 2D."""

import math

import pytest
import torch

from lit_gan.data import GridOfGaussians, RingOfGaussians
from lit_gan.metrics import ModeCoverage


@pytest.mark.parametrize("data,n_modes", [(RingOfGaussians(), 8), (GridOfGaussians(), 25)])
def test_samples_of_the_mixture_cover_every_mode(data, n_modes):
    n = 40000
    samples = data.sample(n, torch.Generator().manual_seed(0))
    metric = ModeCoverage(data.centers, data.std)
    for chunk in samples.split(10000):
        metric.update(chunk)
    result = metric.compute()
    assert int(result["modes"]) == n_modes
    # P(|x - c| <= 3 std) for a 2D isotropic Gaussian: P(chi2_2 <= 9) = 1 - exp(-4.5) = 0.98889;
    # binomial standard deviation sqrt(p (1 - p) / n) = 0.0005
    assert result["hq_fraction"].item() == pytest.approx(1 - math.exp(-4.5), abs=0.002)


def test_k_sets_the_radius_of_high_quality():
    data = RingOfGaussians()
    samples = data.sample(40000, torch.Generator().manual_seed(1))
    metric = ModeCoverage(data.centers, data.std, k=1.0)
    metric.update(samples)
    assert metric.compute()["hq_fraction"].item() == pytest.approx(1 - math.exp(-0.5), abs=0.006)


def test_samples_of_one_mode_cover_one_mode():
    data = RingOfGaussians()
    samples = data.centers[3] + data.std * torch.randn(5000, 2, generator=torch.Generator().manual_seed(2))
    metric = ModeCoverage(data.centers, data.std)
    metric.update(samples)
    result = metric.compute()
    assert int(result["modes"]) == 1
    assert int(metric.hq_per_mode[3]) == int(metric.num_hq) > 4900


def test_far_samples_are_low_quality_and_min_samples_is_a_threshold():
    data = RingOfGaussians()
    metric = ModeCoverage(data.centers, data.std, min_samples=3)
    metric.update(torch.zeros(10, 2))  # the ring's center: 2 away from every mode, 100 std
    metric.update(data.centers[:2].repeat_interleave(torch.tensor([3, 2]), dim=0))  # 3 on mode 0, 2 on mode 1
    result = metric.compute()
    assert int(result["modes"]) == 1  # mode 1 has only 2 high-quality samples
    assert result["hq_fraction"].item() == pytest.approx(5 / 15)


def test_refuses_bad_arguments():
    with pytest.raises(ValueError, match="Expected argument `centers`"):
        ModeCoverage(torch.zeros(3), 0.1)
    with pytest.raises(ValueError, match="Expected argument `std`"):
        ModeCoverage(torch.zeros(3, 2), 0.0)
    with pytest.raises(ValueError, match="Expected argument `samples`"):
        ModeCoverage(torch.zeros(3, 2), 0.1).update(torch.zeros(4, 3))
