"""``lit-gan evaluate``: sample quality of a checkpoint or a folder of images, with a protocol line to quote.

    lit-gan evaluate --checkpoint lightning_logs/version_0          # the run's last checkpoint, against its own data
    lit-gan evaluate --checkpoint run/checkpoints/last.ckpt --data lit_gan.data.MNIST5k --num_samples 10000
    lit-gan evaluate --samples generated/ --real reference/ --output metrics.json
    lit-gan evaluate --checkpoint lightning_logs/version_0 --write_real reference/   # its held-out images as PNGs

The generated side is a checkpoint of ``lit-gan fit``, or its run folder (``num_samples`` samples from
latents of ``seed``, the averaged generator where the run kept one; a conditional model's sample i of class
i mod K) or a folder of images (read as torch-fidelity reads one, :mod:`lit_gan.data.samples`; as
grayscale where the feature extractor or the data takes 1-channel images). The real side is a data
module's held-out split (``--data``, as in ``lit-gan fit``; with a checkpoint alone, the data of its run,
:mod:`lit_gan.run_config`) or a folder (``--real``). The metrics are
any of the registry's (:mod:`lit_gan.metrics.registry`, by name or ``class_path``) on one feature
extractor (Inception by default), the real features from the reference cache when it has them. Prints
a table and one protocol line (extractor, its weights' sha256 prefix, N real / N generated, resize,
each metric's settings, versions, and a WARNING where FID has fewer images than features) and writes
both to ``output`` as JSON (:mod:`lit_gan.evaluate_report`: atomically). ``output`` may be a new file
or the report of an earlier evaluate, which it replaces; any other existing file (a checkpoint, an
image of the folders read) is refused before anything runs, as are fewer than 2 images for FID or
KID and the folder of a ``lit-gan predict`` stopped while writing. A checkpoint of 2-D points (a toy run)
is scored by mode coverage and the exact W1 instead (:mod:`lit_gan.evaluate_toy`); one of stacked digits by the
modes of 1,000 its samples cover and their KL from uniform (:mod:`lit_gan.evaluate_stacked`).

``run`` reads its inputs (:mod:`lit_gan.evaluate_inputs`: each side counted, nothing extracted), checks
them (:func:`check_inputs`), scores them (:func:`score`; the samples and the held-out images come from
:mod:`lit_gan.metrics.sources`, as in ``ImageQuality``) and reports (:func:`lit_gan.evaluate_report.report`).
"""

import sys
import warnings
from pathlib import Path
from typing import Any, Optional

import torch
from jsonargparse import ActionConfigFile
from lightning.pytorch import LightningDataModule

from lit_gan.checks import check_positive_ints
from lit_gan.errors import ConfigError
from lit_gan.evaluate_inputs import Side, data_shape, read_generated, read_real, to_device, write_held_out
from lit_gan.evaluate_report import check_output, report
from lit_gan.evaluate_stacked import check_stacked_arguments, is_stacked, run_stacked, stacked_classifier
from lit_gan.evaluate_toy import check_toy_arguments, is_toy, run_toy
from lit_gan.files import unfinished
from lit_gan.metrics.features import FeatureExtractor, input_shape
from lit_gan.metrics.quality import ImageQualityMetrics, MetricEntry, check_counts, feed_real, protocol
from lit_gan.metrics.reference import ReferenceCache, cached_outputs
from lit_gan.metrics.registry import QualityMetric, resolve, with_flat_options
from lit_gan.metrics.sources import (check_training_counts, class_counts, dataset_class_counts, sample_labels,
                                     training_like)
from lit_gan.objectives.loading import load_with_step
from lit_gan.parser import LitGanParser
from lit_gan.run_config import data_of_run
from lit_gan.run_folders import checkpoint_in


# ----------------------------------------------------------------- checks, before anything is extracted
def check_finished(name: str, folder: Optional[str]) -> None:
    """Refuse a folder that a ``lit-gan predict`` stopped while writing left (SampleWriter's temporary folder,
    or a ``dirpath`` it was moving the files into): some of the samples, not a result."""
    mark = None if folder is None else unfinished(Path(folder).resolve())
    if mark is not None:
        raise ConfigError(f"`{name}` {folder!r} is in the unfinished output of a `lit-gan predict` stopped while"
                          f" writing ({mark}), not a result: write the samples again")


