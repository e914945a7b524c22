"""The Stacked MNIST scores: modes covered and KL(p || uniform) on hand-made labels, on real stacks
labelled by their true digits (the floor's order), channel by channel by a classifier, accumulated as a
metric; and the refusals."""

import math

import pytest
import torch

from lit_gan.data import MNIST5k, StackedMNIST
from lit_gan.errors import ConfigError
from lit_gan.metrics import ClassifierFeatures, StackedModeCoverage, label_stacks, stacked_modes, stacked_scores
from tests.metrics.digit_lookup import DigitLookup


@pytest.fixture(scope="module")
def stacked() -> StackedMNIST:
    data = StackedMNIST(n_train=64, n_val=26_000)  # PacGAN's 26,000, of MNIST5k's 1,000 held-out digits
    data.setup()
    return data


@pytest.fixture(scope="module")
def lookup() -> DigitLookup:
    """Labels MNIST5k's held-out digits exactly (by looking them up)."""
    return DigitLookup(*MNIST5k().load()[1].tensors)


def held_out(data: StackedMNIST, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first n held-out stacks, float in [-1, 1] as the model sees them, and their modes."""
    images, modes = zip(*(data.held_out_set[i] for i in range(n)))
    return data.on_after_batch_transfer([torch.stack(images), torch.stack(modes)], 0)


# ----------------------------------------------------------------- the scores of labels
def test_every_mode_once_is_all_1000_and_kl_0():
    scores = stacked_modes(torch.arange(1000))
    assert int(scores["stacked_modes"]) == 1000 and abs(float(scores["stacked_kl"])) < 1e-12


def test_a_single_mode_is_one_mode_and_kl_log_1000():
    scores = stacked_modes(torch.full((26_000,), 417))
    assert int(scores["stacked_modes"]) == 1 and float(scores["stacked_kl"]) == pytest.approx(math.log(1000))


def test_hand_made_labels():
    scores = stacked_modes(torch.tensor([0, 0, 0, 5]))  # p = (3/4, 1/4) on two modes
    assert int(scores["stacked_modes"]) == 2
    assert float(scores["stacked_kl"]) == pytest.approx(0.75 * math.log(750) + 0.25 * math.log(250))
    half = stacked_modes(torch.arange(500).repeat(2))  # 500 modes, uniform on them: log 2
    assert int(half["stacked_modes"]) == 500 and float(half["stacked_kl"]) == pytest.approx(math.log(2))


def test_digit_triples_are_the_modes_they_make():
    triples = torch.tensor([[1, 2, 3], [1, 2, 3], [9, 0, 0], [0, 0, 7]])
    by_triples, by_modes = stacked_modes(triples), stacked_modes(torch.tensor([123, 123, 900, 7]))
    assert by_triples == by_modes and int(by_triples["stacked_modes"]) == 3


@pytest.mark.parametrize("labels,match", [
    (torch.tensor([0, 1000]), r"`labels` to be modes in 0..999, got 0..1000"),
    (torch.tensor([0.0, 1.0]), r"`labels` to be \(N,\) integer modes or \(N, 3\) digits, got a torch.float32"),
    (torch.zeros(4, 2, dtype=torch.long), r"`labels` to be \(N,\) integer modes or \(N, 3\) digits"),
    (torch.zeros(0, dtype=torch.long), r"at least one label"),
])
def test_labels_that_are_not_modes_are_refused(labels, match):
    with pytest.raises(ValueError, match=match):
        stacked_modes(labels)


def test_real_stacks_labelled_by_their_digits_cover_every_mode_with_a_small_kl(stacked):
    """The floor's order: 26,000 draws of 1,000 equally likely modes miss none (1000 e^-26 expected) and
    their KL from uniform is about (1000 - 1) / (2 * 26,000) = 0.019, the multinomial's bias."""
    scores = stacked_modes(stacked.held_out_set.modes)
    assert int(scores["stacked_modes"]) == 1000
    assert 0.01 < float(scores["stacked_kl"]) < 0.03


# ----------------------------------------------------------------- labelling images
def test_each_channel_is_labelled_and_the_digits_make_the_mode(stacked, lookup):
    images, modes = held_out(stacked, 500)
    assert torch.equal(label_stacks(images, lookup), modes)
    assert torch.equal(label_stacks(images.flip(1), lookup), modes // 100 + modes % 100 // 10 * 10 + modes % 10 * 100)
    scores = stacked_scores(images, lookup, batch_size=128)
    assert scores == stacked_modes(modes)


def test_the_metric_keeps_its_floor_across_reset(stacked, lookup):
    images, modes = held_out(stacked, 600)
    metric = StackedModeCoverage(lookup)
    metric.update(images[:300], real=True, modes=modes[:300])
    metric.update(images[300:], real=False)
    values = metric.compute()
    assert values["stacked_modes"] == stacked_modes(modes[300:])["stacked_modes"]
    assert values["stacked_kl_floor"] == stacked_modes(modes[:300])["stacked_kl"]
    assert float(values["stacked_classifier_accuracy"]) == 1.0  # the lookup reads every real digit right
    metric.reset()
    metric.update(images[:10], real=False)  # one generated "mode" only
    again = metric.compute()
    assert int(again["stacked_modes"]) == len(modes[:10].unique())
    assert again["stacked_modes_floor"] == values["stacked_modes_floor"]  # the real stacks were kept
    metric.update(images[:100], real=True, modes=(modes[:100] + 1) % 1000)  # modes it reads otherwise: wrong
    assert float(metric.compute()["stacked_classifier_accuracy"]) == pytest.approx(300 / 400)


# ----------------------------------------------------------------- refusals
def test_a_classifier_of_another_class_count_is_refused(lookup):
    five = DigitLookup(torch.zeros(1, 1, 28, 28, dtype=torch.uint8), torch.zeros(1, dtype=torch.long), num_classes=5)
    with pytest.raises(ConfigError, match=r"digit classifier of 10 classes .* got DigitLookup of 5 classes"):
        StackedModeCoverage(five)


def test_a_classifier_of_another_image_shape_is_refused(digits_classifier):
    classifier = ClassifierFeatures(str(digits_classifier))  # trained on the 8x8 digits
    with pytest.raises(ConfigError, match=r"on images of shape \(1, 28, 28\), .* got ClassifierFeatures of 10 classes"
                                          r" on images of shape \(1, 8, 8\)"):
        stacked_scores(torch.zeros(4, 3, 28, 28), classifier)


def test_images_that_are_not_stacks_of_three_digits_are_refused(lookup):
    with pytest.raises(ConfigError, match=r"`images` to be stacks of 3 digits, one a channel, .* got \(4, 1, 28, 28\)"):
        label_stacks(torch.zeros(4, 1, 28, 28), lookup)
