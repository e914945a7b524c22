"""Sample-quality metrics of images as one torchmetrics-style object, on one feature extractor, and the
protocol line that says how their values were computed.

:class:`ImageQualityMetrics` holds any metrics of the registry (:mod:`lit_gan.metrics.registry`; the
standard ones in :mod:`lit_gan.metrics.standard`, those by class in :mod:`lit_gan.metrics.by_class`),
runs the extractor once per batch and gives each metric the fields it needs of each side; each
accumulates them in its own torchmetrics states. Under DDP each rank feeds its share; ``compute`` gathers the
states of every rank, computes the values on rank 0 alone and broadcasts them (:mod:`lit_gan.metrics.distributed`).
"""

from importlib.metadata import version
from typing import Any, Callable, Iterable, Literal, Mapping, Optional, Sequence, Union

import torch
from torch import Tensor, nn
from torchmetrics import Metric

from lit_gan.errors import ConfigError
from lit_gan.metrics import by_class, standard  # noqa: F401  (registers the built-in metrics)
from lit_gan.metrics.features import FeatureExtractor
from lit_gan.metrics.distributed import cached_share, computed_once, gathered, share_rows, world
from lit_gan.metrics.reference import ReferenceCache
from lit_gan.metrics.registry import REGISTRY, MetricContext, QualityMetric, resolve
from lit_gan.metrics.sources import Batch, shard

MetricName = Literal[tuple(REGISTRY)]  # type: ignore[valid-type]  # the built-in metrics' names
MetricEntry = Union[QualityMetric, MetricName]  # a metric built by class_path, or a name (its defaults)
# the metrics before the registry: name -> (its states' attribute, the names of its values)
OUTPUTS = {cls.name: (cls.attribute or cls.name, cls.outputs) for cls in (standard.FID, standard.IS, standard.KID,
           standard.ImprovedPrecisionRecall, standard.DensityAndCoverage, standard.MMD)}


