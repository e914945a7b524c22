"""Samples out of a trained generator: ``lit-gan predict --config ... --ckpt_path ...``."""

import os
import re
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from jsonargparse.typing import PositiveInt
from lightning.pytorch import Callback, LightningModule, Trainer

from lit_gan.checks import check_positive_ints
from lit_gan.errors import ConfigError, one_line
from lit_gan.files import leftovers, written_whole
from lit_gan.image_files import save_grid, save_pngs, save_scatter
from lit_gan.tensors import fixed_latents, to_uint8

PNG_NAME = re.compile(r"\d{6,}\.png")  # what _write_images names them: 000000.png, ...


class SampleWriter(Callback):
    """When ``predict`` starts, draw ``num_samples`` generator samples and write them to ``dirpath``:

    - ``samples.npz``: ``samples``, float32 (N, *img_shape) in data space (images in [-1, 1]);
    - ``grid.png``: the first ``grid_size`` samples as an image grid (2D data: a scatter plot);
    - ``png/000000.png ...``: for images, one uint8 PNG per sample, the layout that torch-fidelity
      (``--input1 dirpath/png``) and clean-fid read.

    Samples are drawn on global rank 0 only, in batches of ``batch_size``, with ``pl_module.sample``
    (eval mode, no gradient), from a private generator seeded by ``seed``: the same checkpoint and
    seed give the same files.

    The files are written into a temporary folder in ``dirpath`` (``.lit-gan-unfinished-*``) and
    moved into place at the end (:func:`lit_gan.files.written_whole`): a run killed while writing
    leaves no ``samples.npz``, ``grid.png`` or ``png/`` that passes for a result (``lit-gan evaluate``
    refuses its temporary folder), and one that cannot write (a read-only folder, a full disk) stops
    in one line, every rank, with ``dirpath`` as it was.

    Args:
        dirpath: output folder (created).
        num_samples: how many samples to write.
        batch_size: samples drawn per generator call.
        grid_size: samples in grid.png.
        png_folder: write the folder of PNGs (images only).
        seed: seed of the latents.
        classes: a class-conditional model's classes to draw, taken in turn (sample i is of class
            ``classes[i % len(classes)]``; ``[7]``: only sevens); None: every class in turn (i mod
            ``num_classes``). The labels go into ``samples.npz`` as ``labels``.
        overwrite: replace the samples of an earlier run in ``dirpath`` (its PNGs included, so that
            ``png/`` never mixes two runs), and what a run stopped while writing left there, once the
            new files are written; without it such a ``dirpath`` is refused before drawing.
    """

    def __init__(
        self,
        dirpath: str = "samples",
        num_samples: PositiveInt = 10000,
        batch_size: PositiveInt = 500,
        grid_size: PositiveInt = 64,
        png_folder: bool = True,
        seed: int = 0,
        classes: Optional[list[int]] = None,
        overwrite: bool = False,
    ) -> None:
        check_positive_ints(num_samples=num_samples, batch_size=batch_size, grid_size=grid_size)
        if classes is not None and (not classes or any(not isinstance(c, int) or c < 0 for c in classes)):
            raise ValueError(f"Expected argument `classes` to be a list of class indices >= 0, got {classes!r}")
        self.classes = None if classes is None else [int(c) for c in classes]
        self.dirpath, self.num_samples, self.batch_size = Path(dirpath), int(num_samples), int(batch_size)
        self.grid_size, self.png_folder, self.seed, self.overwrite = int(grid_size), png_folder, seed, overwrite

    def earlier_files(self) -> list[Path]:
        """What earlier runs wrote in ``dirpath``: samples.npz, grid.png, png/NNNNNN.png, and what one
        stopped while writing left."""
        files = [self.dirpath / name for name in ("samples.npz", "grid.png")]
        pngs = sorted(f for f in (self.dirpath / "png").glob("*.png") if PNG_NAME.fullmatch(f.name))
        return [f for f in files if f.is_file()] + pngs + leftovers(self.dirpath)

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if stage != "predict":
            return
        num_classes = int(getattr(pl_module, "num_classes", 0))
        if self.classes is not None and not num_classes:
            raise ConfigError(f"Expected argument `classes` to be left out: the model is not class-conditional"
                              f" (`num_classes` 0), got {self.classes}")
        if self.classes is not None and max(self.classes) >= num_classes:
            raise ConfigError(f"Expected argument `classes` to be class indices in 0..{num_classes - 1}, got {self.classes}")
        if self.dirpath.exists() and not self.dirpath.is_dir():
            raise ConfigError(f"Expected argument `dirpath` ({self.dirpath}) to be a folder, but it is a file")
        earlier = self.earlier_files()
        if earlier and not self.overwrite:
            left = leftovers(self.dirpath)
            what = "the unfinished output of a run stopped while writing" if left else "the samples of an earlier run"
            raise ConfigError(
                f"`dirpath` {self.dirpath} holds {what} ({len(earlier)} files, e.g. {(left or earlier)[0].name}):"
                " choose another `dirpath`, or set `overwrite: true` to replace them"
            )

    def labels(self, pl_module: LightningModule) -> Optional[torch.Tensor]:
        """The classes of the samples (a conditional model's): ``classes`` in turn, else every class in turn."""
        num_classes = int(getattr(pl_module, "num_classes", 0))
        if not num_classes:
            return None
        order = torch.tensor(self.classes) if self.classes is not None else torch.arange(num_classes)
        return order[torch.arange(self.num_samples) % len(order)]

    def draw(self, pl_module: LightningModule) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        latents = fixed_latents(self.num_samples, pl_module.latent_dim, self.seed)
        labels = self.labels(pl_module)
        parts = [None] * len(latents.split(self.batch_size)) if labels is None else labels.split(self.batch_size)
        samples = torch.cat([pl_module.sample(len(z), z=z, labels=y).float().cpu()
                             for z, y in zip(latents.split(self.batch_size), parts)])
        return samples, labels

    def on_predict_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # rank 0 writes; every rank gets its error, so that all of them stop with the same line
        error = self.write(pl_module) if trainer.is_global_zero else None
        error = trainer.strategy.broadcast(error, src=0)
        if error is not None:
            raise ConfigError(error)

    def write(self, pl_module: LightningModule) -> Optional[str]:
        """Draw the samples and write them into ``dirpath``, whole; None, or why they could not be written."""
        try:
            # the temporary folder first: a read-only dirpath fails before anything is drawn
            with written_whole(self.dirpath, replaced=self.earlier_files()) as folder:  # only with overwrite (setup)
                samples, labels = self.draw(pl_module)
                extra = {} if labels is None else {"labels": labels.numpy()}
                np.savez_compressed(folder / "samples.npz", samples=samples.numpy(), **extra)
                if samples.dim() == 4:
                    self._write_images(samples, folder)
                else:
                    self._write_scatter(samples, folder)
        except OSError as err:  # a read-only file system, a full disk or quota
            why = os.strerror(err.errno) if err.errno else one_line(err)
            return f"cannot write the samples into `dirpath` {self.dirpath}: {why} (nothing of them was kept)"
        return None

    def _write_images(self, samples: torch.Tensor, into: Path) -> None:
        images = to_uint8(samples)  # (N, C, H, W)
        save_grid(images[: self.grid_size], into / "grid.png")
        if self.png_folder:
            folder = into / "png"
            folder.mkdir()
            save_pngs(images, [folder / f"{i:06d}.png" for i in range(len(images))])

    def _write_scatter(self, samples: torch.Tensor, into: Path) -> None:
        save_scatter(samples, into / "grid.png", f"{len(samples)} generator samples")
