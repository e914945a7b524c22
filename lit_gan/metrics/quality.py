"""Sample-quality metrics of images as one torchmetrics-style metric, on one feature extractor.

FID, KID, precision/recall, density/coverage and MMD compare the features of real and generated
images; IS reads the class logits of the generated ones. :class:`ImageQualityMetrics` runs the
extractor once per batch and feeds its outputs to each chosen metric, which accumulates them in
its own torchmetrics states (synced under DDP when ``compute`` runs, on every rank).
"""

from typing import Literal, Optional, Sequence

from torch import Tensor, nn

from lit_gan.checks import check_greater_than_zero, check_positive_ints
from lit_gan.errors import ConfigError
from lit_gan.metrics.features import FeatureExtractor, PrecomputedFeatures
from lit_gan.metrics.frechet import FrechetDistance
from lit_gan.metrics.manifold import DensityCoverage, PrecisionRecall
from lit_gan.metrics.mmd import KernelMMD
from lit_gan.metrics.scores import TORCH_FIDELITY_SEED, Draws, InceptionScore, KernelDistance, check_draws, check_seeds

MetricName = Literal["fid", "is", "kid", "precision_recall", "density_coverage", "mmd"]
# metric -> (its attribute, the names of the values its compute returns)
OUTPUTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "fid": ("fid", ("fid",)),
    "is": ("inception_score", ("is", "is_std")),
    "kid": ("kid", ("kid", "kid_std")),
    "precision_recall": ("precision_recall", ("precision", "recall")),
    "density_coverage": ("density_coverage", ("density", "coverage")),
    "mmd": ("mmd", ("mmd",)),
}
ON_LOGITS = {"is"}  # scores the generated images' class logits alone
# FID's covariances divide by N - 1, KID's unbiased estimate by m (m - 1) (m images per subset): fewer is no value
MIN_IMAGES = 2


def default_metrics(has_logits: bool) -> tuple[str, ...]:
    """Every metric but MMD; IS only when the extractor has class logits."""
    return tuple(m for m in OUTPUTS if m != "mmd" and (m not in ON_LOGITS or has_logits))


def value_names(metrics: Sequence[str]) -> list[str]:
    """The names of the values ``compute`` returns for ``metrics``, in its order."""
    return [name for metric in metrics for name in OUTPUTS[metric][1]]


def check_metrics(metrics: Sequence[str], extractor: Optional[FeatureExtractor]) -> tuple[str, ...]:
    unknown = [m for m in metrics if m not in OUTPUTS]
    if unknown or not metrics or len(set(metrics)) != len(metrics):
        raise ValueError(
            f"Expected argument `metrics` to be distinct names among {', '.join(OUTPUTS)}, got {list(metrics)}"
        )
    if extractor is not None and extractor.num_classes == 0 and ON_LOGITS & set(metrics):
        raise ValueError(
            f"Expected argument `metrics` to leave out 'is': {type(extractor).__name__} has no class logits"
        )
    return tuple(metrics)


def check_neighbours(chosen: Sequence[str], precision_k: int, density_k: int, n_real: Optional[int],
                     n_generated: int) -> None:
    """Refuse a k of the k-NN radii that is not below the images it is taken among (each radius is the distance
    of an image to its k-th nearest other one): precision and recall on both sides, density and coverage on the
    real; before anything is extracted (``compute`` would refuse them after, naming its ``k``). None: not known."""
    counts = {"real": n_real, "generated": n_generated}
    for metric, name, k, sides in (("precision_recall", "precision_k", precision_k, ("real", "generated")),
                                   ("density_coverage", "density_k", density_k, ("real",))):
        for side in sides:
            n = counts[side]
            if metric in chosen and n is not None and n <= k:
                raise ConfigError(f"Expected argument `{name}` ({k}) to be below the {n} {side} images"
                                  " (a k-NN radius needs k other images)")