class ImageQualityMetrics(nn.Module):
    r"""Any metrics of the registry on one feature extractor: by default FID (Heusel et al. 2017), IS
    (Salimans et al. 2016), KID (Binkowski et al. 2018), precision and recall (Kynkäänniemi et al. 2019),
    density and coverage (Naeem et al. 2020); also the Gaussian-kernel MMD of CMMD (Jayasumana et al.
    2024) and, for a class-conditional model, class accuracy, intra-class FID and CAS.

    ``update(images, real, labels)`` extracts (features (B, d), logits (B, K)) with one forward pass of
    ``feature_extractor`` (none where no metric needs them); ``update_features`` takes outputs extracted
    before (a cache); ``update_train`` takes training images (the class metrics' real-vs-real values).
    ``compute`` returns the values of the metrics in their order (float64), e.g. ``fid``; ``is``,
    ``is_std``; ``kid``, ``kid_std``; ``precision``, ``recall``; ``density``, ``coverage``. ``reset``
    forgets the generated images and keeps the real (and training) ones, which are then fed once for any
    number of evaluations.

    Like :class:`~lit_gan.metrics.ModeCoverage`, the other sample-quality metric of the callbacks, it has
    ``update(x, real=False)``, ``compute() -> dict``, ``reset()``, ``.to(device)`` and says in
    ``needs_real`` whether it compares with real data.

    Args:
        feature_extractor: a :class:`~lit_gan.metrics.FeatureExtractor` (Inception, CLIP, DINOv2, a classifier).
        metrics: names of registered metrics (``fid``, ``is``, ``kid``, ``precision_recall``,
            ``density_coverage``, ``mmd``, ``class_accuracy``, ``intra_fid``, ``cas``) or metric objects
            (``KID(subset_size=100)``); None: the defaults (IS only where the extractor has logits).
        num_classes: the classes of the samples (a conditional model's); 0: none.
        img_shape: the shape of the images scored, where a metric's own classifier must take it.
        no_classes: why the samples have no classes, for the class metrics' refusal.
        flat: the standard metrics' options by their flat names of before the registry (``is_splits``,
            ``kid_subsets``, ``kid_subset_size``, ``draws``, ``seed``, ``precision_k``, ``density_k``,
            ``mmd_sigma``, ``mmd_scale``), for the metrics given by name.
    """

    needs_real = True
    by_class = True  # ``update`` takes the classes of the samples

    def __init__(self, feature_extractor: FeatureExtractor, metrics: Optional[Sequence[MetricEntry]] = None,
                 num_classes: int = 0, img_shape: Optional[Sequence[int]] = None,
                 no_classes: str = "the model is unconditional (`num_classes` 0)", **flat: Any) -> None:
        super().__init__()
        self.feature_extractor = feature_extractor.eval()
        self.metrics = resolve(metrics, feature_extractor, flat, spelled={"draw_seed": "seed"},
                               owner=type(self).__name__)
        shape = None if img_shape is None else tuple(int(s) for s in img_shape)
        context = MetricContext(feature_extractor, int(num_classes), shape, no_classes)
        for metric in self.metrics:
            metric.bind(context)
        self.chosen = tuple(metric.name for metric in self.metrics)
        self.needs_real = any("real" in metric.needs for metric in self.metrics)  # IS alone compares with no real data
        self.needs_train = any("train" in metric.needs for metric in self.metrics)
        for metric in self.metrics:
            self.add_module(self.attribute(metric), metric.build())

    @staticmethod
    def attribute(metric: QualityMetric) -> str:
        return metric.attribute or metric.name

    def fields(self, side: str) -> set[str]:
        """What the metrics read of ``side`` ("real", "generated", "train"): features, logits, images, labels."""
        return {field for metric in self.metrics for field in metric.needs.get(side, ())}

    def value_names(self) -> list[str]:
        return [name for metric in self.metrics for name in metric.value_names()]

    def update(self, images: Tensor, real: bool = False, labels: Optional[Tensor] = None,
               side: Optional[str] = None) -> None:
        """images (B, C, H, W) as the data module gives them; ``real``: held-out data, else generated (``side``:
        "train" for training images); ``labels`` (B,): the classes (a real image's; the one a sample was drawn for)."""
        side = side or ("real" if real else "generated")
        features = logits = None
        if self.fields(side) & {"features", "logits"}:  # else no metric reads the extractor's outputs
            features, logits = self.feature_extractor.extract(images)  # (B, d), (B, K)
        self.update_features(features, logits, labels=labels, images=images, side=side)

    def update_train(self, images: Tensor, labels: Tensor) -> None:
        """Training images and their classes (the class metrics' real-vs-real values)."""
        self.update(images, labels=labels, side="train")

    def update_features(self, features: Optional[Tensor], logits: Optional[Tensor] = None, real: bool = False,
                        labels: Optional[Tensor] = None, images: Optional[Tensor] = None,
                        side: Optional[str] = None) -> None:
        """Outputs of ``feature_extractor.extract`` (``logits`` only needed for the generated images' IS), and
        what else a metric needs of the side: the ``labels``, the ``images``."""
        side = side or ("real" if real else "generated")
        rows = {"features": features, "logits": logits, "labels": labels, "images": images}
        for metric in self.metrics:
            needed = metric.needs.get(side, ())
            missing = [field for field in needed if rows[field] is None]
            if missing:
                raise ConfigError(f"Expected the {side} images of `{metric.name}` to come with their {missing[0]},"
                                  " got none")
            if needed:
                metric.update(getattr(self, self.attribute(metric)), side, rows)

    def compute(self) -> dict[str, Tensor]:
        """The scores of the accumulated images. Under DDP every rank must call it: the states of every rank are
        gathered, the values computed once, on rank 0, and broadcast (every rank returns the same values)."""
        if world()[1] == 1:
            return self._values()
        states = [getattr(self, self.attribute(metric)) for metric in self.metrics]
        device = next((m.device for state in states for m in state.modules() if isinstance(m, Metric)),
                      torch.device("cpu"))
        with gathered(states):
            return computed_once(self._values, device)

    def _values(self) -> dict[str, Tensor]:
        values: dict[str, Tensor] = {}
        for metric in self.metrics:
            values.update(metric.compute(getattr(self, self.attribute(metric))))
        return values

    def reset(self) -> None:
        """Forget the generated images; the metrics keep their real and training rows."""
        for metric in self.metrics:
            getattr(self, self.attribute(metric)).reset()


