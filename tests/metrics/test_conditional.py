"""Metrics of class-conditional samples: class accuracy on hand-made logits, intra-FID against the
Fréchet distance per class, CAS on a tiny separable data set and on shuffled labels."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from lit_gan.metrics.conditional import (
    class_accuracy,
    classification_accuracy_score,
    intra_class_fid,
    intra_class_fid_floor,
)
from lit_gan.metrics.frechet import frechet_distance
from lit_gan.networks.classifier import ConvClassifier
from tests.metrics.helpers import one_thread


def one_hot_logits(classes: list[int], k: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.tensor(classes), k).float() * 5 - 1  # argmax = the class


def test_class_accuracy_overall_per_class_and_a_class_never_requested():
    # requested 0, 0, 0, 1, 1, 3; predicted 0, 0, 2, 1, 0, 3: class 0 2/3, class 1 1/2, class 2 none, class 3 1/1
    logits = one_hot_logits([0, 0, 2, 1, 0, 3], 4)
    out = class_accuracy(logits, torch.tensor([0, 0, 0, 1, 1, 3]), num_classes=4)
    assert out["accuracy"].item() == pytest.approx(4 / 6)
    per_class = out["per_class"]
    assert per_class.shape == (4,)
    assert per_class[[0, 1, 3]].tolist() == pytest.approx([2 / 3, 1 / 2, 1.0])
    assert math.isnan(per_class[2].item())
    assert out["count"].tolist() == [3, 2, 0, 1]


@pytest.mark.parametrize(
    "logits, requested, match",
    [
        (torch.zeros(3, 5), torch.tensor([0, 1, 2]), r"`logits` to be a tensor of shape \(N, 4\)"),
        (torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), r"`logits` .* N >= 1"),
        (torch.zeros(3, 4), torch.tensor([0, 1]), r"`requested` to be an integer tensor of shape \(3,\)"),
        (torch.zeros(3, 4), torch.tensor([0.0, 1.0, 2.0]), r"`requested` to be an integer tensor"),
        (torch.zeros(3, 4), torch.tensor([0, 4, 1]), r"`requested` to hold classes in \[0, 4\), got 0..4"),
        (torch.zeros(3, 4), torch.tensor([0, -1, 1]), r"`requested` to hold classes in \[0, 4\), got -1..1"),
    ],
)
def test_class_accuracy_refuses_in_one_line(logits, requested, match):
    with pytest.raises(ValueError, match=match) as err:
        class_accuracy(logits, requested, num_classes=4)
    assert "\n" not in str(err.value)


def class_features(counts: list[int], d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Features (sum(counts), d), each class shifted and scaled apart, and their labels, shuffled."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate(counts)])
    labels = labels[torch.randperm(len(labels), generator=g)]
    x = torch.randn(len(labels), d, generator=g, dtype=torch.float64)
    return x * (1 + labels[:, None]) + 3 * labels[:, None], labels


def test_intra_class_fid_is_the_mean_of_the_frechet_distance_of_each_class():
    k, d = 3, 5
    fake, fake_labels = class_features([7, 12, 9], d, seed=0)
    real, real_labels = class_features([10, 8, 15], d, seed=1)
    fake = fake * 1.3 + 0.2  # not the real distribution
    expected = []
    for c in range(k):  # np.cov: the unbiased covariance, computed apart from the module's
        f, r = fake[fake_labels == c].numpy(), real[real_labels == c].numpy()
        moments = [torch.from_numpy(m) for m in (f.mean(0), np.cov(f, rowvar=False), r.mean(0), np.cov(r, rowvar=False))]
        expected.append(frechet_distance(*moments).item())
    out = intra_class_fid(fake, fake_labels, real, real_labels, num_classes=k)
    assert out["per_class"].dtype == torch.float64
    assert out["per_class"].tolist() == pytest.approx(expected, rel=1e-9)
    assert out["intra_fid"].item() == pytest.approx(sum(expected) / k, rel=1e-9)
    assert min(expected) > 0.1  # the classes differ


def test_intra_class_fid_of_identical_class_sets_is_zero_in_any_order():
    real, labels = class_features([6, 9, 8, 7], 4, seed=2)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(3))
    out = intra_class_fid(real[order].float(), labels[order], real, labels, num_classes=4)
    assert out["per_class"].abs().max().item() < 1e-5  # float32 copy of one side
    # against the pooled FID, which the class means' spread dominates, intra-FID of a shuffled labelling is large
    shuffled = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(4))]
    assert intra_class_fid(real, shuffled, real, labels, num_classes=4)["intra_fid"].item() > 1.0


def test_intra_class_fid_floor_is_intra_fid_between_two_real_sets():
    a, labels_a = class_features([5, 6], 3, seed=5)
    b, labels_b = class_features([8, 7], 3, seed=6)
    floor = intra_class_fid_floor(a, labels_a, b, labels_b, num_classes=2)
    direct = intra_class_fid(a, labels_a, b, labels_b, num_classes=2)
    assert floor["intra_fid"].item() == direct["intra_fid"].item() > 0  # finite samples: a positive floor


def test_intra_class_fid_refuses_a_class_with_fewer_than_two_samples_naming_it():
    fake, fake_labels = class_features([4, 1, 3], 2, seed=7)
    real, real_labels = class_features([3, 5, 3], 2, seed=8)
    with pytest.raises(ValueError, match="got class 1 with 1 fake and 5 real") as err:
        intra_class_fid(fake, fake_labels, real, real_labels, num_classes=3)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="got class 3 with 0 fake and 0 real"):  # a class absent from both
        intra_class_fid(real, real_labels, real, real_labels, num_classes=4)


@pytest.mark.parametrize(
    "change, match",
    [
        ({"fake_features": torch.zeros(8)}, r"`fake_features` to be a tensor of shape \(N, d\), got \(8,\)"),
        ({"real_features": torch.zeros(8, 3)}, "one dimension d, got 2 and 3"),
        ({"fake_labels": torch.zeros(7, dtype=torch.long)}, r"`fake_labels` to be an integer tensor of shape \(8,\)"),
        ({"real_labels": torch.tensor([0, 1, 2, 0, 1, 0, 1, 0])}, r"`real_labels` to hold classes in \[0, 2\)"),
        ({"num_classes": 0}, "`num_classes` to be an integer >= 1, got 0"),
    ],
)
def test_intra_class_fid_refuses_bad_arguments_in_one_line(change, match):
    labels = torch.tensor([0, 1] * 4)
    args = {"fake_features": torch.randn(8, 2), "fake_labels": labels, "real_features": torch.randn(8, 2),
            "real_labels": labels, "num_classes": 2} | change
    with pytest.raises(ValueError, match=match) as err:
        intra_class_fid(**args)
    assert "\n" not in str(err.value)


def patterns(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n 8x8 images of 4 classes: one bright quadrant each (0.8 on -0.8), plus noise of std 0.3."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 4
    images = torch.full((n, 1, 8, 8), -0.8)
    for c, (i, j) in enumerate([(0, 0), (0, 4), (4, 0), (4, 4)]):
        images[labels == c, :, i:i + 4, j:j + 4] = 0.8
    return (images + 0.3 * torch.randn(images.shape, generator=g)).clamp(-1, 1), labels


def tiny_classifier() -> nn.Module:
    return ConvClassifier((1, 8, 8), 4, channels=(4,), feature_dim=16, dropout=0.0)


def cas(train_labels=None, seed=0, **kwargs) -> float:
    train_images, labels = patterns(128, seed=0)
    test_images, test_labels = patterns(200, seed=1)
    with one_thread():
        return classification_accuracy_score(
            train_images, labels if train_labels is None else train_labels, test_images, test_labels,
            tiny_classifier, epochs=kwargs.pop("epochs", 10), batch_size=16, lr=1e-2, seed=seed, **kwargs,
        )


# labels independent of the images: image i is of class i % 4, its label (i // 4) % 4, so each class
# holds 8 images of each label (a random permutation leaves chance majorities, up to 0.65 measured)
SHUFFLED = (torch.arange(128) // 4) % 4


def test_cas_is_high_on_correct_labels_and_near_chance_on_shuffled_ones():
    assert cas() > 0.95
    # the classifier memorizes the noise, each seed its own way: 0.1 to 0.47 measured, 0.35 in the mean of 4
    assert abs(np.mean([cas(train_labels=SHUFFLED, seed=s) for s in range(4)]) - 0.25) < 0.15


def test_cas_is_deterministic_for_a_seed_and_leaves_the_global_random_state_alone():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = cas(train_labels=SHUFFLED, seed=3, epochs=3)
    assert torch.equal(torch.get_rng_state(), before)
    assert cas(train_labels=SHUFFLED, seed=3, epochs=3) == first
    # another seed trains another classifier: of 200 test images, some answers change
    assert {cas(train_labels=SHUFFLED, seed=s, epochs=3) for s in (4, 5)} != {first}


def test_cas_is_the_held_out_accuracy_of_a_fixed_tiny_classifier_trained_on_the_generated_set_alone():
    # an independent computation (Ravuri & Vinyals 2019): a linear classifier, its weights from the seed, SGD
    # through the training set in the seed's order, then the share of the held-out set it gets right
    torch.manual_seed(7)
    train_images, test_images = torch.rand(40, 1, 2, 2) * 2 - 1, torch.rand(30, 1, 2, 2) * 2 - 1
    train_labels, test_labels = torch.randint(3, (40,)), (test_images.flatten(1).sum(1) > 0).long()

    def linear() -> nn.Module:
        return nn.Sequential(nn.Flatten(), nn.Linear(4, 3))

    torch.manual_seed(5)
    classifier, shuffle = linear(), torch.Generator().manual_seed(5)
    optimizer = torch.optim.Adam(classifier.parameters(), lr=0.05)
    for _ in range(3):
        for batch in torch.randperm(40, generator=shuffle).split(8):
            loss = nn.functional.cross_entropy(classifier(train_images[batch]), train_labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        by_hand = (classifier(test_images).argmax(1) == test_labels).double().mean().item()
    got = classification_accuracy_score(train_images, train_labels, test_images, test_labels, linear, epochs=3,
                                        batch_size=8, lr=0.05, seed=5)
    assert got == pytest.approx(by_hand, abs=1e-12)
    # trained on the held-out labels instead, the same classifier scores otherwise: the test set is only tested on
    assert classification_accuracy_score(test_images, test_labels, test_images, test_labels, linear, epochs=3,
                                         batch_size=8, lr=0.05, seed=5) != got


def test_cas_maps_uint8_images_to_the_unit_range():
    images, labels = patterns(128, seed=0)
    as_uint8 = ((images + 1) * 127.5).round().to(torch.uint8)
    with one_thread():
        got = classification_accuracy_score(as_uint8, labels, images, labels, tiny_classifier, epochs=5, batch_size=16,
                                            lr=1e-2)
    assert got > 0.95


@pytest.mark.parametrize(
    "change, match",
    [
        ({"train_labels": torch.zeros(5, dtype=torch.long)}, r"`train_labels` to be an integer tensor of shape \(8,\)"),
        ({"test_labels": -torch.ones(8, dtype=torch.long)}, r"`test_labels` to hold classes >= 0, got -1..-1"),
        ({"test_images": torch.zeros(8, 1, 4, 4)}, r"one shape, got \(1, 8, 8\) and \(1, 4, 4\)"),
        ({"train_images": torch.zeros(0, 1, 8, 8)}, r"`train_images` to be a batch of images \(N, ...\) with N >= 1"),
        ({"train_labels": torch.full((8,), 4)}, "`classifier_factory` to build a classifier of logits .* largest label 4"),
        ({"epochs": 0}, "`epochs` to be an integer >= 1, got 0"),
        ({"lr": 0.0}, "`lr` to be > 0, got 0.0"),
        ({"seed": -1}, "`seed` to be an integer >= 0, got -1"),
    ],
)
def test_cas_refuses_bad_arguments_in_one_line(change, match):
    images = torch.zeros(8, 1, 8, 8)
    args = {"train_images": images, "train_labels": torch.arange(8) % 4, "test_images": images,
            "test_labels": torch.arange(8) % 4, "classifier_factory": tiny_classifier, "epochs": 1} | change
    with pytest.raises(ValueError, match=match) as err:
        classification_accuracy_score(**args)
    assert "\n" not in str(err.value)
