"""Images (sample grids, critic landscapes) to every logger of a run that takes images: TensorBoard,
Weights & Biases, MLflow. A run with none that does (a CSVLogger, or no logger) gets them as PNG files in
its folder (``images/<tag>/step=000100.png`` beside its checkpoints), said once in the log.

A logger kind is a row of ``WRITERS`` (its class, the function that hands it an image), not a branch in
each callback; a subclass of a listed logger takes its row. wandb and mlflow are imported by Lightning's
loggers when they are used, so neither is needed unless its logger is chosen.
"""

import io
import os
import re
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch
from lightning.pytorch import Trainer
from lightning.pytorch.loggers import Logger, MLFlowLogger, TensorBoardLogger, WandbLogger
from lightning.pytorch.utilities import rank_zero_info
from PIL import Image

from lit_gan.callbacks.run_folder import run_folder
from lit_gan.checkpoint_io import write_atomically

ImageWriter = Callable[[Any, str, np.ndarray, int], None]  # (logger, tag, (H, W, C) uint8, step)


def to_uint8_hwc(image: Any, dataformats: str = "HWC") -> np.ndarray:
    """``image`` (a tensor or an array, (H, W, C) or (C, H, W) as ``dataformats`` says, C in 1, 3, 4) as
    (H, W, C) uint8: uint8 as it is, floats in [0, 1] times 255, clipped and truncated as TensorBoard's
    ``add_image`` does, so that every logger (and TensorBoard itself) gets the same pixels."""
    if dataformats not in ("HWC", "CHW"):
        raise ValueError(f"Expected argument `dataformats` to be 'HWC' or 'CHW', got {dataformats!r}")
    array = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if array.ndim != 3:
        raise ValueError(f"Expected argument `image` to have 3 dimensions ({dataformats}), got shape {array.shape}")
    if dataformats == "CHW":
        array = array.transpose(1, 2, 0)
    if array.shape[2] not in (1, 3, 4):
        raise ValueError(f"Expected argument `image` to have 1, 3 or 4 channels, got shape {array.shape}"
                         f" ({dataformats})")
    if array.dtype != np.uint8:
        array = (array.astype(np.float32) * 255).clip(0, 255).astype(np.uint8)
    return np.ascontiguousarray(array)


def _plain(image: np.ndarray) -> np.ndarray:
    """(H, W) for one channel, as W&B, MLflow and PIL read a grey image; (H, W, C) otherwise."""
    return image[..., 0] if image.shape[2] == 1 else image


def _tensorboard(logger: TensorBoardLogger, tag: str, image: np.ndarray, step: int) -> None:
    logger.experiment.add_image(tag, image, global_step=step, dataformats="HWC")


def _wandb(logger: WandbLogger, tag: str, image: np.ndarray, step: int) -> None:
    # one entry of the run's history at "trainer/global_step" = step, as Lightning logs its scalars
    logger.log_image(key=tag, images=[_plain(image)], step=step)


def _mlflow(logger: MLFlowLogger, tag: str, image: np.ndarray, step: int) -> None:
    # MLflow 2.16+: a stepped image (artifacts images/<key>+step+<step>+...png), shown with a step slider
    key = re.sub(r"[^A-Za-z0-9_\-./ ]", "_", tag)  # the characters MLflow allows in a key
    logger.experiment.log_image(logger.run_id, _plain(image), key=key, step=step)


WRITERS: dict[type, ImageWriter] = {
    TensorBoardLogger: _tensorboard,
    WandbLogger: _wandb,
    MLFlowLogger: _mlflow,
}


def _writer(logger: Logger) -> Optional[ImageWriter]:
    return next((WRITERS[cls] for cls in type(logger).__mro__ if cls in WRITERS), None)


def png_folder(trainer: Trainer) -> Path:
    """Where a run without a logger that takes images puts them: ``images`` in the run's folder (a
    CSVLogger's ``version_N``; with no logger, ``default_root_dir``)."""
    return Path(run_folder(trainer)) / "images"


_ANNOUNCED: set[Path] = set()  # the PNG folders said in the log already, once per process


def _png(trainer: Trainer, tag: str, image: np.ndarray, step: int) -> None:
    folder = png_folder(trainer)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", tag).strip(".") or "image"  # one folder per tag, never a path
    buffer = io.BytesIO()
    Image.fromarray(_plain(image)).save(buffer, format="PNG")
    write_atomically(folder / name / f"step={step:06d}.png", buffer.getbuffer())  # a killed run leaves no half PNG
    if folder.resolve() not in _ANNOUNCED:  # (resolved: a relative run folder is another run's in another folder)
        _ANNOUNCED.add(folder.resolve())
        shown = os.path.relpath(folder)
        shown = str(folder) if shown.startswith(os.pardir) else shown
        kinds = sorted({type(logger).__name__ for logger in trainer.loggers})
        why = f"{' and '.join(kinds)} {'takes' if len(kinds) == 1 else 'take'} no images" if kinds else "no logger"
        rank_zero_info(f"Images are written as PNG files under {shown}{os.sep} ({why})")


def takes_images(trainer: Trainer) -> bool:
    """Whether images drawn now go anywhere: not in a ``fast_dev_run``, which writes no logs."""
    return not trainer.fast_dev_run


def log_image(trainer: Trainer, tag: str, image: Any, step: int, dataformats: str = "HWC") -> None:
    """Send ``image`` ((H, W, C) or (C, H, W) as ``dataformats`` says; uint8, or floats in [0, 1]) as
    ``tag`` at ``step`` to every logger of ``trainer`` that takes images, or, when none does, to a PNG file
    (:func:`png_folder`). Call it on global rank 0 only (loggers write there)."""
    if not takes_images(trainer):
        return
    pixels = to_uint8_hwc(image, dataformats)
    writers = [(logger, writer) for logger in trainer.loggers if (writer := _writer(logger)) is not None]
    for logger, writer in writers:
        writer(logger, tag, pixels, step)
    if not writers:
        _png(trainer, tag, pixels, step)
