"""The registry's entries of the metrics on features and logits: FID, IS, KID, precision/recall,
density/coverage and MMD, each wrapping its torchmetrics-style class (the math lives there).

Each receives features (or logits) that :class:`~lit_gan.metrics.ImageQualityMetrics` extracted once
for all of them, so its own "network" is the identity (:class:`~lit_gan.metrics.PrecomputedFeatures`),
and keeps the real features across ``reset`` (``reset_real_features=False``): they are fed once.
"""

from typing import Any, Optional

from torch import Tensor, nn

from lit_gan.checks import check_greater_than_zero, check_positive_ints
from lit_gan.errors import ConfigError
from lit_gan.metrics.features import PrecomputedFeatures
from lit_gan.metrics.frechet import FrechetDistance
from lit_gan.metrics.manifold import DensityCoverage, PrecisionRecall
from lit_gan.metrics.mmd import KernelMMD
from lit_gan.metrics.registry import QualityMetric
from lit_gan.metrics.scores import TORCH_FIDELITY_SEED, Draws, InceptionScore, KernelDistance, check_draws, check_seeds

# FID's covariances divide by N - 1, KID's unbiased estimate by m (m - 1) (m images per subset): fewer is no value
MIN_IMAGES = 2


def check_two_a_side(name: str, why: str, n_real: Optional[int], n_generated: int) -> None:
    for side, n in (("real", n_real), ("generated", n_generated)):
        if n is not None and n < MIN_IMAGES:
            raise ConfigError(f"Expected at least {MIN_IMAGES} {side} images for `{name}` ({why} needs {MIN_IMAGES}),"
                              f" got {n}")


class OnFeatures(QualityMetric):
    """A torchmetrics-style metric of real and generated features: ``update(features, real)``."""

    def update(self, state: nn.Module, side: str, rows: Any) -> None:
        state.update(rows["features"], real=side == "real")

    def compute(self, state: nn.Module) -> dict[str, Tensor]:
        return self.named(state.compute())


class FID(OnFeatures):
    """FID (Heusel et al. 2017): :class:`~lit_gan.metrics.FrechetDistance`, exact in float64."""

    name, outputs, default = "fid", ("fid",), True

    def build(self) -> nn.Module:
        return FrechetDistance(PrecomputedFeatures(self.context.extractor.num_features), reset_real_features=False)

    def check_counts(self, n_real: Optional[int], n_generated: int) -> None:
        check_two_a_side(self.name, "a covariance", n_real, n_generated)

    def warnings(self, n_real: Optional[int], n_generated: int) -> list[str]:
        """FID on fewer images than features: its covariances are singular, and the value biased high by a term
        that falls as 1/N (Chong & Forsyth 2020)."""
        d = self.context.extractor.num_features
        if min(n for n in (n_real, n_generated) if n is not None) >= d:
            return []
        real = "" if n_real is None else f" and {n_real} real"
        return [f"FID of {n_generated} generated{real} images, fewer than the {d} features: the covariances are"
                " singular and the value biased high, comparable only at the same numbers (published FIDs: 50,000"
                " generated images)"]


class WithDraws(QualityMetric):
    """IS's and KID's random draws: torch-fidelity's (its values on the same images) or lit-gan's earlier ones."""

    flat = {"draws": "draws", "seed": "draw_seed"}

    def __init__(self, draws: Draws = "torch-fidelity", seed: int = TORCH_FIDELITY_SEED) -> None:
        check_draws(draws)
        check_seeds(seed=seed)
        self.draws, self.seed = draws, int(seed)

    def protocol(self, n_real: int, n_generated: int) -> list[str]:
        return [f"draws {self.draws} (seed {self.seed})"]


class IS(WithDraws):
    """Inception Score (Salimans et al. 2016) of the generated images' logits, over ``splits`` parts."""

    name, attribute, outputs, default = "is", "inception_score", ("is", "is_std"), True
    needs = {"generated": ("logits",)}
    flat = {"splits": "is_splits", **WithDraws.flat}

    def __init__(self, splits: int = 10, draws: Draws = "torch-fidelity", seed: int = TORCH_FIDELITY_SEED) -> None:
        check_positive_ints(splits=splits)
        super().__init__(draws, seed)
        self.splits = int(splits)

    def build(self) -> nn.Module:
        k = self.context.extractor.num_classes
        return InceptionScore(PrecomputedFeatures(k), splits=self.splits, seed=self.seed, draws=self.draws)

    def update(self, state: nn.Module, side: str, rows: Any) -> None:
        state.update(rows["logits"])

    def compute(self, state: nn.Module) -> dict[str, Tensor]:
        return self.named(state.compute())

    def check_samples(self, n_generated: int) -> None:
        if self.splits > n_generated:
            raise ValueError(f"Expected argument `{self.argument('splits')}` ({self.splits}) to be at most the"
                             f" {n_generated} generated images")

    def check_counts(self, n_real: Optional[int], n_generated: int) -> None:
        self.check_samples(n_generated)

    def protocol(self, n_real: int, n_generated: int) -> list[str]:
        return [f"IS {self.splits} splits", *super().protocol(n_real, n_generated)]

    def settings(self, n_real: int, n_generated: int) -> dict[str, Any]:
        return {"splits": self.splits, "draws": self.draws, "seed": self.seed}


