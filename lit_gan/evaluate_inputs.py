"""The inputs of ``lit-gan evaluate``, read and counted before anything is extracted: the real side (a data
module's held-out split, or a folder of images) and the generated side (a checkpoint's generator, or a folder
of samples), each a :class:`Side` whose images are drawn or read only when its ``batches`` run. The held-out
images and the samples come from :mod:`lit_gan.metrics.sources`, as in ``ImageQuality``. And the held-out
images written out as PNGs (``--write_real``), for other tools.
"""

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader

from lit_gan.cli_checks import check_writable_folder
from lit_gan.data.samples import SAMPLE_EXTENSIONS, SampleFolder
from lit_gan.errors import ConfigError, one_line
from lit_gan.files import leftovers, written_whole
from lit_gan.image_files import save_pngs
from lit_gan.metrics.features import FeatureExtractor, check_takes, input_shape
from lit_gan.metrics.sources import Batch, check_num_real, generated_batches, held_out_batches
from lit_gan.objectives.base import AdversarialModule


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


def read_generated(loaded: Optional[tuple[AdversarialModule, int]], checkpoint: Optional[str], samples: Optional[str],
                   num_samples: Optional[int], channels: Optional[int], batch_size: int, seed: int,
                   device: torch.device) -> Side:
    """The generator of ``checkpoint`` (``loaded``: the model and its step, read and checked) and its ``num_samples``
    samples, or the folder ``samples``."""
    if loaded is not None:
        model, step = loaded
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


EXPORTED = re.compile(r"\d{6,}\.png")  # what write_held_out names them (as SampleWriter's png/): 000000.png, ...


def write_held_out(data: LightningDataModule, num_real: Optional[int], folder: str, note: str = "") -> dict[str, Any]:
    """The first ``num_real`` (None: all) held-out images of ``data`` as uint8 PNGs ``000000.png`` ... in ``folder``
    (1 channel: grayscale), in the loader's order: what ``--real folder`` then reads, and torch-fidelity or
    clean-fid too. Written whole (:func:`lit_gan.files.written_whole`); the PNGs of an earlier write there are
    replaced; a folder holding other images is refused (they would be read as real images too). The classes
    are not kept. ``note``: a line to print once the inputs are checked."""
    check_writable_folder(folder, "`write_real`")
    target = Path(folder)
    files = sorted(f for f in target.iterdir() if f.is_file()) if target.is_dir() else []
    others = [f.name for f in files
              if f.suffix.lower().lstrip(".") in SAMPLE_EXTENSIONS and not EXPORTED.fullmatch(f.name)]
    if others:
        raise ConfigError(f"Expected argument `write_real` to be a new folder, or one holding only the PNGs of an"
                          f" earlier `--write_real` (replaced), got {folder!r}, which holds other images"
                          f" ({others[0]}, ...): choose another folder")
    data.prepare_data()
    data.setup("validate")
    shape = data_shape(data)
    if shape is None:
        raise ConfigError(f"Expected argument `write_real` with data of images, got {type(data).__name__}, whose"
                          f" samples have shape {tuple(getattr(data, 'img_shape', ()) or ())}, not (C, H, W)")
    n, written = held_out_count(data, num_real), 0
    if note:
        print(note, flush=True)
    try:
        with written_whole(target, [f for f in files if EXPORTED.fullmatch(f.name)] + leftovers(target)) as temp:
            for images, _ in held_out_batches(data.val_dataloader(), n, to_device(data, torch.device("cpu"))):
                save_pngs(images, [temp / f"{i:06d}.png" for i in range(written, written + len(images))])
                written += len(images)
    except OSError as err:  # a read-only file system, a full disk or quota
        why = os.strerror(err.errno) if err.errno else one_line(err)
        raise ConfigError(f"cannot write into `write_real` {folder}: {why} (nothing of this run was kept)") from err
    print(f"lit-gan evaluate: wrote the {n} held-out images of {type(data).__name__} {shape} as 000000.png ..."
          f" {n - 1:06d}.png to {target}{os.sep} (nothing scored; score against them with `--real {target}`)",
          flush=True)
    return {"write_real": str(target), "num_real": n, "data": type(data).__name__}


def _taker(extractor: FeatureExtractor) -> str:
    return f"`feature_extractor` ({type(extractor).__name__})"


def refuse_given(given: dict[str, Any], scored: str) -> None:
    """Refuse, in one line, an option (name -> value; None or False: not given) that does not apply to the
    checkpoint, ``scored``: what it is and how it is scored ("a checkpoint of points ..., which is scored ...")."""
    for name, value in given.items():
        if value not in (None, False):
            raise ConfigError(f"Expected argument `{name}` to be left out for {scored}")
