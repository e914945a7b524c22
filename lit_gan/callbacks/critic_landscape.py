"""The critic's value over the plane, for 2D toy data (Gulrajani et al. 2017, WGAN-GP, Figure 1a:
"value surfaces of WGAN critics trained to optimality on toy datasets" with weight clipping and
with a gradient penalty)."""

from typing import Any, Optional

import numpy as np
import torch
from lightning.pytorch import LightningModule, Trainer
from torch import Tensor

from lit_gan.callbacks.figures import log_image
from lit_gan.callbacks.periodic import PeriodicImage
from lit_gan.checks import check_greater_than_zero
from lit_gan.networks.packing import pack_size
from lit_gan.tensors import eval_mode, fixed_latents, real_images


class CriticLandscape(PeriodicImage):
    """Every ``every_n_steps`` generator updates, a figure of the critic's output f(x) as filled
    contours over a square of the plane, with real points and generated points on top, logged as ``tag``,
    an RGB image (H, W, 3) = (size_px, 1.2 size_px, 3), to every logger that takes images (TensorBoard,
    W&B, MLflow), else as PNG files (:func:`~lit_gan.callbacks.figures.log_image`).

    f is the raw output of ``pl_module.critic``: the Wasserstein critic for WGAN and WGAN-GP, the
    logit of D for GAN, V (before g_f) for f-GAN. The generated points come from a fixed latent
    batch (drawn once from ``seed``, through a private ``torch.Generator``), so successive
    figures show the same points moving. The real points are the first ``n_points`` of the
    training batches, kept as they pass (no extra data loading). Both networks run in eval mode
    without gradients; their modes are restored. Needs matplotlib (imported when first drawn,
    with the Agg backend).

    Args:
        every_n_steps: draw every this many generator updates, and once at the end of training.
        n_points: how many real and how many generated points to show.
        resolution: grid points per side on which f is evaluated.
        extent: the square is [-extent, extent]^2; None: 1.25 times the largest coordinate of the real points.
        levels: number of contour levels.
        size_px: height of the image in pixels; the width is 1.2 times that (room for the color bar).
        tag: the image's tag (TensorBoard), key (W&B, MLflow) or folder (PNG files).
        seed: seed of the fixed latent batch.
    """

    def __init__(
        self,
        every_n_steps: int = 500,
        n_points: int = 512,
        resolution: int = 100,
        extent: Optional[float] = None,
        levels: int = 20,
        size_px: int = 480,
        tag: str = "critic_landscape",
        seed: int = 0,
    ) -> None:
        super().__init__(every_n_steps)
        for name, value in (("n_points", n_points), ("resolution", resolution), ("levels", levels)):
            if int(value) < 2:
                raise ValueError(f"Expected argument `{name}` to be an integer >= 2, got {value}")
        if int(size_px) < 200:
            raise ValueError(f"Expected argument `size_px` to be an integer >= 200, got {size_px}")
        check_greater_than_zero(extent=extent)
        self.n_points, self.resolution = int(n_points), int(resolution)
        self.levels, self.size_px = int(levels), int(size_px)
        self.extent = None if extent is None else float(extent)
        self.tag, self.seed = tag, int(seed)
        self._z: Tensor = torch.empty(0)
        self._real: list[Tensor] = []  # real points seen so far, on the CPU, n_points at most in all

    def check(self, pl_module: LightningModule) -> str:
        if tuple(pl_module.img_shape) != (2,):
            return f"it needs 2D points, the model's img_shape is {tuple(pl_module.img_shape)}"
        if pack_size(pl_module.critic) > 1:
            return "a packed critic (Packed, PacGAN) scores packs of points, not points"
        return ""

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        super().on_fit_start(trainer, pl_module)
        self._z = fixed_latents(self.n_points, pl_module.latent_dim, self.seed)  # (n, latent_dim)

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        missing = self.n_points - sum(len(r) for r in self._real)
        if self._enabled and trainer.is_global_zero and missing > 0:
            self._real.append(real_images(batch)[:missing].detach().float().cpu())
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    @torch.no_grad()
    def values(self, pl_module: LightningModule, extent: float) -> tuple[np.ndarray, np.ndarray]:
        """f on a ``resolution`` x ``resolution`` grid over [-extent, extent]^2, and the fixed fake points."""
        ticks = torch.linspace(-extent, extent, self.resolution)
        xx, yy = torch.meshgrid(ticks, ticks, indexing="xy")  # (R, R) each; rows follow y
        grid = torch.stack([xx.flatten(), yy.flatten()], dim=1).to(pl_module.device, pl_module.dtype)  # (R*R, 2)
        classes = getattr(pl_module, "num_classes", 0)
        z = self._z.to(pl_module.device)
        with eval_mode(pl_module.critic):  # a conditional critic: its mean over the classes
            scores = [pl_module.judge(grid, torch.full((len(grid),), c, device=grid.device) if classes else None)
                      for c in range(max(classes, 1))]
            f = torch.stack(scores).float().mean(0).view(self.resolution, self.resolution)  # (R, R)
        with eval_mode(pl_module.generator):  # the trained generator, which the critic sees (not its EMA)
            labels = torch.arange(len(z), device=z.device) % classes if classes else None
            fake = pl_module.generate(z, labels).float()  # (n, 2); a conditional model's: the classes in turn
        return f.cpu().numpy(), fake.cpu().numpy()

    def figure(self, pl_module: LightningModule, step: int) -> np.ndarray:
        """The figure as an RGB array, (size_px, round(1.2 * size_px), 3) uint8."""
        import matplotlib

        matplotlib.use("Agg", force=False)  # no display; leaves a backend the user chose alone
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        real = torch.cat(self._real).numpy()  # (n, 2)
        extent = self.extent or 1.25 * float(np.abs(real).max())
        f, fake = self.values(pl_module, extent)
        ticks = np.linspace(-extent, extent, self.resolution)
        dpi = 100
        fig = Figure(figsize=(round(1.2 * self.size_px) / dpi, self.size_px / dpi), dpi=dpi, layout="constrained")
        canvas = FigureCanvasAgg(fig)  # a Figure, not pyplot: no global state, nothing to close
        ax = fig.add_subplot()
        filled = ax.contourf(ticks, ticks, f, levels=self.levels, cmap="viridis")
        fig.colorbar(filled, ax=ax, fraction=0.046, pad=0.04, label="critic output f(x)")
        ax.scatter(real[:, 0], real[:, 1], s=4, c="tab:orange", label="real")
        ax.scatter(fake[:, 0], fake[:, 1], s=4, c="white", edgecolors="none", label="generated")
        ax.set_xlim(-extent, extent)
        ax.set_ylim(-extent, extent)
        ax.set_aspect("equal")
        ax.set_title(f"{type(pl_module).__name__}, step {step}", fontsize=10, loc="left")  # clear of the bar's offset
        ax.legend(loc="upper right", fontsize=7, framealpha=0.6)
        canvas.draw()
        return np.asarray(canvas.buffer_rgba())[..., :3].copy()  # (H, W, 3) uint8

    def draw(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._real:  # a batch seen
            log_image(trainer, self.tag, self.figure(pl_module, trainer.global_step), trainer.global_step)