def check_arguments(samples: Optional[str], checkpoint: Optional[str], data: Optional[LightningDataModule],
                    real: Optional[str], output: Optional[str], device: str, write_real: Optional[str],
                    **counts: Optional[int]) -> torch.device:
    """The arguments alone, before any input is read; returns the device. Neither `data` nor `real` with a
    checkpoint: the run's own data (its config.yaml)."""
    if write_real is not None:
        for name, value in (("samples", samples), ("real", real), ("output", output)):
            if value is not None:
                raise ConfigError(f"Expected argument `{name}` to be left out with `write_real`, which writes the"
                                  " held-out images of `data` (or of the run of `checkpoint`) and scores nothing")
        if data is None and checkpoint is None:
            raise ConfigError("Expected `data` or a `checkpoint` (whose run's config says its data) with `write_real`,"
                              " got neither")
    elif (samples is None) == (checkpoint is None):
        raise ConfigError("Expected exactly one of the arguments `samples` (a folder) and `checkpoint`, got "
                          + ("both" if samples else "neither"))
    if data is not None and real is not None:
        raise ConfigError("Expected exactly one of the arguments `data` (a data module) and `real` (a folder), got"
                          " both")
    if data is None and real is None and checkpoint is None:
        raise ConfigError("Expected exactly one of the arguments `data` (a data module) and `real` (a folder), got"
                          " neither (a `checkpoint` alone takes the data of its run)")
    check_positive_ints(**counts)
    check_finished("samples", samples)
    check_finished("real", real)
    if output is not None:
        check_output(output, checkpoint, {"samples": samples, "real": real})
    try:
        where = torch.device(device)
        torch.empty(0, device=where)
    except (RuntimeError, AssertionError) as err:
        raise ConfigError(f"Expected argument `device` to be a device this machine has (cpu, cuda), got {device!r}: {err}")
    return where


def check_image_arguments(toy: dict[str, Any]) -> None:
    """Refuse an option of the toy metrics (name -> value, None: not given) where images are scored."""
    for name, value in toy.items():
        if value is not None:
            raise ConfigError(f"Expected argument `{name}` to be left out: it is an option of the toy metrics (a"
                              " checkpoint of 2-D points), and these samples are images")


def check_inputs(metric: ImageQualityMetrics, real: Side, generated: Side) -> None:
    """Once both sides are counted: each metric has enough images, the images have the extractor's shape,
    and a metric that reads the classes of a side (or training images) has them."""
    check_counts(metric.metrics, real.count, generated.count)
    for side in (real, generated):
        side.check_shape(metric.feature_extractor)
    for side, name in ((real, "real"), (generated, "generated")):
        needing = [m.name for m in metric.metrics if "labels" in m.needs.get(name, ())]
        if needing and side.no_classes:
            raise ConfigError(f"Expected the {name} images of `{needing[0]}` to come with their classes, but"
                              f" {side.no_classes}")
    if metric.needs_train:
        train_set = getattr(real.data, "train_set", None)
        if train_set is None:
            raise ConfigError(f"Expected `data` with a `train_set` for {', '.join(metric.chosen)} (training images, the"
                              " real-vs-real values)")
        model = generated.model
        check_training_counts(dataset_class_counts(train_set, model.num_classes), class_counts(model, generated.count))


# ----------------------------------------------------------------- scoring
def feed_generated(metric: ImageQualityMetrics, generated: Side, cache: Optional[ReferenceCache], batch_size: int,
                   where: torch.device) -> Optional[bool]:
    """Give ``metric`` the generated images, their outputs from ``cache`` when it holds them (None: extracted, not
    stored); whether the cache had them. Cached outputs go in by batches of ``batch_size``, as extracted ones do,
    so that FID's running sums and the values are the same to the bit. A metric of the images themselves
    (CAS, a classifier of its own) reads them: no cache."""
    if cache is not None and "images" in metric.fields("generated"):
        warnings.warn("samples cache off: a metric reads the samples themselves", stacklevel=2)
        cache = None
    if cache is None:
        for images, labels in generated.batches():
            metric.update(images, real=False, labels=labels)
        return None
    extractor = metric.feature_extractor
    features, logits, hit = cached_outputs(lambda: (x for x, _ in generated.batches()), extractor, cache,
                                           generated.source, logits=extractor.num_classes > 0, what="samples cache")
    labels = None if generated.model is None else sample_labels(generated.model, generated.count)
    for start in range(0, len(features), batch_size):
        rows = slice(start, start + batch_size)
        metric.update_features(features[rows].to(where), None if logits is None else logits[rows].to(where),
                               labels=None if labels is None else labels[rows])
    return hit