class KID(WithDraws, OnFeatures):
    """Kernel Inception Distance (Binkowski et al. 2018), over ``subsets`` subsets of min(``subset_size``, real
    images, generated images) each, over all processes."""

    name, outputs, default = "kid", ("kid", "kid_std"), True
    flat = {"subsets": "kid_subsets", "subset_size": "kid_subset_size", **WithDraws.flat}

    def __init__(self, subsets: int = 100, subset_size: int = 1000, draws: Draws = "torch-fidelity",
                 seed: int = TORCH_FIDELITY_SEED) -> None:
        check_positive_ints(subsets=subsets, subset_size=subset_size)
        super().__init__(draws, seed)
        self.subsets, self.subset_size = int(subsets), int(subset_size)

    def bind(self, context: Any) -> None:
        if self.subset_size < MIN_IMAGES:  # its value would be NaN
            raise ValueError(f"Expected argument `{self.argument('subset_size')}` to be an integer >= {MIN_IMAGES}"
                             f" (KID's unbiased estimate takes pairs of images of a subset), got {self.subset_size}")
        super().bind(context)

    def build(self) -> nn.Module:
        return KernelDistance(PrecomputedFeatures(self.context.extractor.num_features), subsets=self.subsets,
                              subset_size=self.subset_size, seed=self.seed, cap_subset_size=True,
                              reset_real_features=False, draws=self.draws)

    def check_counts(self, n_real: Optional[int], n_generated: int) -> None:
        check_two_a_side(self.name, "its unbiased estimate", n_real, n_generated)

    def protocol(self, n_real: int, n_generated: int) -> list[str]:
        size = min(self.subset_size, n_real, n_generated)
        return [f"KID {self.subsets} subsets of {size}", *super().protocol(n_real, n_generated)]

    def settings(self, n_real: int, n_generated: int) -> dict[str, Any]:
        return {"subsets": self.subsets, "subset_size": min(self.subset_size, n_real, n_generated),
                "draws": self.draws, "seed": self.seed}


class KNearest(OnFeatures):
    """A metric on k-NN balls: ``k`` must be below the number of images its radii are taken among."""

    sides: tuple[str, ...] = ("real", "generated")
    words = ""

    def __init__(self, k: int) -> None:
        check_positive_ints(k=k)
        self.k = int(k)

    def check_counts(self, n_real: Optional[int], n_generated: int) -> None:
        counts = {"real": n_real, "generated": n_generated}
        for side in self.sides:
            n = counts[side]
            if n is not None and n <= self.k:
                raise ConfigError(f"Expected argument `{self.argument('k')}` ({self.k}) to be below the {n} {side}"
                                  " images (a k-NN radius needs k other images)")

    def protocol(self, n_real: int, n_generated: int) -> list[str]:
        return [f"{self.words} k {self.k}"]

    def settings(self, n_real: int, n_generated: int) -> dict[str, Any]:
        return {"k": self.k}


class ImprovedPrecisionRecall(KNearest):
    """Improved precision and recall (Kynkäänniemi et al. 2019), k-NN radii on both sides (3 in the paper)."""

    name, attribute, outputs, default = "precision_recall", "precision_recall", ("precision", "recall"), True
    flat, words = {"k": "precision_k"}, "precision/recall"

    def __init__(self, k: int = 3) -> None:
        super().__init__(k)

    def build(self) -> nn.Module:
        return PrecisionRecall(k=self.k, reset_real_features=False)


class DensityAndCoverage(KNearest):
    """Density and coverage (Naeem et al. 2020), k-NN radii of the real images (5 in the paper)."""

    name, outputs, default = "density_coverage", ("density", "coverage"), True
    flat, words, sides = {"k": "density_k"}, "density/coverage", ("real",)

    def __init__(self, k: int = 5) -> None:
        super().__init__(k)

    def build(self) -> nn.Module:
        return DensityCoverage(k=self.k, reset_real_features=False)


class MMD(OnFeatures):
    """The Gaussian-kernel MMD of CMMD (Jayasumana et al. 2024): bandwidth ``sigma``, times ``scale`` (10, 1000)."""

    name, outputs = "mmd", ("mmd",)
    flat = {"sigma": "mmd_sigma", "scale": "mmd_scale"}

    def __init__(self, sigma: float = 10.0, scale: float = 1000.0) -> None:
        check_greater_than_zero(sigma=sigma, scale=scale)
        self.sigma, self.scale = float(sigma), float(scale)

    def build(self) -> nn.Module:
        return KernelMMD(sigma=self.sigma, scale=self.scale, reset_real_features=False)

    def protocol(self, n_real: int, n_generated: int) -> list[str]:
        return [f"MMD sigma {self.sigma:g} x {self.scale:g}"]

    def settings(self, n_real: int, n_generated: int) -> dict[str, Any]:
        return {"sigma": self.sigma, "scale": self.scale}
