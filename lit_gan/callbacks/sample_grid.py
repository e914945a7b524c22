"""Sample grids from a fixed latent batch, the usual way to watch an image GAN learn
(Radford et al. 2016, DCGAN, Figures 2-3: samples after a number of passes over the data)."""

import torch
from lightning.pytorch import LightningModule, Trainer
from torch import Tensor
from torchvision.utils import make_grid

from lit_gan.callbacks.figures import log_image
from lit_gan.callbacks.periodic import PeriodicImage
from lit_gan.checks import check_not_negative, check_positive_ints
from lit_gan.tensors import fixed_latents, to_unit_interval


class SampleGrid(PeriodicImage):
    """Every ``every_n_steps`` generator updates, ``G(z)`` for the same ``n_samples`` latents
    ``z ~ N(0, I)`` (drawn once from ``seed``), de-normalized from ``value_range`` to [0, 1] and
    laid out by ``torchvision.utils.make_grid``, is logged as ``tag``, shape (3, H, W), to every logger that
    takes images (TensorBoard, W&B, MLflow), else as PNG files (:func:`~lit_gan.callbacks.figures.log_image`).

    For a class-conditional model the grid has one row per class, each row the same
    ``n_samples // num_classes`` latents (at least one) drawn for that class.

    The same latents at every step show the same samples improving. They come from a private
    ``torch.Generator``, so the callback does not change the training run's random draws.
    Samples are drawn with ``pl_module.sample`` (eval mode, no gradient). Images only: the
    model's ``img_shape`` must be (C, H, W) with C in (1, 3); for 2D toy data use
    :class:`~lit_gan.callbacks.CriticLandscape`.

    Args:
        every_n_steps: draw every this many generator updates, and once at the end of training.
        n_samples: how many samples in the grid.
        nrow: samples per row of the grid.
        value_range: (low, high) of the data; MNIST in lit-gan is scaled to [-1, 1].
        padding: pixels between the images of the grid.
        tag: the image's tag (TensorBoard), key (W&B, MLflow) or folder (PNG files).
        seed: seed of the fixed latent batch.
    """

    def __init__(
        self,
        every_n_steps: int = 500,
        n_samples: int = 64,
        nrow: int = 8,
        value_range: tuple[float, float] = (-1.0, 1.0),
        padding: int = 2,
        tag: str = "samples",
        seed: int = 0,
    ) -> None:
        super().__init__(every_n_steps)
        check_positive_ints(n_samples=n_samples, nrow=nrow)
        if len(value_range) != 2 or not float(value_range[0]) < float(value_range[1]):
            raise ValueError(f"Expected argument `value_range` to be (low, high) with low < high, got {value_range}")
        check_not_negative(padding=padding)
        self.n_samples, self.nrow, self.padding = int(n_samples), int(nrow), int(padding)
        self.value_range = (float(value_range[0]), float(value_range[1]))
        self.tag, self.seed = tag, int(seed)
        self._z: Tensor = torch.empty(0)

    def check(self, pl_module: LightningModule) -> str:
        shape = tuple(pl_module.img_shape)
        if len(shape) != 3 or shape[0] not in (1, 3):
            return f"it needs images of shape (C, H, W) with C in (1, 3), the model's img_shape is {shape}"
        return ""

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        super().on_fit_start(trainer, pl_module)
        self._z = fixed_latents(self.n_samples, pl_module.latent_dim, self.seed)  # (n, latent_dim), on the CPU

    def grid(self, pl_module: LightningModule) -> Tensor:
        """The grid of the fixed latents under the current generator, (3, H, W) in [0, 1], on the CPU."""
        classes, nrow = getattr(pl_module, "num_classes", 0), self.nrow
        if classes:  # a row per class, the same latents in each
            nrow = max(1, self.n_samples // classes)
            z, labels = self._z[:nrow].repeat(classes, 1), torch.arange(classes).repeat_interleave(nrow)
            samples = pl_module.sample(len(z), z=z, labels=labels.to(pl_module.device))
        else:
            samples = pl_module.sample(self.n_samples, z=self._z)  # (n, C, H, W), eval mode, no grad
        images = to_unit_interval(samples.detach().cpu(), self.value_range)
        return make_grid(images, nrow=nrow, padding=self.padding)  # 1 channel is repeated to 3

    def draw(self, trainer: Trainer, pl_module: LightningModule) -> None:
        log_image(trainer, self.tag, self.grid(pl_module), trainer.global_step, dataformats="CHW")
