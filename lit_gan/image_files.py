"""Samples as picture files: images in [-1, 1] as uint8 PNGs, one per image or as a grid, and 2-D points
as a scatter plot. ``SampleWriter`` (``lit-gan predict``) and ``lit-gan generate`` write theirs alike."""

import math
from pathlib import Path
from typing import Optional

import torch
from PIL import Image
from torch import Tensor
from torchvision.utils import make_grid

from lit_gan.tensors import to_uint8


def save_pngs(images: Tensor, paths: list[Path]) -> None:
    """Images (N, C, H, W), float in [-1, 1] or uint8, as N PNGs, ``paths[i]`` for image i: grayscale for 1
    channel, RGB for 3."""
    hwc = to_uint8(images.detach().cpu()).permute(0, 2, 3, 1).numpy()
    for image, path in zip(hwc, paths):
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(path)  # 1 channel: grayscale ("L")


def save_grid(images: Tensor, path: Path, nrow: Optional[int] = None, padding: int = 2) -> None:
    """Images (N, C, H, W), float in [-1, 1] or uint8, as one RGB PNG, ``nrow`` to a row (default: a square)."""
    nrow = nrow or int(math.ceil(math.sqrt(len(images))))
    grid = make_grid(to_uint8(images.detach().cpu()), nrow=nrow, padding=padding)  # (3, H', W'), 1 channel repeated
    Image.fromarray(grid.permute(1, 2, 0).numpy()).save(path)


def save_scatter(points: Tensor, path: Path, title: str, labels: Optional[Tensor] = None, joined: bool = False) -> None:
    """Points (N, D) as a scatter plot PNG of their first two coordinates (D = 1: against 0), coloured by
    ``labels`` (N,) when given, joined in order by a line when ``joined`` (an interpolation's path).
    A matplotlib Figure of its own, no pyplot: the caller's backend and open figures are left alone."""
    from matplotlib.figure import Figure  # matplotlib only where a plot is drawn

    flat = points.detach().cpu().float().flatten(1)
    xy = (flat[:, :2] if flat.shape[1] >= 2 else torch.cat([flat, torch.zeros_like(flat)], dim=1)).numpy()
    fig = Figure(figsize=(5, 5), dpi=100)
    ax = fig.subplots()
    if joined:
        ax.plot(xy[:, 0], xy[:, 1], lw=0.5, color="0.6")
    colours = {} if labels is None else {"c": labels.cpu().numpy(), "cmap": "tab10"}
    ax.scatter(xy[:, 0], xy[:, 1], s=2 if len(xy) > 100 else 8, alpha=0.5 if len(xy) > 100 else 1.0, **colours)
    ax.set_aspect("equal")
    ax.set_title(title)
    fig.savefig(path)
