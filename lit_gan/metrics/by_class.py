"""The registry's metrics of a class-conditional model's samples (issue 38, item 4): is each sample of
the class it was drawn for? Wrappers of :mod:`lit_gan.metrics.conditional`'s functions, which hold the math.

The samples are drawn as ``ImageQuality`` and ``lit-gan evaluate`` draw them: sample i of class
i mod K (the model's ``labels_for``), so the classes are balanced. ``intra_fid`` and ``cas`` also read
the held-out images' classes, and, for the value a perfect model would get, training images: as many
of each class as there are samples of it (the ``train`` side), the real-vs-real floor at the same
sample sizes.
"""

from typing import Any, Optional

import torch
from torch import Tensor, nn

from lit_gan.checks import check_greater_than_zero, check_not_negative_int, check_positive_ints
from lit_gan.errors import ConfigError
from lit_gan.metrics.classifier import NetworkFactory
from lit_gan.metrics.conditional import (class_accuracy, classification_accuracy_score, intra_class_fid,
                                         intra_class_fid_floor)
from lit_gan.metrics.features import FeatureExtractor, check_takes
from lit_gan.metrics.registry import Collected, MetricContext, QualityMetric
from lit_gan.metrics.standard import MIN_IMAGES  # (and the standard metrics registered first)
from lit_gan.networks.classifier import ConvClassifier
from lit_gan.specs import from_spec


class ByClass(QualityMetric):
    """A metric of the classes the samples were drawn for: refused in one line where there are none."""

    def bind(self, context: MetricContext) -> None:
        if not context.num_classes:
            raise ConfigError(f"Expected `{self.name}` to score a class-conditional model's samples by class, but"
                              f" {context.no_classes}")
        super().bind(context)

    @property
    def num_classes(self) -> int:
        return self.context.num_classes

    @staticmethod
    def first(cache: dict[str, Tensor], key: str, value: Any) -> Tensor:
        """``value()`` once: a value of the real sides only, which are kept across evaluations."""
        if key not in cache:
            cache[key] = torch.as_tensor(value(), dtype=torch.float64)
        return cache[key]


class ClassAccuracy(ByClass):
    """The share of samples that ``classifier`` puts in the class they were drawn for, overall
    (``class_accuracy``) and per class (``class_accuracy_<c>``).

    Args:
        classifier: a :class:`~lit_gan.metrics.ClassifierFeatures` (any extractor with logits of the model's
            classes) that runs on the samples; None: the feature extractor's logits (it must be such a classifier).
    """

    name = "class_accuracy"

    def __init__(self, classifier: Optional[FeatureExtractor] = None) -> None:
        self.classifier = classifier

    @property
    def needs(self) -> dict[str, tuple[str, ...]]:  # type: ignore[override]
        return {"generated": ("logits" if self.classifier is None else "images", "labels")}

    def judge(self) -> FeatureExtractor:
        return self.context.extractor if self.classifier is None else self.classifier

    def bind(self, context: MetricContext) -> None:
        super().bind(context)
        judge = self.judge()
        if judge.num_classes != self.num_classes:
            hint = ": give `classifier`, a ClassifierFeatures of the data's classes" if self.classifier is None else ""
            raise ConfigError(f"Expected the classifier of `{self.name}` ({type(judge).__name__}) to have the model's"
                              f" {self.num_classes} classes, got {judge.num_classes}{hint}")
        if self.classifier is not None:
            check_takes(self.classifier, context.img_shape, "the generated samples")

    def value_names(self) -> list[str]:
        per_class = range(self.num_classes) if hasattr(self, "context") else ()
        return [self.name, *(f"{self.name}_{c}" for c in per_class)]

    def build(self) -> nn.Module:
        state = Collected({"generated": ("logits", "labels")})
        state.classifier = self.classifier  # a submodule (None: the extractor's logits): moved with the states
        return state

    def update(self, state: nn.Module, side: str, rows: Any) -> None:
        logits = rows["logits"] if state.classifier is None else state.classifier.extract(rows["images"])[1]  # (B, K)
        state.update(side, {"logits": logits, "labels": rows["labels"]})

    def score(self, rows: dict[str, dict[str, Tensor]]) -> dict[str, Tensor]:
        accuracy = class_accuracy(rows["generated"]["logits"], rows["generated"]["labels"], self.num_classes)
        return {self.name: accuracy["accuracy"],
                **{f"{self.name}_{c}": value for c, value in enumerate(accuracy["per_class"])}}

    def protocol(self, n_real: int, n_generated: int) -> list[str]:
        return [f"class accuracy by {_identity(self.judge())}"]

    def settings(self, n_real: int, n_generated: int) -> dict[str, Any]:
        return {"classifier": _identity(self.judge())}


