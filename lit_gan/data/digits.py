"""scikit-learn's 8x8 handwritten digits: 1,797 real images shipped inside scikit-learn.

No download: the quickest real image data set, for the CPU and for tests.
"""

import torch
from jsonargparse.typing import PositiveInt
from torch.utils.data import TensorDataset

from lit_gan.data.images import ImageDataModule


class DigitsDataModule(ImageDataModule):
    """The 8x8 digits (values 0..16), scaled to [-1, 1]; a fixed random ``n_held_out`` are held out.

    Arguments: see :class:`~lit_gan.data.images.ImageDataModule` (``root`` and ``download`` are not used).
    """

    channels, native_size = 1, 8
    num_classes = 10

    def __init__(self, n_held_out: PositiveInt = 297, seed: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        if not 0 < int(n_held_out) < 1797:
            raise ValueError(f"Expected argument `n_held_out` to be in [1, 1796], got {n_held_out}")
        self.n_held_out, self.seed = int(n_held_out), seed

    def load(self) -> tuple[TensorDataset, TensorDataset]:
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = torch.tensor(digits.images, dtype=torch.float32)[:, None] / 8 - 1  # (1797, 1, 8, 8) in [-1, 1]
        labels = torch.tensor(digits.target, dtype=torch.long)
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(self.seed))
        held, train = order[: self.n_held_out], order[self.n_held_out :]
        return TensorDataset(images[train], labels[train]), TensorDataset(images[held], labels[held])