def feed_train(metric: ImageQualityMetrics, real: Side, generated: Side, batch_size: int, where: torch.device) -> None:
    """Training images of ``data`` with the samples' class counts (the class metrics' real-vs-real values)."""
    counts = class_counts(generated.model, generated.count)
    images, labels = training_like(real.data.train_set, counts, batch_size, to_device(real.data, where))
    for start in range(0, len(labels), batch_size):
        metric.update_train(images[start : start + batch_size], labels[start : start + batch_size])


def score(metric: ImageQualityMetrics, real: Side, generated: Side, batch_size: int, where: torch.device,
          cache: Optional[ReferenceCache],
          samples_cache: Optional[ReferenceCache]) -> tuple[dict[str, float], dict[str, Any]]:
    """The values (float) and the protocol (:func:`lit_gan.metrics.quality.protocol`)."""
    with torch.no_grad():
        hit = feed_real(metric, real.batches, cache, real.source, where) if metric.needs_real else None
        if metric.needs_train:
            feed_train(metric, real, generated, batch_size, where)
        samples_hit = feed_generated(metric, generated, samples_cache, batch_size, where)
        values = {k: float(v) for k, v in metric.compute().items()}
    counts = {"num_real": real.count, "num_generated": generated.count}
    return values, protocol(metric, counts, {"real": real.name, "generated": generated.name}, hit, samples_hit)


