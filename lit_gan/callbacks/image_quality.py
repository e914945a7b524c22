"""Sample quality during training: FID, IS and KID on images, mode coverage on toy mixtures.

Every ``every_n_epochs`` epochs or ``every_n_steps`` generator updates (and at the end of
``lit-gan test``), the generator draws ``num_samples`` samples, in batches, without gradients,
in eval mode, from latents of a fixed seed (the same at every evaluation, and the training's
random stream is left alone). Under DDP every rank draws its contiguous share of those latents
and extracts its contiguous share of the held-out images; every rank calls ``compute``, which
gathers the metrics' states of all ranks, computes the values on rank 0 alone (FID's matrix square
root, KID's subsets, the k-NN radii: once, not once per rank) and broadcasts them, so every rank
logs the same values (:mod:`lit_gan.metrics.distributed`). One process and several compute the
same values from the same samples, and share the reference cache's entry of the held-out images.

The metrics are :mod:`lit_gan.metrics`' (:class:`~lit_gan.metrics.ImageQualityMetrics`, any metrics
of the registry; :class:`~lit_gan.metrics.ModeCoverage`); the samples and the held-out images come
from :mod:`lit_gan.metrics.sources`, as in ``lit-gan evaluate``; these callbacks decide when to
evaluate, feed the metric and log its values.
"""

from typing import Any, Iterator, Optional, Union

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from lightning.pytorch.utilities.model_helpers import is_overridden
from torch import Tensor

from lit_gan.callbacks.schedule import StepSchedule
from lit_gan.checks import check_greater_than_zero, check_positive_ints
from lit_gan.errors import ConfigError
from lit_gan.metrics.coverage import ModeCoverage
from lit_gan.metrics.features import FeatureExtractor, check_takes
from lit_gan.metrics.quality import (ImageQualityMetrics, MetricEntry, check_counts, feed_real, few_images_warnings,
                                     protocol, protocol_line)
from lit_gan.metrics.reference import ReferenceCache
from lit_gan.metrics.registry import resolve, with_flat_options
from lit_gan.metrics.sources import (check_num_real, check_training_counts, class_counts, dataset_class_counts,
                                     generated_batches, held_out_batches, shard, training_like)

SampleMetric = Union[ImageQualityMetrics, ModeCoverage]  # update(x, real=False), compute() -> dict, reset(), needs_real
__all__ = ["ImageQuality", "MixtureCoverage", "SampleEvaluation", "check_num_real", "shard", "to_model"]


def held_out_count(datamodule: Any) -> Optional[int]:
    """The number of held-out images of ``datamodule`` (its ``val_dataloader``'s), None where it cannot say."""
    if datamodule is None or not is_overridden("val_dataloader", datamodule):
        return None
    try:
        return len(datamodule.val_dataloader().dataset)
    except TypeError:  # an iterable data set, without a length
        return None


def _batch_hook(name: str, trainer: Trainer, pl_module: LightningModule) -> Any:
    """The data module's hook ``name`` when it overrides it, else the LightningModule's: the one
    Lightning's loops call on their batches (its ``_DataHookSelector``)."""
    datamodule = trainer.datamodule
    return getattr(datamodule if is_overridden(name, datamodule) else pl_module, name)


def to_model(batch: Any, trainer: Trainer, pl_module: LightningModule) -> Any:
    """``batch`` of a data loader as the model's loops receive it: ``on_before_batch_transfer``,
    ``transfer_batch_to_device`` (to the model's device) and ``on_after_batch_transfer``, each the
    data module's or the model's, as Lightning picks them (data loader 0)."""
    batch = _batch_hook("on_before_batch_transfer", trainer, pl_module)(batch, 0)
    batch = _batch_hook("transfer_batch_to_device", trainer, pl_module)(batch, pl_module.device, 0)
    return _batch_hook("on_after_batch_transfer", trainer, pl_module)(batch, 0)


