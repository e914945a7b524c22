"""Small tensor helpers that every layer shares: the real images of a batch, the two image ranges,
fixed latents, and eval mode for a while. They import nothing of lit-gan."""

from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import torch
from torch import Tensor, nn


def real_images(batch: Any) -> Tensor:
    """The images (or points) of a batch: ``[images, labels]`` (the image data sets) or a tensor."""
    return batch[0] if isinstance(batch, (tuple, list)) else batch


def to_unit_range(images: Tensor) -> Tensor:
    """uint8 in [0, 255] -> float in [-1, 1] (a new tensor); float images are returned as they are."""
    if images.dtype == torch.uint8:
        return images.float().div_(127.5).sub_(1.0)
    return images


def to_uint8(images: Tensor) -> Tensor:
    """float in [-1, 1] -> uint8 in [0, 255], the inverse of ``to_unit_range`` up to rounding (values
    outside are clamped); uint8 images are returned as they are."""
    if images.dtype == torch.uint8:
        return images
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def to_unit_interval(images: Tensor, value_range: Sequence[float]) -> Tensor:
    """Map images from ``value_range`` (the data's scale, e.g. [-1, 1] for a tanh generator) to
    [0, 1], the range TensorBoard shows; values outside are clamped, not rescaled. float32."""
    low, high = float(value_range[0]), float(value_range[1])
    return ((images.float() - low) / (high - low)).clamp_(0.0, 1.0)


def fixed_latents(n: int, latent_dim: int, seed: int) -> Tensor:
    """n latents z ~ N(0, I), (n, latent_dim) on the CPU, from a private generator seeded by ``seed``:
    the same at every call, and the global random stream (the training run's) is not touched."""
    return torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(int(seed)))


@contextmanager
def eval_mode(*modules: nn.Module) -> Iterator[None]:
    """Put ``modules`` in eval mode for the block, then back in the mode each was in."""
    modes = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        yield
    finally:
        for m, mode in zip(modules, modes):
            m.train(mode)