@with_flat_options
def run(
    samples: Optional[str] = None,
    checkpoint: Optional[str] = None,
    num_samples: Optional[int] = None,
    data: Optional[LightningDataModule] = None,
    real: Optional[str] = None,
    num_real: Optional[int] = None,
    feature_extractor: Optional[FeatureExtractor] = None,
    metrics: Optional[list[MetricEntry]] = None,
    batch_size: int = 64,
    seed: int = 0,
    reference_cache: bool = True,
    cache_samples: bool = False,
    cache_dir: Optional[str] = None,
    device: str = "cpu",
    output: Optional[str] = None,
    write_real: Optional[str] = None,
    mode_k: Optional[float] = None,
    mode_min_samples: Optional[int] = None,
    w1_points: Optional[int] = None,
    **flat: Any,
) -> dict[str, Any]:
    """Score generated images against real ones; print the table and the protocol line; write ``output``.

    Args:
        samples: a folder of generated images (png, jpg, jpeg; not its sub-folders), read as RGB, or as grayscale
            where the feature extractor takes (else ``data`` holds) 1-channel images.
        checkpoint: or a checkpoint of ``lit-gan fit`` (or its run's folder: its ``checkpoints/last.ckpt``, else the
            newest ``.ckpt`` under it), whose generator draws ``num_samples`` images (or 2-D points: a toy run,
            scored by mode coverage and the exact W1 instead; or stacked digits, by the modes they cover).
        num_samples: generated images: from the checkpoint (default 10,000; points: 2,500, as MixtureCoverage;
            stacked digits: 26,000, as StackedModes), or
            the first of the folder (default all).
        data: the data module whose held-out split is the real side (as ``--data`` of ``lit-gan fit``). With a
            checkpoint and neither ``data`` nor ``real``: the data of its run (the ``config.yaml`` fit wrote
            beside its ``checkpoints/``; a data module of lit_gan only).
        real: or a folder of real images.
        num_real: the first this many real images; None: all.
        feature_extractor: None: Inception v3 (torch hub's cache; ``InceptionFeatures`` with ``weights_path`` offline).
            Stacked digits: the digit classifier (None: the run's StackedModes callback's).
        metrics: as ``ImageQuality``'s: names (``[fid, kid]``) or metrics by ``class_path`` with their options.
        batch_size: images per generator call and per feature extraction (torch-fidelity's: 64).
        seed: seed of the checkpoint's latents.
        reference_cache, cache_dir: reuse the real features (see :mod:`lit_gan.metrics.reference`).
        cache_samples: also keep the generated images' features (and logits) in the cache (``cache_dir``, also
            with ``reference_cache`` off), under their bytes: evaluating the same checkpoint (same ``seed``,
            ``num_samples``, ``batch_size`` and ``device``) or folder again, against another split or with
            other metrics or draws, then extracts nothing. A miss draws (or reads) the samples twice: to hash
            them, then to extract them. Off by default: each entry is as large as the reference's (82 MB
            for 10,000 images on Inception, 40 MB more for the logits).
        device: where the networks run ("cpu", "cuda", "cuda:1").
        output: a JSON file for the values and the protocol: a new file, or the report of an earlier evaluate
            (replaced); not the checkpoint, nor any other existing file.
        write_real: instead of scoring, write the first ``num_real`` held-out images of ``data`` (or of the run of
            ``checkpoint``) to this folder as PNGs (000000.png ...; grayscale for 1 channel), for ``--real`` and
            other tools (torch-fidelity, clean-fid); an earlier write there is replaced.
        mode_k: points (a toy run) only: high quality means within ``mode_k`` standard deviations of the nearest
            mode (None: 3, as MixtureCoverage).
        mode_min_samples: points only: the high-quality samples a mode needs to count as captured (None: 1).
        w1_points: points only: the exact W1 (an optimal matching) of the first this many samples and held-out
            points (None: 2,000).
        flat: the standard metrics' options by their names of before the registry (``--is_splits``,
            ``--kid_subsets``, ``--kid_subset_size``, ``--draws``, ``--draw_seed``, ``--precision_k``,
            ``--density_k``, ``--mmd_sigma``, ``--mmd_scale``), for the metrics given by name.
    """
    checkpoint = None if checkpoint is None else checkpoint_in(checkpoint)  # a run folder: its last checkpoint
    where = check_arguments(samples, checkpoint, data, real, output, device, write_real, num_samples=num_samples,
                            num_real=num_real, batch_size=batch_size)
    loaded = None if checkpoint is None else load_with_step(checkpoint, where, "checkpoint")  # imports limited
    note = ""  # said once every input is checked, before the long part
    if data is None and real is None:  # the run's own data, as its config.yaml says
        data, config = data_of_run(checkpoint)
        note = (f"lit-gan evaluate: the real side is the held-out split of {type(data).__name__}, the run's data"
                f" ({config})")
    if write_real is not None:
        return write_held_out(data, num_real, write_real, note)
    toy = {"mode_k": mode_k, "mode_min_samples": mode_min_samples, "w1_points": w1_points}
    if loaded is not None and is_toy(loaded[0]):
        model, step = loaded
        given = {"feature_extractor": feature_extractor, "metrics": metrics, "real": real,
                 "cache_samples": cache_samples, **flat}
        settings = check_toy_arguments(model.img_shape, given, data, num_real, **toy)
        if note:
            print(note, flush=True)
        return run_toy(model, step, checkpoint, data, num_samples, batch_size, seed, where, output, **settings)
    if loaded is not None and is_stacked(data) and metrics is None:  # Stacked MNIST: modes and KL (images: --metrics)
        check_stacked_arguments({"cache_samples": cache_samples, **toy, **flat})
        classifier = stacked_classifier(feature_extractor, checkpoint)
        return run_stacked(*loaded, checkpoint, data, classifier, num_samples, num_real, batch_size, seed, where,
                           output, note)
    check_image_arguments(toy)
    chosen: list[QualityMetric] = resolve(metrics, feature_extractor, flat, owner="evaluate")
    if feature_extractor is None:
        from lit_gan.metrics.inception import InceptionFeatures

        feature_extractor = InceptionFeatures()
    # folders are read with the channels the extractor takes (a classifier's), else the data's, else RGB
    channels = (input_shape(feature_extractor) or (data_shape(data) if data is not None else None) or (None,))[0]
    real_side = read_real(data, real, num_real, channels, batch_size, where)
    generated = read_generated(loaded, checkpoint, samples, num_samples, channels, batch_size, seed, where)
    model = generated.model
    metric = ImageQualityMetrics(feature_extractor, metrics=chosen, num_classes=model.num_classes if model else 0,
                                 img_shape=model.img_shape if model else None,
                                 no_classes=generated.no_classes or "").to(where)
    check_inputs(metric, real_side, generated)
    if note:
        print(note, flush=True)
    cache = ReferenceCache(cache_dir) if reference_cache else None
    values, p = score(metric, real_side, generated, batch_size, where, cache,
                      ReferenceCache(cache_dir) if cache_samples else None)
    return report(values, p, output)


def main(args: Optional[list[str]] = None) -> dict[str, Any]:
    """``lit-gan evaluate [--config FILE] --samples DIR | --checkpoint CKPT --data ... | --real DIR ...``."""
    parser = LitGanParser(prog="lit-gan evaluate", description=__doc__.split("\n")[0], env_prefix="LIT_GAN")
    parser.add_argument("--config", action=ActionConfigFile, help="a YAML file of these arguments")
    parser.add_function_arguments(run, fail_untyped=True)
    config = parser.parse_args(sys.argv[2:] if args is None else args)
    try:  # building the extractor (missing weights) and the data module, then the run itself
        init = parser.instantiate_classes(config)
        return run(**{k: v for k, v in vars(init).items() if k != "config"})
    except ValueError as err:  # ConfigError included
        parser.error(str(err))
