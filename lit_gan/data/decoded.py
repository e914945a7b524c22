"""Image files decoded with PIL, the way every file-based image module reads them: when each is read, or
once into a cache of the decoded images (``cache.py``), after which an epoch reads no file.

Each image is opened with PIL, converted to RGB (or L; 16-bit grayscale scaled to 8 bits), center-cropped,
resized and returned as uint8 (C, H, W); the conversion to [-1, 1] happens per batch on the device.
"""

import os
import warnings
from pathlib import Path
from typing import Literal, Optional, Sequence

import numpy as np
import PIL
import torch
import torchvision
from jsonargparse.typing import NonNegativeInt
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from lit_gan.data.cache import ImageCache, threads
from lit_gan.data.images import ImageDataModule
from lit_gan.errors import ConfigError, one_line, worker_message

# What PIL raises on a file it cannot identify, a truncated or corrupt one, or a decompression bomb
UNDECODABLE = (OSError, UnidentifiedImageError, SyntaxError, ValueError, Image.DecompressionBombError)
# PIL's modes of 16-bit grayscale files (PNG, TIFF: I;16; PGM: I), which ``convert`` clips to 8 bits, not scales
SIXTEEN_BITS = ("I;16", "I;16B", "I;16L", "I;16N", "I")


class ImageFileError(ConfigError):
    """An image file that cannot be used: it fails to decode, or it is smaller than ``center_crop``.

    Raised in a DataLoader worker, it comes back to the main process as ``ImageFileError("Caught
    ImageFileError in DataLoader worker process 0.\\nOriginal Traceback ...")`` (torch's
    ``ExceptionWrapper.reraise``), whose first line does not name the file: keep the original message only.
    """

    def __init__(self, message: str) -> None:
        super().__init__(worker_message(message))


def eight_bits(image: Image.Image) -> Image.Image:
    """A 16-bit grayscale image scaled to 8 bits ("L"), any other as it is: ``convert`` would clip it
    (0, 4369, 8738, ..., 65535 -> 0, 255, 255, ...).

    v >> 8 (the high byte), not round(v / 257): PIL reads a 16-bit RGB(A) PNG as 8-bit RGB(A) by its high
    bytes, so a grayscale file and an RGB file of the same values give the same images (the two differ by
    at most one level; both map 0 -> 0, 65535 -> 255 and an 8-bit level v, stored as 257 v, back to v).
    Mode "I" holds 32-bit integers: taken as 16-bit values, and clipped to 0..65535.
    """
    if image.mode not in SIXTEEN_BITS:
        return image
    values = np.asarray(image).astype(np.int64).clip(0, 65535)
    return Image.fromarray((values >> 8).astype(np.uint8))


def check_crop(crop: Optional[int], path: Path, size: tuple[int, int]) -> None:
    """Refuse a ``center_crop`` larger than the image ``path`` of ``size`` (width, height):
    torchvision's ``CenterCrop`` would pad it with black."""
    if crop and crop > min(size):
        raise ImageFileError(
            f"Expected argument `center_crop` ({crop}) to be at most the shorter side of every image, but {path}"
            f" is {size[0]} x {size[1]}: choose `center_crop` <= {min(size)}, or null to crop each image to its"
            " shorter side"
        )


class Decoder:
    """A file's uint8 image (C, size, size) in ``mode``; a file that fails to decode, or is smaller than ``crop``,
    is named in an ``ImageFileError``."""

    def __init__(self, mode: str, size: int, crop: Optional[int]) -> None:
        self.mode, self.size, self.crop = mode, size, crop
        crop_op = v2.CenterCrop(crop) if crop else v2.Lambda(lambda im: v2.functional.center_crop(im, min(im.size)))
        self.transform = v2.Compose([crop_op, v2.Resize(size, antialias=True), v2.PILToTensor()])

    def __call__(self, path: Path) -> torch.Tensor:
        try:
            with Image.open(path) as file:
                image = eight_bits(file).convert(self.mode)  # decodes the file
        except UNDECODABLE as err:
            raise ImageFileError(f"cannot read image {path} ({one_line(err)}): remove or replace it") from err
        check_crop(self.crop, path, image.size)
        return self.transform(image)

    def params(self) -> dict:
        """What, besides the file, decides its image: the key of a cache of them."""
        return {"mode": self.mode, "size": self.size, "crop": self.crop, "pillow": PIL.__version__,
                "torchvision": torchvision.__version__}