class IntraClassFID(ByClass):
    """Intra-class FID (Miyato & Koyama 2018): the FID of each class's samples against that class's held-out
    images, on the extractor's features, averaged over the classes (``intra_fid``); beside it
    (``intra_fid_floor``) the same between training images, as many of each class as samples, and the held-out
    ones: a perfect model's value at these sample sizes (each class has few samples, so the bias is large)."""

    name, outputs = "intra_fid", ("intra_fid", "intra_fid_floor")
    needs = {side: ("features", "labels") for side in ("real", "generated", "train")}

    def check_counts(self, n_real: Optional[int], n_generated: int) -> None:
        for side, n in (("real", n_real), ("generated", n_generated)):
            if n is not None and n < MIN_IMAGES * self.num_classes:
                raise ConfigError(f"Expected at least {MIN_IMAGES * self.num_classes} {side} images for `{self.name}`"
                                  f" ({MIN_IMAGES} of each of the {self.num_classes} classes: a covariance needs"
                                  f" {MIN_IMAGES}), got {n}")

    def build(self) -> nn.Module:
        state = Collected(self.needs)
        state.kept = {}  # the floor, of the real sides only
        return state

    def compute(self, state: nn.Module) -> dict[str, Tensor]:
        rows, k = state.compute(), self.num_classes
        real, fake, train = rows["real"], rows["generated"], rows["train"]
        floor = self.first(state.kept, "floor", lambda: intra_class_fid_floor(
            train["features"], train["labels"], real["features"], real["labels"], k)["intra_fid"])
        value = intra_class_fid(fake["features"], fake["labels"], real["features"], real["labels"], k)["intra_fid"]
        return {"intra_fid": value, "intra_fid_floor": floor}

    def protocol(self, n_real: int, n_generated: int) -> list[str]:
        return ["intra-class FID floor: training vs held-out images"]


class CAS(ByClass):
    """Classification Accuracy Score (Ravuri & Vinyals 2019): the accuracy on the held-out images of a classifier
    trained on the samples alone, with the classes they were drawn for (``cas``), beside the same classifier
    trained on training images, as many of each class (``cas_real``). A fresh classifier at every evaluation:
    ``epochs`` passes of Adam, shuffled minibatches, all from ``seed`` (:func:`~lit_gan.metrics.conditional.
    classification_accuracy_score`).

    Args:
        network: called as ``network(img_shape, num_classes)``, images -> logits; in YAML a ``class_path``
            without those two; None: :class:`~lit_gan.networks.classifier.ConvClassifier`.
        epochs, batch_size, lr, seed: its training.
    """

    name, outputs = "cas", ("cas", "cas_real")
    needs = {side: ("images", "labels") for side in ("real", "generated", "train")}

    def __init__(self, network: Optional[NetworkFactory] = None, epochs: int = 5, batch_size: int = 64,
                 lr: float = 1e-3, seed: int = 0) -> None:
        check_positive_ints(epochs=epochs, batch_size=batch_size)
        check_greater_than_zero(lr=lr)
        check_not_negative_int(seed=seed)
        self.network, self.epochs, self.batch_size = network, int(epochs), int(batch_size)
        self.lr, self.seed = float(lr), int(seed)

    def build(self) -> nn.Module:
        state = Collected(self.needs)
        state.kept = {}  # cas_real, of the real sides only
        return state

    def accuracy(self, train: dict[str, Tensor], test: dict[str, Tensor]) -> float:
        network, shape = from_spec(self.network or ConvClassifier), tuple(train["images"].shape[1:])
        with torch.enable_grad():  # the metrics run under no_grad
            return classification_accuracy_score(train["images"], train["labels"], test["images"], test["labels"],
                                                 lambda: network(shape, self.num_classes), epochs=self.epochs,
                                                 batch_size=self.batch_size, lr=self.lr, seed=self.seed)

    def compute(self, state: nn.Module) -> dict[str, Tensor]:
        rows = state.compute()
        real = self.first(state.kept, "cas_real", lambda: self.accuracy(rows["train"], rows["real"]))
        cas = torch.tensor(self.accuracy(rows["generated"], rows["real"]), dtype=torch.float64)
        return {"cas": cas, "cas_real": real}

    def protocol(self, n_real: int, n_generated: int) -> list[str]:
        network = self.network or ConvClassifier
        network = getattr(network, "__name__", None) or getattr(getattr(network, "func", None), "__name__", "network")
        return [f"CAS {network}, {self.epochs} epochs of batch {self.batch_size}, lr {self.lr:g}, seed {self.seed}"]

    def settings(self, n_real: int, n_generated: int) -> dict[str, Any]:
        return {"epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr, "seed": self.seed}


def _identity(extractor: FeatureExtractor) -> str:
    try:
        return extractor.identity()["extractor"]
    except NotImplementedError:
        return type(extractor).__name__
