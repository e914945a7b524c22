"""The base of every image data module: arguments, loaders, and the uint8 -> [-1, 1] conversion.

Every image data set yields ``[images, labels]`` with uint8 images (B, C, H, W); they are
converted to float in [-1, 1] (the generator's tanh range) after the transfer to the device, so
workers and host-to-device copies move 4x fewer bytes. In-memory sets (MNIST, CIFAR-10) are
resized there too when ``image_size`` differs from their native size.
"""

from typing import Any, Optional

import torch.nn.functional as F
from jsonargparse.typing import NonNegativeInt, PositiveInt
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from lit_gan.checks import check_positive_ints
from lit_gan.data.classes import class_counts
from lit_gan.data.order import ResumableOrder
from lit_gan.errors import ConfigError
from lit_gan.tensors import to_unit_range


class ImageDataModule(ResumableOrder):
    """Training split for training; a held-out split for validation, test, predict and metrics.

    Args:
        root: folder that holds (or receives) the data set.
        download: fetch the files if they are missing (not every data set can).
        batch_size: training batch size.
        image_size: side of the square images the model sees; None keeps the data set's own.
        num_workers: DataLoader worker processes.
        pin_memory: page-locked host memory for faster copies to a GPU.
        persistent_workers: keep workers alive between epochs (only with ``num_workers > 0``).
        drop_last: drop the last incomplete training batch.
    """

    channels = 3
    native_size = 32
    num_classes = 0  # classes of the labels (a conditional model's `num_classes`); 0: none to condition on

    def __init__(
        self,
        root: str = "data",
        download: bool = True,
        batch_size: PositiveInt = 64,
        image_size: Optional[PositiveInt] = None,
        num_workers: NonNegativeInt = 0,
        pin_memory: bool = False,
        persistent_workers: bool = False,
        drop_last: bool = True,
    ) -> None:
        super().__init__()
        check_positive_ints(batch_size=batch_size, image_size=image_size)
        self.root, self.download, self.batch_size, self.drop_last = root, download, int(batch_size), drop_last
        self.image_size = int(image_size) if image_size is not None else self.native_size
        self.loader_kwargs = dict(
            num_workers=num_workers, pin_memory=pin_memory, persistent_workers=persistent_workers and num_workers > 0
        )
        self.train_set: Optional[Dataset] = None
        self.held_out_set: Optional[Dataset] = None

    @property
    def img_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.image_size, self.image_size)

    def load(self) -> tuple[Dataset, Dataset]:
        """(training set, held-out set), each yielding (uint8 image (C, H, W), label)."""
        raise NotImplementedError

    def class_counts(self) -> Optional[Tensor]:
        """How many training images each class has (after ``setup``), or None where it is not known."""
        return None if self.train_set is None else class_counts(self.train_set, self.num_classes)

    def setup(self, stage: str = "fit") -> None:
        if self.train_set is None:
            self.train_set, self.held_out_set = self.load()
        n = len(self.train_set)
        if self.drop_last and self.batch_size > n:
            raise ConfigError(
                f"Expected argument `batch_size` ({self.batch_size}) to be at most the {n} training images"
                " with drop_last=True (no batch would be left)"
            )

    def train_dataloader(self) -> DataLoader:
        return self.training_loader(self.train_set, drop_last=self.drop_last, **self.loader_kwargs)

    def _held_out_loader(self) -> DataLoader:
        return DataLoader(self.held_out_set, batch_size=self.batch_size, **self.loader_kwargs)

    val_dataloader = test_dataloader = predict_dataloader = _held_out_loader

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        images, labels = batch
        images = to_unit_range(images)  # float images (a custom data set) pass as they are
        if images.shape[-1] != self.image_size:  # in-memory sets resize here, on the device
            images = F.interpolate(images, size=(self.image_size,) * 2, mode="bilinear", antialias=True).clamp_(-1, 1)
        return [images, labels]
