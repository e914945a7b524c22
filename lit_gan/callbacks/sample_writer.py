"""Samples out of a trained generator: ``lit-gan predict --config ... --ckpt_path ...``."""

import math
from pathlib import Path

import numpy as np
import torch
from jsonargparse.typing import PositiveInt
from lightning.pytorch import Callback, LightningModule, Trainer
from PIL import Image
from torchvision.utils import make_grid

from lit_gan.checks import check_positive_ints
from lit_gan.data.images import to_uint8


class SampleWriter(Callback):
    """When ``predict`` starts, draw ``num_samples`` generator samples and write them to ``dirpath``:

    - ``samples.npz``: ``samples``, float32 (N, *img_shape) in data space (images in [-1, 1]);
    - ``grid.png``: the first ``grid_size`` samples as an image grid (2D data: a scatter plot);
    - ``png/000000.png ...``: for images, one uint8 PNG per sample, the layout that torch-fidelity
      (``--input1 dirpath/png``) and clean-fid read.

    Samples are drawn on global rank 0 only, in batches of ``batch_size``, with ``pl_module.sample``
    (eval mode, no gradient), from a private generator seeded by ``seed``: the same checkpoint and
    seed give the same files.

    Args:
        dirpath: output folder (created).
        num_samples: how many samples to write.
        batch_size: samples drawn per generator call.
        grid_size: samples in grid.png.
        png_folder: write the folder of PNGs (images only).
        seed: seed of the latents.
    """

    def __init__(
        self,
        dirpath: str = "samples",
        num_samples: PositiveInt = 10000,
        batch_size: PositiveInt = 500,
        grid_size: PositiveInt = 64,
        png_folder: bool = True,
        seed: int = 0,
    ) -> None:
        check_positive_ints(num_samples=num_samples, batch_size=batch_size, grid_size=grid_size)
        self.dirpath, self.num_samples, self.batch_size = Path(dirpath), int(num_samples), int(batch_size)
        self.grid_size, self.png_folder, self.seed = int(grid_size), png_folder, seed

    def draw(self, pl_module: LightningModule) -> torch.Tensor:
        rng = torch.Generator().manual_seed(self.seed)
        parts = []
        for start in range(0, self.num_samples, self.batch_size):
            n = min(self.batch_size, self.num_samples - start)
            parts.append(pl_module.sample(n, z=torch.randn(n, pl_module.latent_dim, generator=rng)).float().cpu())
        return torch.cat(parts)

    def on_predict_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        samples = self.draw(pl_module)
        self.dirpath.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(self.dirpath / "samples.npz", samples=samples.numpy())
        if samples.dim() == 4:
            self._write_images(samples)
        else:
            self._write_scatter(samples)

    def _write_images(self, samples: torch.Tensor) -> None:
        images = to_uint8(samples)  # (N, C, H, W)
        grid = make_grid(images[: self.grid_size], nrow=int(math.ceil(math.sqrt(min(self.grid_size, len(images))))))
        Image.fromarray(grid.permute(1, 2, 0).numpy()).save(self.dirpath / "grid.png")
        if self.png_folder:
            folder = self.dirpath / "png"
            folder.mkdir(exist_ok=True)
            hwc = images.permute(0, 2, 3, 1).numpy()
            for i, image in enumerate(hwc):
                Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(folder / f"{i:06d}.png")

    def _write_scatter(self, samples: torch.Tensor) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        points = samples.flatten(1)[:, :2].numpy()
        fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
        ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.5)
        ax.set_aspect("equal")
        ax.set_title(f"{len(points)} generator samples")
        fig.savefig(self.dirpath / "grid.png")
        plt.close(fig)