def feed_real(metric: ImageQualityMetrics, batches: Callable[[], Iterable[Batch]], cache: Optional[ReferenceCache],
              source: dict[str, str], device: torch.device, n: Optional[int] = None) -> Optional[bool]:
    """Give ``metric`` the real side (``ImageQuality``'s and ``lit-gan evaluate``'s): the features of the images of
    ``batches()`` from ``cache`` when it holds them (else extracted, and stored), and where a metric reads them,
    their labels and the images themselves (one more pass, without the extractor). Returns whether the cache had
    the features (None: off, or no metric reads them).

    ``batches()`` yields all the ``n`` held-out images (counted where None), on every process; under DDP each
    keeps its contiguous share, and the cache's entry is the whole set's (:func:`~lit_gan.metrics.distributed.
    cached_share`), the same for any number of processes."""
    fields, features, labels, images, hit = metric.fields("real"), None, None, None, None
    rank, size = world()
    if size > 1 and n is None:
        n = sum(len(x) for x, _ in batches())
    lo, hi = shard(n, rank, size) if size > 1 else (0, None)
    if fields & {"features", "logits"}:
        features, hit = cached_share(lambda: (x for x, _ in batches()), metric.feature_extractor, cache, source, n)
        features = features.to(device)
    if fields & {"labels", "images"}:
        rows = list(share_rows(batches(), lo, hi))
        images = torch.cat([x for x, _ in rows]) if "images" in fields else None
        labels = None if any(y is None for _, y in rows) else torch.cat([y for _, y in rows])
    metric.update_features(features, real=True, labels=labels, images=images)
    return hit


def check_counts(metrics: Sequence[QualityMetric], n_real: Optional[int], n_generated: int) -> None:
    """Each metric's refusal of too few images (or of a k not below them), before anything is extracted."""
    for metric in metrics:
        metric.check_counts(n_real, n_generated)


def few_images_warnings(metrics: Sequence[QualityMetric], n_real: Optional[int], n_generated: int) -> list[str]:
    return [warning for metric in metrics for warning in metric.warnings(n_real, n_generated)]


def protocol(metric: ImageQualityMetrics, counts: Mapping[str, int], sides: Mapping[str, str],
             cache_hit: Optional[bool], samples_hit: Optional[bool] = None) -> dict[str, Any]:
    """What a reader needs to reproduce the values: the extractor, the numbers of images, each metric's settings
    (and the parts of the line it gives), the warnings, the caches, the versions."""
    extractor = metric.feature_extractor
    identity = {"extractor": type(extractor).__name__, "weights_sha256": "unknown", "resize": "unknown"}
    try:
        identity |= extractor.identity()
    except NotImplementedError:
        pass
    n_real, n_generated = counts["num_real"], counts["num_generated"]
    parts: list[str] = []
    for m in metric.metrics:  # a part that several metrics give (IS's and KID's draws) is said once, after them
        for part in m.protocol(n_real, n_generated):
            parts = [p for p in parts if p != part] + [part]
    hits = {True: "hit", False: "miss", None: "off"}
    return {**identity, **counts, **sides, "metrics": list(metric.chosen),
            "settings": {m.name: m.settings(n_real, n_generated) for m in metric.metrics}, "parts": parts,
            "warnings": few_images_warnings(metric.metrics, n_real, n_generated),
            "reference_cache": hits[cache_hit], "samples_cache": hits[samples_hit],
            "lit_gan": version("lit-gan"), "torch": torch.__version__, "torch_fidelity": version("torch-fidelity")}


def protocol_line(p: Mapping[str, Any]) -> str:
    parts = "".join(f", {part}" for part in p["parts"])
    warnings = "".join(f"; WARNING: {warning}" for warning in p["warnings"])  # quoted with the line, or seen
    return (f"{p['extractor']} (weights sha256 {p['weights_sha256'][:8]}), {p['num_real']} real ({p['real']})"
            f" / {p['num_generated']} generated ({p['generated']}), resize: {p['resize']}{parts},"
            f" lit-gan {p['lit_gan']}, torch {p['torch']}, torch-fidelity {p['torch_fidelity']}{warnings}")
