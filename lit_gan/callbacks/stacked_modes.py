"""Mode collapse, measured during training on Stacked MNIST (VEEGAN; PacGAN, Section 5): the modes
of ``num_samples`` generated stacks (26,000 in both papers) and their KL from uniform, beside the
same scores of as many real held-out stacks, the floor (:mod:`lit_gan.metrics.stacked`).

When and how the samples are drawn (fixed latents, DDP shards, the fit summary and HPARAMS) is
:class:`~lit_gan.callbacks.image_quality.SampleEvaluation`'s, as for MixtureCoverage.
"""

from typing import Any, Iterator, Optional

from lightning.pytorch import LightningModule, Trainer
from torch import Tensor

from lit_gan.callbacks.image_quality import SampleEvaluation, held_out_count, shard, to_model
from lit_gan.checks import check_positive_ints
from lit_gan.data.stacked_mnist import NUM_MODES
from lit_gan.errors import ConfigError
from lit_gan.metrics.features import FeatureExtractor
from lit_gan.metrics.stacked import StackedModeCoverage, check_digit_classifier


class StackedModes(SampleEvaluation):
    """Logs ``val/stacked_modes`` (of 1,000) and ``val/stacked_kl`` (KL(p || uniform), natural log) of
    generator samples, and the floor: ``val/stacked_modes_floor`` and ``val/stacked_kl_floor`` of
    ``num_real`` real held-out stacks (labelled by the same classifier, computed once), with
    ``val/stacked_classifier_accuracy``, the share of those whose three digits the classifier reads
    right (what the scores are worth). ``hp_metric`` is the KL.

    Args:
        classifier: the digit classifier that labels each channel: a
            :class:`~lit_gan.metrics.ClassifierFeatures` of a Classifier trained as
            ``configs/classifier_mnist5k.yaml`` (10 classes, images (1, 28, 28)).
        num_samples: generator samples per evaluation (VEEGAN, PacGAN: 26,000).
        batch_size: samples per generator call and per classifier pass.
        every_n_epochs, every_n_steps, seed: see :class:`~lit_gan.callbacks.image_quality.SampleEvaluation`.
        num_real: held-out stacks of the floor; None: as many as ``num_samples`` (the scores depend on N).
    """

    def __init__(
        self,
        classifier: FeatureExtractor,
        num_samples: int = 26_000,
        batch_size: int = 500,
        every_n_epochs: Optional[int] = None,
        every_n_steps: Optional[int] = None,
        seed: int = 0,
        num_real: Optional[int] = None,
    ) -> None:
        super().__init__(num_samples, batch_size, every_n_epochs, every_n_steps, seed)
        check_positive_ints(num_real=num_real)
        check_digit_classifier(classifier)
        self.classifier = classifier
        self.num_real = int(num_real) if num_real is not None else self.num_samples

    def value_names(self) -> list[str]:
        return ["stacked_modes", "stacked_kl", "stacked_modes_floor", "stacked_kl_floor", "stacked_classifier_accuracy"]

    def primary(self) -> str:
        return "stacked_kl"

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Refuse data that is not stacked digits, a classifier of another shape, and fewer held-out
        stacks than the floor takes, before any training."""
        datamodule = trainer.datamodule
        if getattr(datamodule, "num_modes", None) != NUM_MODES or getattr(datamodule, "channels", None) != 3:
            raise ConfigError(
                f"Expected `data` to be stacked digits (lit_gan.data.StackedMNIST: 3 digits an image, {NUM_MODES}"
                f" modes) for {type(self).__name__}, got {type(datamodule).__name__}"
            )
        check_digit_classifier(self.classifier, datamodule.img_shape)
        available = held_out_count(datamodule)
        if available is not None and self.num_real > available:
            raise ConfigError(
                f"Expected argument `num_real` ({self.num_real}; None: `num_samples`) to be at most the {available}"
                f" held-out stacks of {type(datamodule).__name__}: raise its `n_val`, or lower `num_real`"
            )
        super().setup(trainer, pl_module, stage)

    def build(self, trainer: Trainer, pl_module: LightningModule) -> StackedModeCoverage:
        return StackedModeCoverage(self.classifier)

    def feed_real(self, trainer: Trainer, pl_module: LightningModule, metric: Any) -> None:
        """This rank's share of the first ``num_real`` held-out stacks, with their true modes."""
        for images, modes in self._held_out_stacks(trainer, pl_module):
            metric.update(images, real=True, modes=modes)

    def _held_out_stacks(self, trainer: Trainer, pl_module: LightningModule) -> Iterator[tuple[Tensor, Tensor]]:
        lo, hi = shard(self.num_real, trainer.global_rank, trainer.world_size)
        offset = 0
        for batch in trainer.datamodule.val_dataloader():
            size = len(batch[0])
            if offset + size > lo:
                images, modes = to_model(batch, trainer, pl_module)  # uint8 -> [-1, 1] (and resized) as in training
                yield images[max(lo - offset, 0) : hi - offset], modes[max(lo - offset, 0) : hi - offset]
            offset += size
            if offset >= hi:
                break
