"""Stacked MNIST: three digits as the channels of one image, its mode known; training stacks of
training digits, held-out stacks of held-out ones; reproducible from the seed; the bad arguments."""

import pytest
import torch

from lit_gan.data import MNIST5k, StackedMNIST
from lit_gan.data.stacked_mnist import stack_modes
from lit_gan.errors import ConfigError


@pytest.fixture(scope="module")
def stacked() -> StackedMNIST:
    data = StackedMNIST(batch_size=64, n_train=12_800, n_val=2_600)  # MNIST5k's digits, packaged: offline
    data.setup()
    return data


def rows(images: torch.Tensor) -> set[bytes]:
    return {r.numpy().tobytes() for r in images.flatten(1)}


def test_stacks_are_three_digits_as_channels_with_their_mode(stacked):
    assert stacked.img_shape == (3, 28, 28) and stacked.num_classes == 0 and stacked.num_modes == 1000
    train, held_out = MNIST5k().load()
    digits, labels = train.tensors
    for i in (0, 1, 12_799):
        image, mode = stacked.train_set[i]
        assert image.shape == (3, 28, 28) and image.dtype == torch.uint8
        triple = stacked.train_set.triples[i]
        for c in range(3):  # channel c is training digit triple[c]
            assert torch.equal(image[c], digits[triple[c], 0])
        d = labels[triple]
        assert int(mode) == 100 * int(d[0]) + 10 * int(d[1]) + int(d[2])


def test_training_stacks_come_from_training_digits_held_out_ones_from_held_out_digits(stacked):
    train, held_out = MNIST5k().load()
    train_digits, held_digits = rows(train.tensors[0]), rows(held_out.tensors[0])
    assert not train_digits & held_digits
    train_channels = rows(torch.stack([stacked.train_set[i][0] for i in range(200)]).flatten(0, 1))
    held_channels = rows(torch.stack([stacked.held_out_set[i][0] for i in range(200)]).flatten(0, 1))
    assert train_channels <= train_digits and held_channels <= held_digits


def test_the_modes_cover_all_1000_roughly_uniformly(stacked):
    counts = torch.bincount(stacked.train_set.modes, minlength=1000)
    assert (counts > 0).all()  # 12.8 stacks a mode on average
    assert counts.float().std() < 5  # Poisson(12.8): std 3.6
    assert len(stacked.held_out_set) == 2_600


def test_batches_are_images_in_minus_one_one_and_their_modes(stacked):
    images, modes = stacked.on_after_batch_transfer(next(iter(stacked.train_dataloader())), 0)
    assert images.shape == (64, 3, 28, 28) and images.dtype == torch.float32
    assert images.min() >= -1 and images.max() <= 1 and images.min() == -1
    assert modes.shape == (64,) and modes.dtype == torch.long and 0 <= modes.min() and modes.max() < 1000


def test_the_stacks_are_reproducible_from_the_seed(stacked):
    again = StackedMNIST(n_train=12_800, n_val=2_600)
    again.setup()
    assert torch.equal(again.train_set.triples, stacked.train_set.triples)
    assert torch.equal(again.held_out_set.triples, stacked.held_out_set.triples)
    other = StackedMNIST(n_train=12_800, n_val=2_600, seed=1)
    other.setup()
    assert not torch.equal(other.train_set.triples, stacked.train_set.triples)
    assert not torch.equal(other.held_out_set.triples, stacked.held_out_set.triples)
    shorter = StackedMNIST(n_train=640, n_val=2_600)  # the held-out stacks (the floor) do not move with n_train
    shorter.setup()
    assert torch.equal(shorter.held_out_set.triples, stacked.held_out_set.triples)


def test_full_mnist_as_the_source(mnist_root):
    data = StackedMNIST(source="mnist", root=str(mnist_root), download=False, batch_size=8, n_train=40, n_val=10)
    data.setup()
    assert len(data.train_set) == 40 and len(data.held_out_set) == 10  # of the 96 training and 32 test digits
    image, mode = data.held_out_set[3]
    test_images, test_labels = data.digits.load()[1].tensors  # MNIST's test digits
    triple = data.held_out_set.triples[3]
    assert torch.equal(image, test_images[triple, 0])
    assert int(mode) == int(stack_modes(test_labels[triple][None])[0])


def test_image_size_resizes_on_the_device(mnist_root):
    data = StackedMNIST(source="mnist", root=str(mnist_root), download=False, batch_size=8, n_train=40, image_size=32)
    data.setup()
    images, _ = data.on_after_batch_transfer(next(iter(data.train_dataloader())), 0)
    assert data.img_shape == (3, 32, 32) and images.shape == (8, 3, 32, 32)


@pytest.mark.parametrize("kwargs,match", [
    ({"source": "cifar10"}, r"Expected argument `source` to be one of \['mnist5k', 'mnist'\], got 'cifar10'"),
    ({"n_train": 0}, r"Expected argument `n_train` to be an integer >= 1, got 0"),
    ({"n_val": -1}, r"Expected argument `n_val` to be an integer >= 1, got -1"),
    ({"held_out_fraction": 1.5}, r"Expected argument `held_out_fraction` to be in \(0, 1\), got 1.5"),
])
def test_bad_arguments_are_refused_in_one_line(kwargs, match):
    with pytest.raises(ValueError, match=match):
        StackedMNIST(**kwargs)


def test_a_batch_larger_than_the_training_stacks_is_refused():
    with pytest.raises(ConfigError, match=r"`batch_size` \(64\) to be at most the 32 training images"):
        StackedMNIST(batch_size=64, n_train=32).setup()
