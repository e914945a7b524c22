"""ImageQualityMetrics: one extractor pass feeds FID, KID and IS; real features survive reset; KID's subset rule."""

import pytest
import torch
from torch import nn

from lit_gan.metrics import (
    FeatureExtractor, FrechetDistance, ImageQualityMetrics, InceptionScore, KernelDistance, ModeCoverage,
    PrecomputedFeatures,
)
from lit_gan.metrics.manifold import density_coverage, precision_recall
from lit_gan.metrics.mmd import gaussian_mmd
from lit_gan.metrics.quality import OUTPUTS


class CountingFeatures(FeatureExtractor):
    """Random linear features (B, 6) and logits (B, 4) of flattened (B, 1, 4, 4) images; counts its passes."""

    num_features, num_classes = 6, 4

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features, self.logits = nn.Linear(16, 6), nn.Linear(16, 4)
        self.passes = 0
        self.requires_grad_(False).eval()

    def extract(self, images):
        self.passes += 1
        x = images.flatten(1)
        return self.features(x), self.logits(x)


def images(n: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    return shift + torch.randn(n, 1, 4, 4, generator=torch.Generator().manual_seed(seed))


def bundle(**kwargs) -> ImageQualityMetrics:
    return ImageQualityMetrics(CountingFeatures(), **{"is_splits": 2, "kid_subsets": 3, "kid_subset_size": 10, **kwargs})


def test_one_update_runs_the_extractor_once_and_feeds_the_three_metrics():
    metric = bundle()
    metric.update(images(12, 0), real=True)
    assert metric.feature_extractor.passes == 1
    assert int(metric.fid.real_features_num_samples) == 12 and sum(len(f) for f in metric.kid.real_features) == 12
    assert metric.inception_score.features == []  # IS scores generated images only
    metric.update(images(8, 1, shift=1.0))  # generated, the default
    assert metric.feature_extractor.passes == 2
    assert int(metric.fid.fake_features_num_samples) == 8 and sum(len(f) for f in metric.kid.fake_features) == 8
    assert sum(len(f) for f in metric.inception_score.features) == 8


def test_compute_gives_the_values_of_the_metrics_fed_apart():
    metric, extractor = bundle(seed=3, metrics=list(OUTPUTS)), CountingFeatures()
    real, fake = images(30, 0), images(20, 1, shift=0.5)
    metric.update(real, real=True)
    metric.update(fake[:11]), metric.update(fake[11:])
    fid = FrechetDistance(PrecomputedFeatures(6))
    kid = KernelDistance(PrecomputedFeatures(6), subsets=3, subset_size=10, seed=3)
    inception = InceptionScore(PrecomputedFeatures(4), splits=2, seed=3)
    (f_real, _), (f_fake, logits) = extractor.extract(real), extractor.extract(fake)
    for m in (fid, kid):
        m.update(f_real, real=True), m.update(f_fake, real=False)
    inception.update(logits)
    values = metric.compute()
    assert list(values) == ["fid", "is", "is_std", "kid", "kid_std", "precision", "recall", "density", "coverage", "mmd"]
    expected = dict(zip(("is", "is_std"), inception.compute())) | dict(zip(("kid", "kid_std"), kid.compute()))
    expected["fid"] = fid.compute()
    expected |= dict(zip(("precision", "recall"), precision_recall(f_real, f_fake, k=3)))
    expected |= dict(zip(("density", "coverage"), density_coverage(f_real, f_fake, k=5)))
    expected["mmd"] = gaussian_mmd(f_real, f_fake)
    for key, value in expected.items():
        assert value.item() == pytest.approx(values[key].item(), rel=1e-6, abs=1e-9), key
    assert values["fid"].dtype == torch.float64 and values["fid"] > 0


def test_real_features_survive_reset_and_generated_ones_do_not():
    metric = bundle()
    metric.update(images(30, 0), real=True)
    metric.update(images(20, 1, shift=0.5))
    first = metric.compute()
    metric.reset()
    assert int(metric.fid.real_features_num_samples) == 30 and int(metric.fid.fake_features_num_samples) == 0
    assert metric.kid.fake_features == [] and metric.inception_score.features == []
    metric.update(images(20, 1, shift=0.5))  # the same generated images again, no real ones
    second = metric.compute()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert metric.feature_extractor.passes == 3  # the real images were not extracted again


@pytest.mark.parametrize("n_real,n_fake", [(30, 20), (15, 25)])
def test_kid_subsets_are_of_the_fewest_samples_when_the_subset_size_exceeds_them(n_real, n_fake):
    metric, extractor = bundle(kid_subset_size=1000, seed=1), CountingFeatures()
    real, fake = images(n_real, 0), images(n_fake, 1, shift=0.5)
    metric.update(real, real=True), metric.update(fake)
    size = min(n_real, n_fake)
    reference = KernelDistance(PrecomputedFeatures(6), subsets=3, subset_size=size, seed=1)  # subsets of exactly `size`
    reference.update(extractor.extract(real)[0], real=True), reference.update(extractor.extract(fake)[0], real=False)
    values, (kid_ref, kid_std_ref) = metric.compute(), reference.compute()
    kid = values["kid"]
    assert torch.equal(kid, kid_ref) and torch.equal(values["kid_std"], kid_std_ref)
    assert metric.kid.subset_size == 1000  # decided at compute, not written into the metric
    other = KernelDistance(PrecomputedFeatures(6), subsets=3, subset_size=size - 1, seed=1)
    other.update(extractor.extract(real)[0], real=True), other.update(extractor.extract(fake)[0], real=False)
    assert not torch.equal(kid, other.compute()[0])  # the subset size shows in the value


def test_both_bundles_share_the_protocol_of_the_callbacks():
    assert ImageQualityMetrics.needs_real and not ModeCoverage.needs_real
    coverage = ModeCoverage(torch.zeros(1, 2), std=1.0)
    coverage.update(torch.zeros(3, 2), real=False)
    assert int(coverage.compute()["modes"]) == 1
    with pytest.raises(ValueError, match="Expected argument `real` to be False"):
        coverage.update(torch.zeros(3, 2), real=True)
    metric = bundle().to(torch.device("meta"))  # .to moves the extractor and every metric's states
    assert metric.feature_extractor.features.weight.device.type == "meta"
    assert metric.fid.real_features_sum.device.type == "meta"


def test_the_metrics_are_chosen_by_name_and_is_needs_logits():
    assert list(bundle(metrics=["kid", "fid"]).compute.__self__.chosen) == ["kid", "fid"]
    metric = bundle(metrics=["precision_recall"])
    metric.update(images(12, 0), real=True), metric.update(images(12, 1))
    assert list(metric.compute()) == ["precision", "recall"] and not hasattr(metric, "fid")
    for bad in (["fid", "fid"], ["psnr"], []):
        with pytest.raises(ValueError, match="Expected argument `metrics` to be distinct names among fid, is, kid"):
            bundle(metrics=bad)

    class NoLogits(CountingFeatures):
        num_classes = 0

    assert "is" not in ImageQualityMetrics(NoLogits()).chosen  # the default leaves IS out
    with pytest.raises(ValueError, match="Expected argument `metrics` to leave out 'is': NoLogits has no class logits"):
        ImageQualityMetrics(NoLogits(), metrics=["fid", "is"])


@pytest.mark.parametrize("argument,value,message", [
    ("is_splits", 0, "Expected argument `is_splits` to be an integer >= 1, got 0"),  # was `splits`
    ("kid_subsets", 0, "Expected argument `kid_subsets` to be an integer >= 1, got 0"),  # was `subsets`
    ("kid_subset_size", 0, "Expected argument `kid_subset_size` to be an integer >= 1, got 0"),
    ("precision_k", 0, "Expected argument `precision_k` to be an integer >= 1, got 0"),  # was `k`
    ("density_k", -1, "Expected argument `density_k` to be an integer >= 1, got -1"),  # was `k`
    ("mmd_sigma", 0.0, "Expected argument `mmd_sigma` to be > 0, got 0.0"),  # was `sigma`
    ("mmd_scale", float("inf"), "Expected argument `mmd_scale` to be > 0, got inf"),
    ("seed", -1, r"Expected argument `seed` to be an integer in \[0, 2\*\*32 - 1\], got -1"),  # was numpy's, at compute
    ("seed", 2**32, r"Expected argument `seed` to be an integer in \[0, 2\*\*32 - 1\], got 4294967296"),
])
def test_bad_settings_are_named_as_the_bundle_names_them(argument, value, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        bundle(metrics=list(OUTPUTS), **{argument: value})
    assert bundle(metrics=list(OUTPUTS), seed=2**32 - 1).inception_score.seed == 2**32 - 1  # the largest NumPy seed