def check_enough_images(chosen: Sequence[str], n_real: Optional[int], n_generated: int) -> None:
    """Refuse fewer than :data:`MIN_IMAGES` real or generated images for FID and KID, before anything is
    extracted (``compute`` would fail or give NaN after). None: not known."""
    for metric, why in (("fid", "a covariance"), ("kid", "its unbiased estimate")):
        for side, n in (("real", n_real), ("generated", n_generated)):
            if metric in chosen and n is not None and n < MIN_IMAGES:
                raise ConfigError(f"Expected at least {MIN_IMAGES} {side} images for `{metric}` ({why} needs"
                                  f" {MIN_IMAGES}), got {n}")


def few_images_warnings(chosen: Sequence[str], n_real: Optional[int], n_generated: int, num_features: int) -> list[str]:
    """What to print beside values of too few images to quote: FID on fewer images than features (its
    covariances are singular, and the value is biased high by a term that falls as 1/N: Chong & Forsyth 2020)."""
    fewest = min(n for n in (n_real, n_generated) if n is not None)
    if "fid" not in chosen or fewest >= num_features:
        return []
    real = "" if n_real is None else f" and {n_real} real"
    return [f"FID of {n_generated} generated{real} images, fewer than the {num_features} features: the covariances"
            " are singular and the value biased high, comparable only at the same numbers (published FIDs:"
            " 50,000 generated images)"]


