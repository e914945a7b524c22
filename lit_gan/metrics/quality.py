"""FID, IS and KID of generated images as one torchmetrics-style metric, on one feature extractor.

The three need the same network's outputs: FID and KID compare the features of real and
generated images, IS reads the class logits of the generated ones. :class:`ImageQualityMetrics`
runs the extractor once per batch and feeds both outputs to the three metrics, which accumulate
them in their own torchmetrics states (synced under DDP when ``compute`` runs, on every rank).
"""

from torch import Tensor, nn

from lit_gan.metrics.features import FeatureExtractor, PrecomputedFeatures
from lit_gan.metrics.frechet import FrechetDistance
from lit_gan.metrics.scores import TORCH_FIDELITY_SEED, Draws, InceptionScore, KernelDistance


class ImageQualityMetrics(nn.Module):
    r"""FID (Heusel et al. 2017), IS (Salimans et al. 2016) and KID (Binkowski et al. 2018) in one.

    ``update(images, real)`` extracts (features (B, d), logits (B, K)) with one forward pass of
    ``feature_extractor``; FID and KID accumulate the features of both sets, IS the logits of the
    generated images only. ``compute`` returns ``{"fid", "is", "is_std", "kid", "kid_std"}``
    (float64; see :class:`~lit_gan.metrics.FrechetDistance`, :class:`~lit_gan.metrics.InceptionScore`,
    :class:`~lit_gan.metrics.KernelDistance`); ``reset`` forgets the generated images and keeps
    the real features, which are then extracted once for any number of evaluations. KID's subsets
    are of min(``kid_subset_size``, real images, generated images) each, over all processes.

    Like :class:`~lit_gan.metrics.ModeCoverage`, the other sample-quality metric of the callbacks,
    it has ``update(x, real=False)``, ``compute() -> dict``, ``reset()``, ``.to(device)`` and says
    in ``needs_real`` whether it compares with real data.

    Args:
        feature_extractor: a :class:`~lit_gan.metrics.FeatureExtractor` (Inception, a classifier).
        is_splits: parts the generated images are cut into for the IS mean and std.
        kid_subsets: random subsets for the KID mean and std.
        kid_subset_size: images per KID subset, at most; capped at the number of real and generated images.
        seed: seed of the IS splits and the KID subsets (torch-fidelity's ``rng_seed``, 2020 there too).
        draws: "torch-fidelity": IS and KID equal ``torch_fidelity.calculate_metrics``' on the same
            images; "torch": lit-gan's earlier ``torch.randperm`` draws (see :mod:`lit_gan.metrics.scores`).
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
    ) -> None:
        super().__init__()
        self.feature_extractor = feature_extractor.eval()
        d, k = feature_extractor.num_features, feature_extractor.num_classes
        # the metrics receive features, not images: their own "network" is the identity
        self.fid = FrechetDistance(PrecomputedFeatures(d), reset_real_features=False)
        self.kid = KernelDistance(
            PrecomputedFeatures(d), subsets=kid_subsets, subset_size=kid_subset_size, seed=seed,
            cap_subset_size=True, reset_real_features=False, draws=draws,
        )
        self.inception_score = InceptionScore(PrecomputedFeatures(k), splits=is_splits, seed=seed, draws=draws)

    def update(self, images: Tensor, real: bool = False) -> None:
        """images (B, C, H, W) as the data module gives them; ``real``: held-out data, else generated."""
        features, logits = self.feature_extractor.extract(images)  # (B, d), (B, K)
        self.fid.update(features, real=real)
        self.kid.update(features, real=real)
        if not real:  # IS scores generated images alone
            self.inception_score.update(logits)

    def compute(self) -> dict[str, Tensor]:
        """The scores of the accumulated images; under DDP every rank must call it (each metric gathers)."""
        is_mean, is_std = self.inception_score.compute()
        kid_mean, kid_std = self.kid.compute()
        return {"fid": self.fid.compute(), "is": is_mean, "is_std": is_std, "kid": kid_mean, "kid_std": kid_std}

    def reset(self) -> None:
        """Forget the generated images; FID and KID keep their real features (``reset_real_features=False``)."""
        for metric in (self.fid, self.kid, self.inception_score):
            metric.reset()