def last_epoch(trainer: Trainer) -> bool:
    """Whether fit ends with the epoch that is ending: ``max_steps`` reached, the last of ``max_epochs``, or a stop."""
    steps_done = trainer.max_steps is not None and 0 <= trainer.max_steps <= trainer.global_step
    epochs_done = trainer.max_epochs is not None and 0 <= trainer.max_epochs <= trainer.current_epoch + 1
    return bool(steps_done or epochs_done or trainer.should_stop)


class SampleEvaluation(Callback):
    """Base class: when to evaluate, the sharded draw of samples and of held-out data, the logging.

    Subclasses build the metric in ``build``: an :class:`~lit_gan.metrics.ImageQualityMetrics` or a
    :class:`~lit_gan.metrics.ModeCoverage`, torchmetrics-style objects with ``update(x, real=False)``,
    ``compute() -> dict[str, Tensor]``, ``reset()``, ``.to(device)``, and ``needs_real``: whether
    they compare with the data module's held-out images (fed once, and kept across ``reset``).

    Args:
        num_samples: generator samples per evaluation, over all ranks.
        batch_size: samples per generator call.
        every_n_epochs: evaluate at the end of every this many training epochs.
        every_n_steps: evaluate every this many generator updates (``trainer.global_step``) instead, and at
            the end of fit when its last step is not a multiple (a run shortened below the period has scores).
            With neither, every epoch.
        seed: seed of the latents (and of the metrics' random splits).
    """

    num_real: Optional[int] = None  # held-out images to compare with, over all ranks; None: all of them
    prefix: str = ""  # logged as <stage>/<prefix><name>

    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        every_n_epochs: Optional[int] = None,
        every_n_steps: Optional[int] = None,
        seed: int = 0,
    ) -> None:
        check_positive_ints(
            num_samples=num_samples, batch_size=batch_size, every_n_epochs=every_n_epochs, every_n_steps=every_n_steps
        )
        if every_n_epochs is not None and every_n_steps is not None:
            raise ValueError("Expected only one of the arguments `every_n_epochs` and `every_n_steps`, got both")
        self.num_samples, self.batch_size, self.seed = int(num_samples), int(batch_size), int(seed)
        self.every_n_steps = None if every_n_steps is None else int(every_n_steps)
        self.every_n_epochs = None if every_n_steps is not None else int(every_n_epochs or 1)
        self._schedule = StepSchedule(self.every_n_steps)
        self.metric: Optional[SampleMetric] = None  # built at setup
        self._real_done = False  # real statistics accumulated (kept across evaluations)
        self.last_values: dict[str, Tensor] = {}  # of the last evaluation, as this rank computed them
        self.last_step: Optional[int] = None  # the generator step of the last evaluation

    def build(self, trainer: Trainer, pl_module: LightningModule) -> SampleMetric:
        """The metric, built once, at the first ``setup``."""
        raise NotImplementedError

    def value_names(self) -> list[str]:
        """The names of the values an evaluation gives (without ``prefix``), known before it runs."""
        raise NotImplementedError

    def primary(self) -> str:
        """The value that the run's ``hp_metric`` takes (TensorBoard's HPARAMS tab ranks runs by it)."""
        return self.value_names()[0]

    def hparam_names(self) -> list[str]:
        """The HPARAMS metrics of these values: ``hp/<prefix><name>``."""
        return [f"hp/{self.prefix}{name}" for name in self.value_names()]

    # ----------------------------------------------------------------- when
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if not (callable(getattr(pl_module, "sample", None)) and hasattr(pl_module, "latent_dim")):
            raise ConfigError(
                f"{type(self).__name__} needs a model with `sample(n, z)` and `latent_dim` (a GAN), got {type(pl_module).__name__}"
            )
        if self.num_samples < trainer.world_size:
            raise ConfigError(
                f"Expected argument `num_samples` ({self.num_samples}) to be at least the {trainer.world_size} processes"
            )
        if self.metric is None:
            self.metric = self.build(trainer, pl_module)

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._schedule.start(trainer)  # a resumed run does not re-evaluate the step it resumes at

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self._schedule.due(trainer):
            self.evaluate(trainer, pl_module, "val")

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.every_n_epochs and (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            self.evaluate(trainer, pl_module, "val")
        elif self.every_n_steps and last_epoch(trainer) and self._schedule.due_at_end(trainer):
            # a run shorter than the period, or ending between two multiples: its final scores too (the last
            # epoch's end, where values may still be logged: not on_train_end)
            self.evaluate(trainer, pl_module, "val")

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.evaluate(trainer, pl_module, "test")

    # ----------------------------------------------------------------- how
    def evaluate(self, trainer: Trainer, pl_module: LightningModule, stage: str = "val") -> dict[str, Tensor]:
        """``score``, then log the values as ``<stage>/<name>``.

        In ``test`` they are logged from the test loop's epoch-end hook (Lightning writes them and
        prints the table). During fit they are written to the loggers at once, at the generator step
        (Lightning would write values logged from a batch hook only at its ``log_every_n_steps``,
        dropping evaluations in between), with the HPARAMS metrics ``hp/<name>`` and, for the first
        evaluation callback, ``hp_metric``; ``log_dict`` (logger=False) still puts them in
        ``callback_metrics`` for checkpointing, early stopping and the progress bar.
        """
        values = self.score(trainer, pl_module)
        logged = {f"{stage}/{self.prefix}{k}": v.float() for k, v in values.items()}
        if stage != "val":
            # identical on every rank; sync_dist only keeps Lightning from warning about epoch-level values
            pl_module.log_dict(logged, sync_dist=True)
            return values
        logged |= {f"hp/{self.prefix}{k}": v.float() for k, v in values.items()}  # declared by SaveConfigToLogger
        first = next(c for c in trainer.callbacks if isinstance(c, SampleEvaluation))
        if first is self and self.primary() in values:
            logged["hp_metric"] = values[self.primary()].float()
        pl_module.log_dict(logged, sync_dist=True, logger=False)
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.log_metrics({k: float(v) for k, v in logged.items()}, step=trainer.global_step)
        return values

    def score(self, trainer: Trainer, pl_module: LightningModule) -> dict[str, Tensor]:
        """Score ``num_samples`` generator samples; every rank must call it. Returns the values (float64)."""
        if self.metric is None:
            self.setup(trainer, pl_module, "score")
        # Not in inference mode, even in test: the metrics' states live on from test to fit, and
        # inference tensors could not be updated in place outside inference mode. The random
        # stream of training is left as it was (a DataLoader iterator draws a seed from it).
        with torch.random.fork_rng(devices=[]), torch.inference_mode(False), torch.no_grad():
            metric = self.metric.to(pl_module.device)
            if metric.needs_real and not self._real_done:
                self.feed_real(trainer, pl_module, metric)
                self._real_done = True  # the metric keeps the real statistics across reset
            self.feed_train(trainer, pl_module, metric)
            for samples, labels in self._samples(trainer, pl_module):
                if getattr(metric, "by_class", False):  # a metric of the samples' classes
                    metric.update(samples, real=False, labels=labels)
                else:
                    metric.update(samples, real=False)
            values = metric.compute()  # on every rank: gathers the states of all of them (the values: rank 0's)
            metric.reset()
        self.last_values, self.last_step = values, trainer.global_step
        return values

    def feed_real(self, trainer: Trainer, pl_module: LightningModule, metric: SampleMetric) -> None:
        """Give the metric this rank's share of the held-out images."""
        for images in self._held_out(trainer, pl_module):
            metric.update(images, real=True)

    def feed_train(self, trainer: Trainer, pl_module: LightningModule, metric: SampleMetric) -> None:
        """Training images, for metrics that compare with them (none here)."""

    def _samples(self, trainer: Trainer, pl_module: LightningModule) -> Iterator[tuple[Tensor, Optional[Tensor]]]:
        """This rank's share of ``num_samples`` generator samples, from latents of seed ``seed``, and their
        labels: a conditional model's sample i is of class i mod ``num_classes`` (balanced), else None."""
        return generated_batches(pl_module, self.num_samples, self.batch_size, self.seed, trainer.global_rank,
                                 trainer.world_size)  # eval mode, no grad

    def _held_out_batches(self, trainer: Trainer, pl_module: LightningModule,
                          every_rank: bool = False) -> Iterator[tuple[Tensor, Optional[Tensor]]]:
        """This rank's share of the first ``num_real`` held-out images (the data module's
        ``val_dataloader``), in data space, and their labels (None where the batches have none);
        ``every_rank``: all of them (the reference cache's key is the whole set's)."""
        datamodule = trainer.datamodule
        if datamodule is None:
            raise ConfigError(f"{type(self).__name__} compares with the data module's held-out images: fit with a data module")
        loader = datamodule.val_dataloader()
        available = len(loader.dataset)
        check_num_real(self.num_real, available, datamodule)  # also checked at setup (ImageQuality.setup)
        n = self.num_real or available
        if n < trainer.world_size:
            raise ConfigError(f"{type(self).__name__}: {n} held-out images are fewer than the {trainer.world_size} processes")
        # the conversion (uint8 -> [-1, 1], resizing) of training
        rank, size = (0, 1) if every_rank else (trainer.global_rank, trainer.world_size)
        return held_out_batches(loader, n, lambda batch: to_model(batch, trainer, pl_module), rank, size)

    def _held_out(self, trainer: Trainer, pl_module: LightningModule) -> Iterator[Tensor]:
        """The images of :meth:`_held_out_batches`."""
        return (images for images, _ in self._held_out_batches(trainer, pl_module))


class ImageQuality(SampleEvaluation):
    """FID, IS, KID, precision/recall, density/coverage (and any metric of the registry: MMD, class accuracy,
    intra-class FID, CAS, yours) of generator samples against the data module's held-out images.

    Logs ``val/fid``, ``val/is``, ``val/is_std``, ``val/kid``, ``val/kid_std``, ``val/precision``,
    ``val/recall``, ``val/density``, ``val/coverage`` (by default) during fit (``test/...`` in
    ``lit-gan test``), the values of an :class:`~lit_gan.metrics.ImageQualityMetrics` (one forward
    pass of the feature extractor per batch serves them all), and the last ones as the HPARAMS
    metrics ``hp/<name>``, with ``hp_metric`` = FID. The real features are extracted at the first
    evaluation and kept; with ``reference_cache`` they are also stored on disk
    (:class:`~lit_gan.metrics.reference.ReferenceCache`) and later runs, and ``lit-gan test``, load
    them instead of extracting them again. The first evaluation prints the protocol line of
    ``lit-gan evaluate`` (``protocol_line``): the extractor, the numbers of images, each metric's settings.

    CMMD (Jayasumana et al. 2024) is ``metrics: [mmd]`` on :class:`~lit_gan.metrics.CLIPFeatures`;
    FD_DINOv2 (Stein et al. 2023) is ``metrics: [fid]`` on :class:`~lit_gan.metrics.DINOv2Features`;
    give such a second callback a ``prefix`` (``clip_``, ``dinov2_``) to keep its values apart. A
    class-conditional model's samples (sample i of class i mod K) are scored by class with
    ``metrics: [class_accuracy, intra_fid, cas]`` (:mod:`lit_gan.metrics.by_class`).

    Args:
        feature_extractor: a :class:`~lit_gan.metrics.FeatureExtractor`, e.g.
            :class:`~lit_gan.metrics.InceptionFeatures` (``weights_path`` for nodes without internet) or
            :class:`~lit_gan.metrics.ClassifierFeatures` (``checkpoint_path``); None: Inception from
            torch hub's cache, downloaded if missing.
        num_samples: generator samples per evaluation (FID needs many: 10,000 or 50,000 for published values).
        batch_size: samples per generator call and per feature extraction.
        every_n_epochs, every_n_steps, seed: see :class:`SampleEvaluation` (``seed``: of the latents).
        num_real: held-out images to compare with, at most as many as the data holds (refused at setup
            otherwise); None: all of them.
        metrics: names of registered metrics (``fid``, ``is``, ``kid``, ``precision_recall``,
            ``density_coverage``, ``mmd``, ``class_accuracy``, ``intra_fid``, ``cas``: at their defaults) or
            metrics built by ``class_path`` with their options (``lit_gan.metrics.KID``, ``init_args:
            {subset_size: 100}``); None: all but ``mmd`` and those by class (and ``is`` where the extractor
            has no logits).
        prefix: logged names are ``<stage>/<prefix><name>``.
        reference_cache: store the held-out images' features on disk and reuse them.
        cache_dir: where; None: ``$LIT_GAN_CACHE_DIR``, else ``~/.cache/lit-gan/reference``.
        flat: the standard metrics' options by their names of before the registry, for the metrics given by
            name: ``is_splits``, ``kid_subsets``, ``kid_subset_size``, ``draws``, ``draw_seed``, ``precision_k``,
            ``density_k``, ``mmd_sigma``, ``mmd_scale`` (:mod:`lit_gan.metrics.standard`).
    """

    @with_flat_options
    def __init__(
        self,
        feature_extractor: Optional[FeatureExtractor] = None,
        num_samples: int = 10000,
        batch_size: int = 100,
        every_n_epochs: Optional[int] = None,
        every_n_steps: Optional[int] = None,
        seed: int = 0,
        num_real: Optional[int] = None,
        metrics: Optional[list[MetricEntry]] = None,
        prefix: str = "",
        reference_cache: bool = True,
        cache_dir: Optional[str] = None,
        **flat: Any,
    ) -> None:
        super().__init__(num_samples, batch_size, every_n_epochs, every_n_steps, seed)
        check_positive_ints(num_real=num_real)
        self.metrics = resolve(metrics, feature_extractor, flat)
        for metric in self.metrics:
            metric.check_samples(self.num_samples)
        self.feature_extractor = feature_extractor
        self.num_real = None if num_real is None else int(num_real)
        self.prefix, self.reference_cache, self.cache_dir = str(prefix), bool(reference_cache), cache_dir
        self.cache_hit: Optional[bool] = None  # whether the last real features came from the cache
        self._train_done = False  # training images fed (the class metrics' real-vs-real values)
        self.protocol_line: Optional[str] = None  # of the first evaluation

    def value_names(self) -> list[str]:
        return [name for metric in self.metrics for name in metric.value_names()]

    def primary(self) -> str:
        names = self.value_names()
        return "fid" if "fid" in names else names[0]

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Builds the metric, then checks it against the data, before any training: the extractor takes the
        data's image shape (a classifier trained on other images would fail at the first evaluation), the
        data holds ``num_real`` held-out images, each metric has enough images (FID and KID 2 a side, k-NN
        sizes below the numbers of images, a class metric a conditional model); a warning where FID has
        fewer images than features."""
        super().setup(trainer, pl_module, stage)
        extractor, datamodule = self.metric.feature_extractor, trainer.datamodule
        check_takes(extractor, getattr(datamodule, "img_shape", None), "the data's images")
        check_takes(extractor, getattr(pl_module, "img_shape", None), "the generator's samples")
        available = held_out_count(datamodule)
        if available is not None:
            check_num_real(self.num_real, available, datamodule)
        check_counts(self.metric.metrics, self.num_real or available, self.num_samples)
        for warning in few_images_warnings(self.metric.metrics, self.num_real or available, self.num_samples):
            rank_zero_warn(f"ImageQuality: {warning}")
        if self.metric.needs_train:
            train_set = getattr(datamodule, "train_set", None)
            if train_set is None:
                raise ConfigError(f"Expected a data module with a `train_set` for {', '.join(self.metric.chosen)}"
                                  f" (training images, the real-vs-real values), got {type(datamodule).__name__}")
            check_training_counts(dataset_class_counts(train_set, pl_module.num_classes),
                                  class_counts(pl_module, self.num_samples))

    def build(self, trainer: Trainer, pl_module: LightningModule) -> ImageQualityMetrics:
        if self.feature_extractor is None:
            from lit_gan.metrics.inception import InceptionFeatures

            self.feature_extractor = InceptionFeatures()
        return ImageQualityMetrics(self.feature_extractor, metrics=self.metrics,
                                   num_classes=getattr(pl_module, "num_classes", 0),
                                   img_shape=getattr(pl_module, "img_shape", None))

    def score(self, trainer: Trainer, pl_module: LightningModule) -> dict[str, Tensor]:
        values = super().score(trainer, pl_module)
        if self.protocol_line is None:  # the first evaluation: what a reader needs to reproduce the values
            n_real = (self.num_real or held_out_count(trainer.datamodule) or 0) if self.metric.needs_real else 0
            sides = {"real": f"{type(trainer.datamodule).__name__} val", "generated": f"latent seed {self.seed}"}
            p = protocol(self.metric, {"num_real": n_real, "num_generated": self.num_samples}, sides, self.cache_hit)
            self.protocol_line = protocol_line(p)
            rank_zero_info(f"{type(self).__name__} {self.prefix}protocol: {self.protocol_line}")
        return values

    def feed_real(self, trainer: Trainer, pl_module: LightningModule, metric: SampleMetric) -> None:
        """This rank's share of the held-out features: from the reference cache when it holds the whole set's,
        else extracted, this rank's share (and the whole set's stored, gathered); the held-out labels and images
        too where a metric reads them."""
        cache = ReferenceCache(self.cache_dir) if self.reference_cache else None
        source = {"data": type(trainer.datamodule).__name__, "split": "val"}
        n = self.num_real or held_out_count(trainer.datamodule)
        self.cache_hit = feed_real(metric, lambda: self._held_out_batches(trainer, pl_module, every_rank=True), cache,
                                   source, pl_module.device, n)

    def feed_train(self, trainer: Trainer, pl_module: LightningModule, metric: SampleMetric) -> None:
        """This rank's share of the training images with the samples' class counts, once."""
        if self._train_done or not getattr(metric, "needs_train", False):
            return
        counts = class_counts(pl_module, self.num_samples)
        images, labels = training_like(getattr(trainer.datamodule, "train_set", None), counts, self.batch_size,
                                       lambda batch: to_model(batch, trainer, pl_module))
        lo, hi = shard(len(labels), trainer.global_rank, trainer.world_size)
        for start in range(lo, hi, self.batch_size):
            rows = slice(start, min(start + self.batch_size, hi))
            metric.update_train(images[rows], labels[rows])
        self._train_done = True


class MixtureCoverage(SampleEvaluation):
    """Mode coverage on a toy mixture (:class:`~lit_gan.data.RingOfGaussians`, :class:`~lit_gan.data.GridOfGaussians`):
    logs ``val/modes`` (modes captured) and ``val/hq_fraction`` (samples within ``k`` std of the nearest mode).

    Args:
        num_samples: generator samples per evaluation (PacGAN: 2,500).
        batch_size: samples per generator call.
        every_n_epochs, every_n_steps, seed: see :class:`SampleEvaluation`.
        k: high quality means within ``k`` standard deviations of the nearest mode's center.
        min_samples: high-quality samples a mode needs to count as captured.
    """

    def __init__(
        self,
        num_samples: int = 2500,
        batch_size: int = 2500,
        every_n_epochs: Optional[int] = None,
        every_n_steps: Optional[int] = None,
        seed: int = 0,
        k: float = 3.0,
        min_samples: int = 1,
    ) -> None:
        super().__init__(num_samples, batch_size, every_n_epochs, every_n_steps, seed)
        check_positive_ints(min_samples=min_samples)  # ModeCoverage checks them too, but only at the first evaluation
        check_greater_than_zero(k=k)
        self.k, self.min_samples = float(k), int(min_samples)

    def build(self, trainer: Trainer, pl_module: LightningModule) -> ModeCoverage:
        datamodule = trainer.datamodule
        if not (hasattr(datamodule, "centers") and hasattr(datamodule, "std")):
            raise ConfigError(
                f"{type(self).__name__} needs a data module with mode `centers` and `std` (a mixture of Gaussians)"
            )
        self._by_class = bool(getattr(pl_module, "num_classes", 0))
        return ModeCoverage(datamodule.centers, datamodule.std, k=self.k, min_samples=self.min_samples, by_class=self._by_class)

    def value_names(self) -> list[str]:
        return ["modes", "hq_fraction"] + (["class_hq_fraction"] if getattr(self, "_by_class", False) else [])

    def primary(self) -> str:
        return "hq_fraction"
