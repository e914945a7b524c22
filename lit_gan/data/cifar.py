"""CIFAR-10, read from its python pickle batches into memory as uint8.

The files are checked against torchvision's md5 sums before they are read, and read with an
unpickler that accepts only what the batches hold (dicts, lists, bytes, numpy arrays): a
replaced file can neither pass as CIFAR-10 nor run code.
"""

import io
import pickle
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset
from torchvision.datasets import CIFAR10

from lit_gan.data.images import ImageDataModule
from lit_gan.errors import DatasetNotFoundError, one_line
from lit_gan.files import file_digest

FOLDER = CIFAR10.base_folder  # "cifar-10-batches-py"
TRAIN_FILES = [name for name, _ in CIFAR10.train_list]
TEST_FILES = [name for name, _ in CIFAR10.test_list]
MD5 = dict(CIFAR10.train_list + CIFAR10.test_list)


class _BatchUnpickler(pickle.Unpickler):
    _allowed = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # protocol-2 pickles written by Python 3 store bytes this way
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._allowed:
            raise pickle.UnpicklingError(f"CIFAR-10 batch refers to {module}.{name}, which a CIFAR-10 batch never holds")
        return super().find_class(module, name)


def read_batches(folder: Path, names: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Parse CIFAR-10 python batches: images (N, 3, 32, 32) uint8 and labels (N,) int64."""
    images, labels = [], []
    for name in names:
        entry = _BatchUnpickler(io.BytesIO((folder / name).read_bytes()), encoding="latin1").load()
        images.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))  # rows are R, G, B planes
        labels.extend(entry["labels"])
    return torch.from_numpy(np.concatenate(images)), torch.tensor(labels, dtype=torch.long)


class CIFAR10DataModule(ImageDataModule):
    """CIFAR-10: 50,000 training images; the 10,000 test images are held out.

    Arguments: see :class:`~lit_gan.data.images.ImageDataModule`.
    """

    channels, native_size = 3, 32
    num_classes = 10
    checksums = MD5  # file name -> md5, as torchvision lists them

    def prepare_data(self) -> None:
        if self.download and not (Path(self.root) / FOLDER).is_dir():
            try:
                CIFAR10(self.root, train=True, download=True)  # downloads, extracts and verifies
            except Exception as err:  # no internet, a corrupted archive, a root that is a file
                raise DatasetNotFoundError(
                    f"CIFAR-10 could not be downloaded into `root`={self.root!r} ({one_line(err)})."
                    f" On a machine without internet, extract {CIFAR10.url} there and set `download: false`."
                ) from err

    def _verify(self, folder: Path) -> None:
        missing = [n for n in TRAIN_FILES + TEST_FILES if not (folder / n).is_file()]
        if missing:
            raise DatasetNotFoundError(
                f"CIFAR-10 not found under `root`={self.root!r}: expected {folder}/ with {', '.join(missing)}."
                f" Set `download: true` on a machine with internet, or extract {CIFAR10.url} into {self.root}."
            )
        for name in TRAIN_FILES + TEST_FILES:
            if file_digest(folder / name, "md5") != self.checksums[name]:
                raise DatasetNotFoundError(
                    f"CIFAR-10 file {folder / name} is corrupted (md5 differs from {self.checksums[name]}):"
                    f" delete {folder} and download it again."
                )

    def load(self) -> tuple[TensorDataset, TensorDataset]:
        folder = Path(self.root) / FOLDER
        self._verify(folder)
        return TensorDataset(*read_batches(folder, TRAIN_FILES)), TensorDataset(*read_batches(folder, TEST_FILES))
