"""Inception Score and KID on known predictions and features; torchmetrics' values where they agree."""

import math

import pytest
import torch
from torchmetrics.image.inception import InceptionScore as TorchmetricsInceptionScore
from torchmetrics.image.kid import KernelInceptionDistance

from lit_gan.metrics import InceptionScore, KernelDistance, PrecomputedFeatures


def test_uniform_predictions_score_one():
    # p(y|x) uniform for every x: p(y|x) = p(y), KL = 0, IS = exp(0) = 1
    metric = InceptionScore(PrecomputedFeatures(10), splits=4)
    metric.update(torch.zeros(40, 10))
    mean, std = metric.compute()
    assert mean.item() == pytest.approx(1.0, abs=1e-12)
    assert std.item() == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("num_classes", [2, 10, 1008])
def test_one_hot_balanced_predictions_score_the_number_of_classes(num_classes):
    # p(y|x) one-hot, p(y) uniform: KL = log K for every x, IS = K
    labels = torch.arange(3 * num_classes) % num_classes
    logits = 200.0 * torch.nn.functional.one_hot(labels, num_classes).float()  # softmax is one-hot in float64
    metric = InceptionScore(PrecomputedFeatures(num_classes), splits=1)
    metric.update(logits)
    mean, _ = metric.compute()
    assert mean.item() == pytest.approx(num_classes, rel=1e-9)


def test_one_hot_predictions_of_one_class_score_one():
    # sharp but not diverse: one class only, so p(y) = p(y|x); classes absent from the split count 0
    metric = InceptionScore(PrecomputedFeatures(5), splits=2)
    metric.update(200.0 * torch.nn.functional.one_hot(torch.zeros(8, dtype=torch.long), 5).float())
    mean, std = metric.compute()
    assert not math.isnan(mean.item())
    assert mean.item() == pytest.approx(1.0, abs=1e-12)


THEIR_WARNINGS = [  # torchmetrics' own classes, the references here, warn about memory and a 1-split std
    pytest.mark.filterwarnings("ignore:Metric .* will save all extracted features:UserWarning"),
    pytest.mark.filterwarnings("ignore:std.*degrees of freedom:UserWarning"),
]


@THEIR_WARNINGS[0]
@THEIR_WARNINGS[1]
def test_inception_score_matches_torchmetrics_with_one_split():
    logits = torch.randn(64, 7, generator=torch.Generator().manual_seed(0)) * 3
    ours = InceptionScore(PrecomputedFeatures(7), splits=1)
    theirs = TorchmetricsInceptionScore(PrecomputedFeatures(7), splits=1)
    ours.update(logits), theirs.update(logits)
    assert ours.compute()[0].item() == pytest.approx(theirs.compute()[0].item(), rel=1e-5)


def test_inception_score_splits_are_seeded():
    logits = torch.randn(100, 10, generator=torch.Generator().manual_seed(1)) * 3
    values = []
    for _ in range(2):
        metric = InceptionScore(PrecomputedFeatures(10), splits=5, seed=3)
        metric.update(logits)
        torch.manual_seed(len(values))  # the global generator does not matter
        values.append(metric.compute())
    assert torch.equal(values[0][0], values[1][0]) and torch.equal(values[0][1], values[1][1])
    assert values[0][1] > 0


@THEIR_WARNINGS[0]
def test_kid_matches_torchmetrics_on_the_full_sets_and_is_unbiased():
    g = torch.Generator().manual_seed(2)
    real, fake = torch.randn(60, 16, generator=g), 0.5 + torch.randn(60, 16, generator=g)
    # subsets of the whole set: the permutation does not change the unbiased MMD
    ours = KernelDistance(PrecomputedFeatures(16), subsets=1, subset_size=60)
    theirs = KernelInceptionDistance(PrecomputedFeatures(16), subsets=1, subset_size=60)
    for metric in (ours, theirs):
        metric.update(real, real=True)
        metric.update(fake, real=False)
    kid, _ = ours.compute()
    assert kid.item() == pytest.approx(theirs.compute()[0].item(), rel=1e-5)
    assert kid.item() > 0.01
    # two samples of one distribution: the unbiased estimate is near 0, of either sign
    same = KernelDistance(PrecomputedFeatures(16), subsets=20, subset_size=50, seed=1)
    same.update(torch.randn(200, 16, generator=g), real=True)
    same.update(torch.randn(200, 16, generator=g), real=False)
    mean, std = same.compute()
    assert abs(mean.item()) < 0.1 * kid.item() and std.item() > 0


def test_kid_keeps_real_features_and_checks_the_subset_size():
    metric = KernelDistance(PrecomputedFeatures(4), subsets=2, subset_size=10, reset_real_features=False)
    metric.update(torch.randn(12, 4), real=True)
    metric.update(torch.randn(8, 4), real=False)
    with pytest.raises(RuntimeError, match="subset_size"):
        metric.compute()
    metric.reset()
    assert sum(len(f) for f in metric.real_features) == 12 and metric.fake_features == []
