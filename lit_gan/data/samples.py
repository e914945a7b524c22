"""A folder of images to score, read exactly as torch-fidelity reads one.

``torch_fidelity.calculate_metrics(input1="path/")`` takes the files of that folder (not of its
sub-folders) whose extension is png, jpg or jpeg, sorted by their real path, decodes each with
PIL, converts it to RGB and keeps it as uint8 (3, H, W), unresized. The order matters: IS and KID
draw their splits and subsets by position. :class:`SampleFolder` takes the same files in the same
order and gives the same tensors, so lit-gan's values on a folder are torch-fidelity's. With
``channels=1`` (a feature extractor or a data set of grayscale images) it converts them to
grayscale ("L") instead: (1, H, W).
"""

import os
from pathlib import Path
from typing import Optional, Sequence

import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset
from torchvision.transforms.v2.functional import pil_to_tensor

from lit_gan.errors import ConfigError

SAMPLE_EXTENSIONS = ("png", "jpg", "jpeg")  # torch-fidelity's samples_find_ext
NOT_SAMPLES = ("grid.png", "strip.png", "scatter.png")  # what `lit-gan generate` writes beside its samples.npz


def sample_paths(folder: str, limit: Optional[int] = None, names: tuple[str, str] = ("samples", "num_samples")) -> list[str]:
    """The image files directly in ``folder``, as torch-fidelity lists them (but the grids that ``lit-gan generate``
    writes beside its samples.npz); the first ``limit``. ``names``: the arguments that gave ``folder`` and
    ``limit``, for the errors."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise ConfigError(f"`{names[0]}` {folder!r} is not a folder of images (png, jpg, jpeg)")
    if (path / "png").is_dir() and (path / "samples.npz").is_file():  # SampleWriter's output: its grid is no sample
        raise ConfigError(f"`{names[0]}` {folder!r} is the output of SampleWriter, whose images are in its png/"
                          f" folder (grid.png beside it is their grid, not a sample): give {str(path / 'png')!r}")
    generated = (path / "samples.npz").is_file()  # lit-gan generate's output: its grid is no sample
    files = sorted(
        os.path.realpath(entry.path)
        for entry in os.scandir(path)
        if entry.is_file() and os.path.splitext(entry.name)[1].lower().lstrip(".") in SAMPLE_EXTENSIONS
        and not (generated and entry.name in NOT_SAMPLES)
    )
    if not files:
        raise ConfigError(f"`{names[0]}` {folder!r} holds no png, jpg or jpeg file")
    if limit is not None and limit > len(files):
        raise ConfigError(f"Expected argument `{names[1]}` ({limit}) to be at most the {len(files)} images in {folder!r}")
    return files[:limit]


class SampleFolder(Dataset):
    """uint8 images (C, H, W) of :func:`sample_paths`: RGB (torch-fidelity's), or grayscale with
    ``channels=1``; a file PIL cannot read is named."""

    def __init__(self, folder: str, limit: Optional[int] = None, names: tuple[str, str] = ("samples", "num_samples"),
                 channels: Optional[int] = None) -> None:
        self.files = sample_paths(folder, limit, names)
        self.mode, self.name = "L" if channels == 1 else "RGB", names[0]

    def check_shape(self, shape: Optional[Sequence[int]], taker: str) -> None:
        """Refuse a folder whose first image, as read, is not of ``shape`` (None: any), the shape that ``taker``
        (in words) takes; at setup, before anything is extracted."""
        first = tuple(self[0].shape)
        if shape is not None and first != tuple(shape):
            raise ConfigError(f"Expected the images of `{self.name}` to have shape {tuple(shape)}, the shape {taker}"
                              f" takes, got {first} ({self.files[0]})")

    def __len__(self) -> int:
        return len(self.files)

    def collate(self, images: list[torch.Tensor]) -> torch.Tensor:
        """One batch (B, C, H, W); images of another size than the first are named, not a stack error."""
        other = next((i for i, x in enumerate(images) if x.shape != images[0].shape), None)
        if other is not None:
            raise ConfigError(f"Expected the images of a folder to be of one size, got {tuple(images[0].shape[1:])}"
                              f" and {tuple(images[other].shape[1:])} (resize them first)")
        return torch.stack(images)

    def __getitem__(self, i: int) -> torch.Tensor:
        try:
            with Image.open(self.files[i]) as image:
                return pil_to_tensor(image.convert(self.mode))
        except (OSError, UnidentifiedImageError, SyntaxError) as err:
            raise ConfigError(f"cannot read image {self.files[i]}: {err}") from err
