"""Offline 2D toy data: mixtures of Gaussians and a swiss roll. Nothing to download.

The mixtures expose ``centers`` (K, 2) and ``std`` so that metrics can score mode coverage
(Srivastava et al. 2017, VEEGAN; Lin et al. 2018, PacGAN).
"""

import math
from typing import Optional

import torch
from jsonargparse.typing import NonNegativeFloat, PositiveFloat, PositiveInt
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from lit_gan.checks import check_finite_positive, check_not_negative, check_positive_ints
from lit_gan.data.order import ResumableOrder
from lit_gan.errors import ConfigError


class Toy2DDataModule(ResumableOrder):
    """Base class: ``n_train`` training and ``n_val`` held-out points drawn once from a fixed seed.

    Args:
        batch_size: points per batch.
        n_train: size of the training set (one epoch).
        n_val: size of the held-out set (validation, test, predict).
        seed: seed of the draw; the same seed gives the same points.

    A mixture given ``labelled: true`` yields (point, mode) pairs, one class per mode, for a
    class-conditional model.
    """

    img_shape = (2,)
    num_classes = 0  # a mixture with ``labelled: true`` has one class per mode

    def __init__(self, batch_size: PositiveInt = 256, n_train: PositiveInt = 65536, n_val: PositiveInt = 4096, seed: int = 0) -> None:
        super().__init__()
        check_positive_ints(batch_size=batch_size, n_train=n_train, n_val=n_val)
        if batch_size > n_train:
            raise ConfigError(
                f"Expected argument `batch_size` ({batch_size}) to be at most `n_train` ({n_train}):"
                " training batches are full, so not one would be left"
            )
        self.batch_size, self.n_train, self.n_val, self.seed = int(batch_size), int(n_train), int(n_val), seed
        self._train: Optional[Tensor] = None
        self._val: Optional[Tensor] = None
        self._labels: dict[str, Optional[Tensor]] = {"train": None, "val": None}  # the modes, with ``labelled``

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """n points, shape (n, 2)."""
        return self.sample_labelled(n, generator)[0]

    def sample_labelled(self, n: int, generator: torch.Generator) -> tuple[Tensor, Optional[Tensor]]:
        """n points (n, 2), and their modes (n,) for a mixture, else None."""
        raise NotImplementedError

    def setup(self, stage: str = "fit") -> None:
        if self._train is None:
            rng = torch.Generator().manual_seed(self.seed)
            self._train, self._labels["train"] = self.sample_labelled(self.n_train, rng)
            self._val, self._labels["val"] = self.sample_labelled(self.n_val, rng)

    def class_counts(self) -> Optional[Tensor]:
        """How many training points each class (mode) has, with ``labelled``; None without labels."""
        labels = self._labels["train"]
        return None if labels is None else torch.bincount(labels, minlength=self.num_classes).double()

    def _dataset(self, split: str) -> TensorDataset:
        points = self._train if split == "train" else self._val
        return TensorDataset(points, self._labels[split]) if self.num_classes else TensorDataset(points)

    def train_dataloader(self) -> DataLoader:
        return self.training_loader(self._dataset("train"))

    def _held_out(self) -> DataLoader:
        return DataLoader(self._dataset("val"), batch_size=self.batch_size)

    val_dataloader = test_dataloader = predict_dataloader = _held_out


class _Mixture(Toy2DDataModule):
    def __init__(self, std: PositiveFloat, labelled: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        check_finite_positive(std=std)  # PositiveFloat lets "inf" through: infinite points, NaN losses
        self.std, self.labelled = float(std), bool(labelled)

    @property
    def num_classes(self) -> int:  # type: ignore[override]
        """One class per mode with ``labelled``, else 0 (no labels)."""
        return len(self.centers) if self.labelled else 0

    @property
    def centers(self) -> Tensor:
        """Mode centers, shape (K, 2)."""
        raise NotImplementedError

    def sample_labelled(self, n: int, generator: torch.Generator) -> tuple[Tensor, Optional[Tensor]]:
        modes = torch.randint(len(self.centers), (n,), generator=generator)
        return self.centers[modes] + self.std * torch.randn(n, 2, generator=generator), modes


class RingOfGaussians(_Mixture):
    """``n_modes`` Gaussians of standard deviation ``std`` evenly spaced on a circle of ``radius``.

    Defaults: the WGAN-GP paper's "8 Gaussians" (radius 2, std 0.02).
    """

    def __init__(self, n_modes: PositiveInt = 8, radius: PositiveFloat = 2.0, std: PositiveFloat = 0.02, **kwargs) -> None:
        super().__init__(std=std, **kwargs)
        check_finite_positive(radius=radius)
        self.n_modes, self.radius = int(n_modes), float(radius)

    @property
    def centers(self) -> Tensor:
        angles = torch.arange(self.n_modes) * (2 * math.pi / self.n_modes)
        return self.radius * torch.stack([angles.cos(), angles.sin()], dim=1)


class GridOfGaussians(_Mixture):
    """A ``side`` x ``side`` grid of Gaussians, ``spacing`` apart, centered on 0 (PacGAN: 5x5, spacing 2, std 0.05)."""

    def __init__(self, side: PositiveInt = 5, spacing: PositiveFloat = 2.0, std: PositiveFloat = 0.05, **kwargs) -> None:
        super().__init__(std=std, **kwargs)
        check_finite_positive(spacing=spacing)
        self.side, self.spacing = int(side), float(spacing)

    @property
    def centers(self) -> Tensor:
        ticks = (torch.arange(self.side) - (self.side - 1) / 2) * self.spacing
        return torch.cartesian_prod(ticks, ticks)


class SwissRoll(Toy2DDataModule):
    """scikit-learn's 2D swiss roll (the WGAN-GP paper's toy), scaled by ``scale``, with Gaussian ``noise``."""

    def __init__(self, noise: NonNegativeFloat = 0.25, scale: PositiveFloat = 0.2, **kwargs) -> None:
        super().__init__(**kwargs)
        check_not_negative(noise=noise)  # a standard deviation; 0 gives the bare spiral
        check_finite_positive(scale=scale)
        self.noise, self.scale = float(noise), float(scale)

    def sample_labelled(self, n: int, generator: torch.Generator) -> tuple[Tensor, Optional[Tensor]]:
        return self._points(n, generator), None

    def _points(self, n: int, generator: torch.Generator) -> Tensor:
        t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=generator))  # as sklearn.datasets.make_swiss_roll
        points = torch.stack([t * t.cos(), t * t.sin()], dim=1) + self.noise * torch.randn(n, 2, generator=generator)
        return self.scale * points