class ImageQualityMetrics(nn.Module):
    r"""FID (Heusel et al. 2017), IS (Salimans et al. 2016), KID (Binkowski et al. 2018), precision
    and recall (Kynkäänniemi et al. 2019), density and coverage (Naeem et al. 2020) and the Gaussian
    kernel MMD of CMMD (Jayasumana et al. 2024), any of them, on one feature extractor.

    ``update(images, real)`` extracts (features (B, d), logits (B, K)) with one forward pass of
    ``feature_extractor``; ``update_features`` takes outputs extracted before (a cache). FID, KID,
    precision/recall, density/coverage and MMD accumulate the features of both sets, IS the logits
    of the generated images only. ``compute`` returns the values of the chosen metrics in the order
    of :data:`OUTPUTS`: ``fid``; ``is``, ``is_std``; ``kid``, ``kid_std``; ``precision``, ``recall``;
    ``density``, ``coverage``; ``mmd`` (float64). ``reset`` forgets the generated images and keeps
    the real features, which are then extracted once for any number of evaluations. KID's subsets
    are of min(``kid_subset_size``, real images, generated images) each, over all processes.

    Like :class:`~lit_gan.metrics.ModeCoverage`, the other sample-quality metric of the callbacks,
    it has ``update(x, real=False)``, ``compute() -> dict``, ``reset()``, ``.to(device)`` and says
    in ``needs_real`` whether it compares with real data.

    Args:
        feature_extractor: a :class:`~lit_gan.metrics.FeatureExtractor` (Inception, CLIP, DINOv2, a classifier).
        is_splits: parts the generated images are cut into for the IS mean and std.
        kid_subsets: random subsets for the KID mean and std.
        kid_subset_size: images per KID subset, at most; capped at the number of real and generated images.
        seed: seed of the IS splits and the KID subsets (torch-fidelity's ``rng_seed``, 2020 there too).
        draws: "torch-fidelity": IS and KID equal ``torch_fidelity.calculate_metrics``' on the same
            images; "torch": lit-gan's earlier ``torch.randperm`` draws (see :mod:`lit_gan.metrics.scores`).
        precision_k: neighbours of the k-NN radii of precision and recall (3 in the paper).
        density_k: neighbours of the k-NN radii of density and coverage (5 in the paper).
        mmd_sigma, mmd_scale: the Gaussian kernel's bandwidth and the factor of MMD (CMMD: 10 and 1000).
        metrics: which metrics, among ``fid``, ``is``, ``kid``, ``precision_recall``,
            ``density_coverage``, ``mmd``; None: all but ``mmd`` (and ``is`` where the extractor has no logits).
    """

    needs_real = True

    def __init__(
        self,
        feature_extractor: FeatureExtractor,
        is_splits: int = 10,
        kid_subsets: int = 100,
        kid_subset_size: int = 1000,
        seed: int = TORCH_FIDELITY_SEED,
        draws: Draws = "torch-fidelity",
        precision_k: int = 3,
        density_k: int = 5,
        mmd_sigma: float = 10.0,
        mmd_scale: float = 1000.0,
        metrics: Optional[Sequence[MetricName]] = None,
    ) -> None:
        super().__init__()
        # here, named as given (the metrics below would name their own `splits`, `k`, `sigma`, ...)
        check_positive_ints(is_splits=is_splits, kid_subsets=kid_subsets, kid_subset_size=kid_subset_size,
                            precision_k=precision_k, density_k=density_k)
        check_greater_than_zero(mmd_sigma=mmd_sigma, mmd_scale=mmd_scale)
        check_seeds(seed=seed)
        check_draws(draws)
        self.feature_extractor = feature_extractor.eval()
        chosen = default_metrics(feature_extractor.num_classes > 0) if metrics is None else check_metrics(metrics, feature_extractor)
        if "kid" in chosen and kid_subset_size < MIN_IMAGES:  # its value would be NaN
            raise ValueError(f"Expected argument `kid_subset_size` to be an integer >= {MIN_IMAGES} (KID's unbiased"
                             f" estimate takes pairs of images of a subset), got {kid_subset_size}")
        d, k = feature_extractor.num_features, feature_extractor.num_classes
        # the metrics receive features, not images: their own "network" is the identity
        build = {
            "fid": lambda: FrechetDistance(PrecomputedFeatures(d), reset_real_features=False),
            "is": lambda: InceptionScore(PrecomputedFeatures(k), splits=is_splits, seed=seed, draws=draws),
            "kid": lambda: KernelDistance(
                PrecomputedFeatures(d), subsets=kid_subsets, subset_size=kid_subset_size, seed=seed,
                cap_subset_size=True, reset_real_features=False, draws=draws,
            ),
            "precision_recall": lambda: PrecisionRecall(k=precision_k, reset_real_features=False),
            "density_coverage": lambda: DensityCoverage(k=density_k, reset_real_features=False),
            "mmd": lambda: KernelMMD(sigma=mmd_sigma, scale=mmd_scale, reset_real_features=False),
        }
        self.chosen = chosen
        self.needs_real = any(name not in ON_LOGITS for name in chosen)  # IS alone compares with no real data
        for name in chosen:
            self.add_module(OUTPUTS[name][0], build[name]())

    def _metric(self, name: str) -> nn.Module:
        return getattr(self, OUTPUTS[name][0])

    def update(self, images: Tensor, real: bool = False) -> None:
        """images (B, C, H, W) as the data module gives them; ``real``: held-out data, else generated."""
        self.update_features(*self.feature_extractor.extract(images), real=real)  # (B, d), (B, K)

    def update_features(self, features: Tensor, logits: Optional[Tensor] = None, real: bool = False) -> None:
        """Outputs of ``feature_extractor.extract`` (``logits`` only needed for the generated images' IS)."""
        for name in self.chosen:
            if name in ON_LOGITS:
                if not real:
                    self._metric(name).update(logits)
            else:
                self._metric(name).update(features, real=real)

    def compute(self) -> dict[str, Tensor]:
        """The scores of the accumulated images; under DDP every rank must call it (each metric gathers)."""
        values: dict[str, Tensor] = {}
        for name in self.chosen:
            out = self._metric(name).compute()
            values.update(zip(OUTPUTS[name][1], out if isinstance(out, tuple) else (out,)))
        return values

    def reset(self) -> None:
        """Forget the generated images; the metrics keep their real features (``reset_real_features=False``)."""
        for name in self.chosen:
            self._metric(name).reset()
