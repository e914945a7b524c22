"""MNIST through torchvision, held in memory as uint8 and converted per batch."""

from pathlib import Path
from typing import Any, Optional

import torch
from jsonargparse.typing import NonNegativeInt, PositiveInt
from lightning.pytorch import LightningDataModule
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset
from torchvision.datasets import MNIST


def to_unit_range(images: Tensor) -> Tensor:
    """uint8 in [0, 255] -> float in [-1, 1], the generator's tanh range."""
    return images.float().div_(127.5).sub_(1.0)


class MNISTDataModule(LightningDataModule):
    """MNIST: 60,000 training images, the 10,000 test images held out for validation and metrics.

    The raw IDX files are read once by torchvision into a (N, 28, 28) uint8 tensor; batches are
    converted to float on the device (``on_after_batch_transfer``), not decoded per sample.

    Args:
        root: folder that holds (or receives) ``MNIST/raw/*-ubyte``.
        download: fetch the files if they are missing.
        batch_size: training batch size.
        num_workers, pin_memory, persistent_workers, drop_last: passed to the training DataLoader.
    """

    img_shape = (1, 28, 28)

    def __init__(
        self,
        root: str = "data",
        download: bool = True,
        batch_size: PositiveInt = 64,
        num_workers: NonNegativeInt = 0,
        pin_memory: bool = False,
        persistent_workers: bool = False,
        drop_last: bool = True,
    ) -> None:
        super().__init__()
        if int(batch_size) < 1:
            raise ValueError(f"Expected argument `batch_size` to be an integer >= 1, got {batch_size}")
        self.root, self.download, self.batch_size = root, download, int(batch_size)
        self.loader_kwargs = dict(
            num_workers=num_workers, pin_memory=pin_memory, persistent_workers=persistent_workers and num_workers > 0
        )
        self.drop_last = drop_last
        self._train: Optional[Tensor] = None
        self._held_out: Optional[Tensor] = None

    def prepare_data(self) -> None:
        if self.download:
            for train in (True, False):
                MNIST(self.root, train=train, download=True)

    def _load(self, train: bool) -> Tensor:
        try:
            return MNIST(self.root, train=train, download=False).data[:, None]  # (N, 1, 28, 28) uint8
        except RuntimeError as err:
            raw = Path(self.root) / "MNIST" / "raw"
            raise FileNotFoundError(
                f"MNIST not found under `root`={self.root!r}: expected {raw}/train-images-idx3-ubyte,"
                " train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte."
                " Set `download: true` on a machine with internet, or copy those files there."
            ) from err

    def setup(self, stage: str = "fit") -> None:
        if self._train is None:
            self._train, self._held_out = self._load(True), self._load(False)
        if self.drop_last and self.batch_size > len(self._train):
            raise ValueError(
                f"Expected argument `batch_size` ({self.batch_size}) to be at most the {len(self._train)} training"
                " images with drop_last=True"
            )

    def train_dataloader(self) -> DataLoader:
        return DataLoader(
            TensorDataset(self._train), batch_size=self.batch_size, shuffle=True, drop_last=self.drop_last, **self.loader_kwargs
        )

    def _held_out_loader(self) -> DataLoader:
        return DataLoader(TensorDataset(self._held_out), batch_size=self.batch_size, **self.loader_kwargs)

    val_dataloader = test_dataloader = predict_dataloader = _held_out_loader

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        return [to_unit_range(batch[0])]
