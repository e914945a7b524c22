"""A domain classifier: trained by lit-gan on the data set itself, then a feature extractor.

    lit-gan fit --config configs/classifier_mnist.yaml          # trains it, saves checkpoints
    ClassifierFeatures("lightning_logs/version_0/checkpoints/last.ckpt")

Its penultimate features stand in for Inception's pool features in FID (the "Fréchet Classifier
Distance") and KID, its class probabilities for Inception's in IS, on MNIST, the 8x8 digits and
other small data sets where Inception features mean little.
"""

from functools import partial
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import torch
import torch.nn.functional as F
from jsonargparse.typing import PositiveInt
from lightning.pytorch import LightningModule
from lightning.pytorch.cli import OptimizerCallable
from torch import Tensor, nn
from torchmetrics.classification import MulticlassAccuracy

from lit_gan.checkpoints import lightning_load, load_through_door, open_checkpoint
from lit_gan.errors import UNREADABLE, ConfigError, one_line
from lit_gan.metrics.features import FeatureExtractor
from lit_gan.networks.classifier import ConvClassifier
from lit_gan.specs import build, from_spec, to_spec
from lit_gan.tensors import to_unit_range

NetworkFactory = Callable[[Sequence[int], int], nn.Module]  # (img_shape, num_classes) -> network


class Classifier(LightningModule):
    """Cross-entropy training of ``network`` on batches ``[images, labels]``; logs ``train/loss``,
    ``train/acc``, ``val/loss``, ``val/acc`` (and ``test/...``).

    Args:
        network: class (or factory) called as ``network(img_shape, num_classes)``; in YAML a
            ``class_path`` whose ``init_args`` leave out those two. It must have ``features``
            (images -> (B, F)) and ``head`` (features -> logits) modules, as
            :class:`~lit_gan.networks.classifier.ConvClassifier` (the default) has.
        img_shape: shape of one image; linked from the data module's ``img_shape``.
        num_classes: number of classes.
        optimizer: called with the parameters; None: Adam with lr 1e-3.
    """

    def __init__(
        self,
        network: Optional[NetworkFactory] = None,
        img_shape: Sequence[int] = (1, 28, 28),
        num_classes: PositiveInt = 10,
        optimizer: Optional[OptimizerCallable] = None,
    ) -> None:
        super().__init__()
        if int(num_classes) < 2:
            raise ValueError(f"Expected argument `num_classes` to be an integer >= 2, got {num_classes}")
        self.save_hyperparameters()
        self.save_hyperparameters(to_spec(dict(self.hparams)))  # plain data: checkpoints load with weights_only
        self.img_shape, self.num_classes = tuple(int(s) for s in img_shape), int(num_classes)
        self.network = from_spec(network or ConvClassifier)(self.img_shape, self.num_classes)
        for name in ("features", "head"):
            if not isinstance(getattr(self.network, name, None), nn.Module):
                raise ValueError(f"Expected argument `network` to build a module with a `{name}` submodule")
        self._optimizer = from_spec(optimizer) or partial(torch.optim.Adam, lr=1e-3)
        self.train_acc, self.val_acc, self.test_acc = (MulticlassAccuracy(self.num_classes, average="micro") for _ in range(3))

    def forward(self, images: Tensor) -> Tensor:
        return self.network(images)

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """Lightning's, through lit-gan's door (``lit_gan.checkpoints.open_checkpoint``): plain data, whole, and no
        import outside lit_gan, torch.optim and torch.nn (or ``trusted_imports=[...]``) before the network is built
        from its hyperparameters."""
        return load_through_door(cls, checkpoint_path, args, kwargs)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return build("optimizer", self._optimizer, self.parameters())

    def _step(self, batch: Any, stage: str) -> Tensor:
        if not (isinstance(batch, (list, tuple)) and len(batch) >= 2):
            raise ValueError("Expected batches of [images, labels]: the data module must yield labels to train a Classifier")
        images, labels = batch[0], batch[1]
        logits = self.network(images)  # (B, num_classes)
        loss = F.cross_entropy(logits, labels)
        accuracy = getattr(self, f"{stage}_acc")
        accuracy(logits, labels)
        self.log(f"{stage}/loss", loss, prog_bar=True, sync_dist=stage != "train")
        self.log(f"{stage}/acc", accuracy, prog_bar=True, on_step=stage == "train", on_epoch=True)
        return loss

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self._step(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self._step(batch, "test")


class ClassifierCheckpointNotFoundError(ConfigError, FileNotFoundError):
    """The checkpoint of a Classifier is missing."""


class ClassifierFeatures(FeatureExtractor):
    """The features (B, F) and logits (B, K) of a trained :class:`Classifier`, frozen.

    Images go in as the data module gives them (float in [-1, 1], or uint8), with the shape the
    classifier was trained on.

    Args:
        checkpoint_path: a checkpoint written while fitting a Classifier (``lit-gan fit --config
            configs/classifier_mnist.yaml``).
        trusted_imports: class paths outside lit_gan, torch.optim and torch.nn that its hyperparameters
            may name (your own network, ``my_nets.Classifier``): building the classifier imports them.
    """

    def __init__(self, checkpoint_path: str, trusted_imports: Sequence[str] = ()) -> None:
        super().__init__()
        path = Path(checkpoint_path).expanduser()
        if not path.is_file():
            raise ClassifierCheckpointNotFoundError(
                f"Classifier checkpoint `checkpoint_path`={checkpoint_path!r} does not exist. Train one on the same data"
                " with `lit-gan fit --config configs/classifier_mnist.yaml` (or a copy for your data set) and pass"
                " lightning_logs/version_N/checkpoints/<name>.ckpt"
            )
        checkpoint = open_checkpoint(  # plain data, whole, a classifier's, importing nothing untrusted
            str(path), "checkpoint_path", allowed_imports=trusted_imports, gan=False,
            builds="ClassifierFeatures reads a classifier", trust_hint="if you trust the file, add it to `trusted_imports`",
        )
        try:
            classifier = lightning_load(Classifier, checkpoint, map_location="cpu", weights_only=True)  # read once
        except (*UNREADABLE, TypeError, KeyError) as err:  # hyperparameters that build no Classifier
            raise ConfigError(
                f"`checkpoint_path` {checkpoint_path} is not a checkpoint of a lit_gan Classifier"
                f" ({type(err).__name__}: {one_line(err) or 'no message'})"
            ) from err
        self.checkpoint_path = str(path)
        self.img_shape = classifier.img_shape
        self.network = classifier.network
        self.num_features = int(self.network.head.in_features)
        self.num_classes = int(self.network.head.out_features)
        self.requires_grad_(False).eval()

    def extract(self, images: Tensor) -> tuple[Tensor, Tensor]:
        if tuple(images.shape[1:]) != self.img_shape:
            raise ValueError(
                f"Expected argument `images` to have shape (B, {', '.join(map(str, self.img_shape))}), the shape the"
                f" classifier was trained on, got {tuple(images.shape)}"
            )
        features = self.network.features(to_unit_range(images))  # (B, F)
        return features, self.network.head(features)  # logits (B, K)

    def identity(self) -> dict[str, str]:
        shape = "x".join(map(str, self.img_shape))
        return {
            "extractor": "classifier",
            "features": str(self.num_features),
            "weights_sha256": self._file_sha256(self.checkpoint_path),  # of the checkpoint file
            "resize": f"none: images of shape {shape} as trained, uint8 mapped to [-1, 1]",
        }
