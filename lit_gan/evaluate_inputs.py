"""The inputs of ``lit-gan evaluate``, read and counted before anything is extracted: the real side (a data
module's held-out split, or a folder of images) and the generated side (a checkpoint's generator, or a folder
of samples), each a :class:`Side` whose images are drawn or read only when its ``batches`` run. The held-out
images and the samples come from :mod:`lit_gan.metrics.sources`, as in ``ImageQuality``.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader

from lit_gan.data.samples import SampleFolder
from lit_gan.metrics.features import FeatureExtractor, check_takes, input_shape
from lit_gan.metrics.sources import Batch, check_num_real, generated_batches, held_out_batches
from lit_gan.objectives.base import AdversarialModule
from lit_gan.objectives.loading import load_with_step


@dataclass
class Side:
    """One side of the comparison, read and counted; its images are drawn or read only when ``batches`` runs."""

    count: int
    batches: Callable[[], Iterable[Batch]]  # (images, labels or None) batches, on the device
    name: str  # in the protocol line
    source: dict[str, str]  # the cache key's source
    check_shape: Callable[[FeatureExtractor], None]
    model: Optional[AdversarialModule] = None  # the generator of a checkpoint
    data: Optional[LightningDataModule] = None  # the data module of the held-out split
    no_classes: Optional[str] = None  # why its images have no classes, in words (None: they have)


def data_shape(data: LightningDataModule) -> Optional[tuple[int, ...]]:
    """The shape (C, H, W) of the images of ``data`` (its ``img_shape``), None if it does not say or holds no images."""
    shape = getattr(data, "img_shape", None)
    return tuple(int(s) for s in shape) if shape is not None and len(shape) == 3 else None


def to_device(data: LightningDataModule, device: torch.device) -> Callable[[Any], Any]:
    """A loader's batch as the data module converts training batches (its hooks; uint8 -> [-1, 1], resizing)."""
    return lambda batch: data.on_after_batch_transfer(
        data.transfer_batch_to_device(data.on_before_batch_transfer(batch, 0), device, 0), 0)


def folder_batches(dataset: SampleFolder, batch_size: int, device: torch.device) -> Iterable[Batch]:
    for images in DataLoader(dataset, batch_size=batch_size, collate_fn=dataset.collate):
        yield images.to(device), None


def held_out_count(data: LightningDataModule, n: Optional[int]) -> int:
    """How many held-out images the real side gives: ``n`` (all: None), at most as many as ``data`` holds."""
    available = len(data.val_dataloader().dataset)
    check_num_real(n, available, data)
    return available if n is None else n


def read_real(data: Optional[LightningDataModule], real: Optional[str], num_real: Optional[int],
              channels: Optional[int], batch_size: int, device: torch.device) -> Side:
    """The held-out split of ``data`` (set up now), or the folder ``real``: counted and listed, not read."""
    if data is not None:
        data.prepare_data()
        data.setup("validate")
        n, convert = held_out_count(data, num_real), to_device(data, device)
        return Side(n, lambda: held_out_batches(data.val_dataloader(), n, convert), f"{type(data).__name__} val",
                    {"data": type(data).__name__, "split": "val"},
                    lambda extractor: check_takes(extractor, data_shape(data), "the images of `data`"), data=data)
    files = SampleFolder(real, num_real, ("real", "num_real"), channels)
    name = str(Path(real).resolve())
    return Side(len(files), lambda: folder_batches(files, batch_size, device), name, {"data": name, "split": "folder"},
                lambda extractor: files.check_shape(input_shape(extractor), _taker(extractor)),
                no_classes="a folder as `real` has none: give `data`")


def read_generated(checkpoint: Optional[str], samples: Optional[str], num_samples: Optional[int],
                   channels: Optional[int], batch_size: int, seed: int, device: torch.device) -> Side:
    """The checkpoint's generator (read and checked now) and its ``num_samples`` samples, or the folder ``samples``."""
    if checkpoint is not None:
        model, step = load_with_step(checkpoint, device, "checkpoint")  # lit_gan.load's, imports limited
        n = num_samples or 10000
        no_classes = None if model.num_classes else "the checkpoint's model is unconditional (`num_classes` 0)"
        return Side(n, lambda: generated_batches(model, n, batch_size, seed),
                    f"{checkpoint}, generator step {step}, latent seed {seed}",
                    {"data": "generated", "split": "checkpoint"},
                    lambda extractor: check_takes(extractor, model.img_shape, "the images of `checkpoint`"),
                    model=model, no_classes=no_classes)
    files = SampleFolder(samples, num_samples, channels=channels)  # listed and counted now
    return Side(len(files), lambda: folder_batches(files, batch_size, device), str(Path(samples).resolve()),
                {"data": "generated", "split": "folder"},
                lambda extractor: files.check_shape(input_shape(extractor), _taker(extractor)),
                no_classes="a folder of `samples` has none: give a `checkpoint` of a conditional model")


def _taker(extractor: FeatureExtractor) -> str:
    return f"`feature_extractor` ({type(extractor).__name__})"