class ImageFiles(Dataset):
    """(uint8 image (C, size, size), label) for each path: decoded when it is read, or a row of ``cache``
    (which decodes every file of the folder, these among them, once)."""

    def __init__(self, paths: Sequence[Path], labels: Sequence[int], decode: Decoder,
                 cache: Optional[ImageCache] = None) -> None:
        self.paths, self.labels, self.decode, self.cache = list(paths), list(labels), decode, cache
        self.rows = np.array([cache.index[p] for p in self.paths], np.int64) if cache is not None else None

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        if self.cache is None:
            return self.decode(self.paths[i]), self.labels[i]
        return torch.from_numpy(np.array(self.cache.images()[self.rows[i]])), self.labels[i]

    def __getitems__(self, indices: list[int]) -> list[tuple[torch.Tensor, int]]:
        """A batch at once (the DataLoader's fetcher calls it): from the cache, one copy of its rows."""
        if self.cache is None:
            return [self[i] for i in indices]
        batch = torch.from_numpy(self.cache.images()[self.rows[indices]])  # (B, C, H, W), a copy
        return list(zip(batch, (self.labels[i] for i in indices)))


class DecodedImageModule(ImageDataModule):
    """An image module of files decoded with PIL: a cache of the decoded images, and loader defaults that suit it.

    Args:
        cache: ``disk`` (the default): every file is decoded once, when the first loader is made, into one
            memory-mapped file in ``cache_dir`` that later runs, DDP ranks (one builds, the others wait and
            read it) and workers share; a file added, removed or changed (its size or modification time) is
            decoded again. ``memory``: the same in each process's memory, every run. ``none``: each image
            decoded whenever it is read, every epoch (about 2,600 CelebA-sized JPEGs a second a core, against
            some 200,000 images a second from the cache: BENCHMARKS.md).
        cache_dir: folder of the cache file; None: ``.lit-gan-cache`` in the data's folder.
        num_workers: DataLoader worker processes; None: 0 with a cache (the main process copies rows 6x
            faster than 2 workers pass them back: BENCHMARKS.md), else the cores but one (for the training
            loop), at most 8.
        pin_memory: page-locked host memory for copies to a GPU; None: on when training on a CUDA device.
        **kwargs: the arguments of :class:`~lit_gan.data.images.ImageDataModule`.
    """

    def __init__(
        self,
        cache: Literal["disk", "memory", "none"] = "disk",
        cache_dir: Optional[str] = None,
        num_workers: Optional[NonNegativeInt] = None,
        pin_memory: Optional[bool] = None,
        **kwargs,
    ) -> None:
        if cache not in ("disk", "memory", "none"):
            raise ValueError(f"Expected argument `cache` to be 'disk', 'memory' or 'none', got {cache!r}")
        workers = num_workers if num_workers is not None else 0 if cache != "none" else min(8, threads() - 1)
        super().__init__(num_workers=workers, pin_memory=bool(pin_memory), **kwargs)
        self.cache, self.cache_dir, self._pin_on_cuda = cache, cache_dir, pin_memory is None

    def image_cache(self, paths: Sequence[Path], decode: Decoder, shape: tuple[int, int, int],
                    root: Path) -> Optional[ImageCache]:
        """The cache of the images of ``paths`` (under ``root``, whose ``.lit-gan-cache`` is the default folder)."""
        if self.cache == "none":
            return None
        folder = Path(self.cache_dir) if self.cache_dir else root / ".lit-gan-cache"
        directory = folder if self.cache == "disk" else None
        params = {**decode.params(), "root": os.path.realpath(root)}  # folders may share a `cache_dir`
        return ImageCache(paths, decode, shape, params, root, directory)

    def setup(self, stage: str = "fit") -> None:
        super().setup(stage)
        trainer = getattr(self, "trainer", None)
        if self._pin_on_cuda:
            self.loader_kwargs["pin_memory"] = trainer is not None and trainer.strategy.root_device.type == "cuda"

    def _decoded(self) -> None:
        """Fill the cache in this process, before any worker starts (each would decode on its own)."""
        for split in (self.train_set, self.held_out_set):
            if getattr(split, "cache", None) is not None:
                split.cache.images()
                # Lightning's advice to add workers, which would only slow a cache down (BENCHMARKS.md)
                warnings.filterwarnings("ignore", message=r"The '\w+' does not have many workers")

    def train_dataloader(self) -> DataLoader:
        self._decoded()
        return super().train_dataloader()

    def _held_out_loader(self) -> DataLoader:
        self._decoded()
        return super()._held_out_loader()

    val_dataloader = test_dataloader = predict_dataloader = _held_out_loader
