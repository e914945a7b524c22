"""``lit-gan evaluate``: sample quality of a checkpoint or a folder of images, with a protocol line to quote.

    lit-gan evaluate --checkpoint run/checkpoints/last.ckpt --data configs/data/mnist.yaml --num_samples 10000
    lit-gan evaluate --samples generated/ --real reference/ --output metrics.json

The generated side is a checkpoint of ``lit-gan fit`` (``num_samples`` samples from latents of
``seed``, the averaged generator where the run kept one) or a folder of images (read as
torch-fidelity reads one, :mod:`lit_gan.data.samples`; as grayscale where the feature extractor or
the data takes 1-channel images). The real side is a data module's held-out
split (``--data``, as in ``lit-gan fit``) or a folder (``--real``). The metrics are those of
:class:`~lit_gan.metrics.ImageQualityMetrics` on one feature extractor (Inception by default),
the real features from the reference cache when it has them. Prints a table and one protocol line
(extractor, its weights' sha256 prefix, N real / N generated, resize, draws, versions, and a
WARNING where FID has fewer images than features) and writes both to ``output`` as JSON
(:mod:`lit_gan.evaluate_report`: atomically). ``output`` may be a new file or the report of an
earlier evaluate, which it replaces; any other existing file (a checkpoint, an image of the folders
read) is refused before anything runs, as are fewer than 2 images for FID or KID and the folder of
a ``lit-gan predict`` stopped while writing.
"""

import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional

import torch

from jsonargparse import ActionConfigFile
from lightning.pytorch import LightningDataModule
from torch import Tensor
from torch.utils.data import DataLoader

from lit_gan.callbacks.image_quality import check_num_real
from lit_gan.checks import check_positive_ints
from lit_gan.parser import LitGanParser
from lit_gan.data.samples import SampleFolder
from lit_gan.errors import ConfigError
from lit_gan.evaluate_report import check_output, write_report
from lit_gan.files import unfinished
from lit_gan.metrics.features import FeatureExtractor, check_takes, input_shape
from lit_gan.metrics.quality import (ImageQualityMetrics, MetricName, check_enough_images, check_neighbours,
                                     few_images_warnings)
from lit_gan.metrics.reference import ReferenceCache, cached_features, cached_outputs
from lit_gan.metrics.scores import TORCH_FIDELITY_SEED, Draws, check_seeds
from lit_gan.objectives.base import AdversarialModule
from lit_gan.objectives.loading import load_with_step
from lit_gan.tensors import fixed_latents, real_images


def check_shapes(extractor: FeatureExtractor, data: Optional[LightningDataModule], real_files: Optional[SampleFolder],
                 model: Optional[AdversarialModule], sample_files: Optional[SampleFolder]) -> None:
    """Once every input is listed and counted, before anything is extracted: the images of each (the ``None``
    ones are not given) have the shape that ``extractor`` takes, where it takes one (a classifier)."""
    takes, taker = input_shape(extractor), f"`feature_extractor` ({type(extractor).__name__})"
    if data is not None:
        check_takes(extractor, data_shape(data), "the images of `data`")
    if real_files is not None:
        real_files.check_shape(takes, taker)
    if model is not None:
        check_takes(extractor, model.img_shape, "the images of `checkpoint`")
    if sample_files is not None:
        sample_files.check_shape(takes, taker)


def check_finished(name: str, folder: Optional[str]) -> None:
    """Refuse a folder that a ``lit-gan predict`` stopped while writing left (SampleWriter's temporary folder,
    or a ``dirpath`` it was moving the files into): some of the samples, not a result."""
    mark = None if folder is None else unfinished(Path(folder).resolve())
    if mark is not None:
        raise ConfigError(f"`{name}` {folder!r} is in the unfinished output of a `lit-gan predict` stopped while"
                          f" writing ({mark}), not a result: write the samples again")


def data_shape(data: LightningDataModule) -> Optional[tuple[int, ...]]:
    """The shape (C, H, W) of the images of ``data`` (its ``img_shape``), None if it does not say or holds no images."""
    shape = getattr(data, "img_shape", None)
    return tuple(int(s) for s in shape) if shape is not None and len(shape) == 3 else None


def generated_batches(model: AdversarialModule, n: int, batch_size: int, seed: int) -> Iterator[Tensor]:
    latents = fixed_latents(n, model.latent_dim, seed)
    for start in range(0, n, batch_size):
        yield model.sample(len(latents[start : start + batch_size]), z=latents[start : start + batch_size])


def held_out_count(data: LightningDataModule, n: Optional[int]) -> int:
    """How many held-out images :func:`held_out_batches` gives: ``n`` (all: None), at most as many as ``data`` holds."""
    available = len(data.val_dataloader().dataset)
    check_num_real(n, available, data)
    return available if n is None else n


def held_out_batches(data: LightningDataModule, n: Optional[int], device: torch.device) -> Iterator[Tensor]:
    """The first ``n`` held-out images (all: None), converted as the data module converts training batches."""
    left = held_out_count(data, n)
    for batch in data.val_dataloader():
        batch = data.on_before_batch_transfer(batch, 0)
        batch = data.on_after_batch_transfer(data.transfer_batch_to_device(batch, device, 0), 0)
        images = real_images(batch)[:left]
        left -= len(images)
        yield images
        if left <= 0:
            break


def folder_batches(dataset: SampleFolder, batch_size: int, device: torch.device) -> Iterator[Tensor]:
    for images in DataLoader(dataset, batch_size=batch_size, collate_fn=dataset.collate):
        yield images.to(device)


def feed_generated(metric: ImageQualityMetrics, fakes: Callable[[], Iterable[Tensor]], cache: Optional[ReferenceCache],
                   source: dict[str, str], batch_size: int, where: torch.device) -> tuple[int, Optional[bool]]:
    """Give ``metric`` the generated images' outputs, from ``cache`` when it holds them (None: extracted, not
    stored); (the number of images, whether the cache had them). Cached outputs go in by batches of
    ``batch_size``, as extracted ones do, so that FID's running sums and the values are the same to the bit."""
    if cache is None:
        n = 0
        for images in fakes():
            metric.update(images, real=False)
            n += len(images)
        return n, None
    extractor = metric.feature_extractor
    features, logits, hit = cached_outputs(fakes, extractor, cache, source, logits=extractor.num_classes > 0,
                                           what="samples cache")
    for start in range(0, len(features), batch_size):
        rows = slice(start, start + batch_size)
        metric.update_features(features[rows].to(where), None if logits is None else logits[rows].to(where))
    return len(features), hit


def protocol(extractor: FeatureExtractor, settings: dict[str, Any], counts: dict[str, int], sides: dict[str, str],
             cache_hit: Optional[bool], samples_hit: Optional[bool] = None) -> dict[str, Any]:
    """What a reader needs to reproduce the values: the extractor, the numbers of images, the draws, the versions."""
    identity = {"extractor": type(extractor).__name__, "weights_sha256": "unknown", "resize": "unknown"}
    try:
        identity |= extractor.identity()
    except NotImplementedError:
        pass
    return {**identity, **counts, **sides, **settings,
            "reference_cache": {True: "hit", False: "miss", None: "off"}[cache_hit],
            "samples_cache": {True: "hit", False: "miss", None: "off"}[samples_hit],
            "lit_gan": version("lit-gan"), "torch": torch.__version__, "torch_fidelity": version("torch-fidelity")}


def protocol_line(p: dict[str, Any]) -> str:
    draws = (f", IS {p['is_splits']} splits, KID {p['kid_subsets']} subsets of {p['kid_subset_size']},"
             f" draws {p['draws']} (seed {p['draw_seed']})") if p["draws"] else ""
    warnings = "".join(f"; WARNING: {warning}" for warning in p["warnings"])  # quoted with the line, or seen
    return (f"{p['extractor']} (weights sha256 {p['weights_sha256'][:8]}), {p['num_real']} real ({p['real']})"
            f" / {p['num_generated']} generated ({p['generated']}), resize: {p['resize']}{draws},"
            f" lit-gan {p['lit_gan']}, torch {p['torch']}, torch-fidelity {p['torch_fidelity']}{warnings}")


def run(
    samples: Optional[str] = None,
    checkpoint: Optional[str] = None,
    num_samples: Optional[int] = None,
    data: Optional[LightningDataModule] = None,
    real: Optional[str] = None,
    num_real: Optional[int] = None,
    feature_extractor: Optional[FeatureExtractor] = None,
    metrics: Optional[list[MetricName]] = None,
    batch_size: int = 64,
    seed: int = 0,
    is_splits: int = 10,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    draws: Draws = "torch-fidelity",
    draw_seed: int = TORCH_FIDELITY_SEED,
    precision_k: int = 3,
    density_k: int = 5,
    mmd_sigma: float = 10.0,
    mmd_scale: float = 1000.0,
    reference_cache: bool = True,
    cache_samples: bool = False,
    cache_dir: Optional[str] = None,
    device: str = "cpu",
    output: Optional[str] = None,
) -> dict[str, Any]:
    """Score generated images against real ones; print the table and the protocol line; write ``output``.

    Args:
        samples: a folder of generated images (png, jpg, jpeg; not its sub-folders), read as RGB, or as grayscale
            where the feature extractor takes (else ``data`` holds) 1-channel images.
        checkpoint: or a checkpoint of ``lit-gan fit``, whose generator draws ``num_samples`` images.
        num_samples: generated images: from the checkpoint (default 10,000), or the first of the folder (default all).
        data: the data module whose held-out split is the real side (as ``--data`` of ``lit-gan fit``).
        real: or a folder of real images.
        num_real: the first this many real images; None: all.
        feature_extractor: None: Inception v3 (torch hub's cache; ``InceptionFeatures`` with ``weights_path`` offline).
        metrics: as :class:`~lit_gan.metrics.ImageQualityMetrics`' ``metrics``.
        batch_size: images per generator call and per feature extraction (torch-fidelity's: 64).
        seed: seed of the checkpoint's latents.
        is_splits, kid_subsets, kid_subset_size, draws, draw_seed: the IS and KID protocol.
        precision_k, density_k, mmd_sigma, mmd_scale: the k-NN sizes and the MMD kernel (as ``ImageQuality``'s).
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
    """
    if (samples is None) == (checkpoint is None):
        raise ConfigError("Expected exactly one of the arguments `samples` (a folder) and `checkpoint`, got "
                          + ("both" if samples else "neither"))
    if (data is None) == (real is None):
        raise ConfigError("Expected exactly one of the arguments `data` (a data module) and `real` (a folder), got "
                          + ("both" if data else "neither"))
    check_positive_ints(num_samples=num_samples, num_real=num_real, batch_size=batch_size)
    check_seeds(draw_seed=draw_seed)  # the metrics' own arguments: ImageQualityMetrics, below, by the same names
    check_finished("samples", samples)
    check_finished("real", real)
    if output is not None:
        check_output(output, checkpoint, {"samples": samples, "real": real})
    try:
        where = torch.device(device)
        torch.empty(0, device=where)
    except (RuntimeError, AssertionError) as err:
        raise ConfigError(f"Expected argument `device` to be a device this machine has (cpu, cuda), got {device!r}: {err}")
    if feature_extractor is None:
        from lit_gan.metrics.inception import InceptionFeatures

        feature_extractor = InceptionFeatures()
    metric = ImageQualityMetrics(
        feature_extractor, metrics=metrics, is_splits=is_splits, kid_subsets=kid_subsets, kid_subset_size=kid_subset_size,
        seed=draw_seed, draws=draws, precision_k=precision_k, density_k=density_k, mmd_sigma=mmd_sigma,
        mmd_scale=mmd_scale,
    ).to(where)

    # folders are read with the channels the extractor takes (a classifier's), else the data's, else RGB
    channels = (input_shape(feature_extractor) or (data_shape(data) if data is not None else None) or (None,))[0]
    real_files = sample_files = model = None
    if data is not None:
        data.prepare_data()
        data.setup("validate")
        n_real = held_out_count(data, num_real)
        reals: Callable[[], Iterable[Tensor]] = lambda: held_out_batches(data, num_real, where)  # noqa: E731
        source = {"data": type(data).__name__, "split": "val"}
    else:
        real_files = SampleFolder(real, num_real, ("real", "num_real"), channels)
        n_real = len(real_files)
        reals = lambda: folder_batches(real_files, batch_size, where)  # noqa: E731
        source = {"data": str(Path(real).resolve()), "split": "folder"}
    if checkpoint is not None:  # read and checked before anything is extracted
        model, step = load_with_step(checkpoint, where, "checkpoint")  # lit_gan.load's, imports limited
        n_generated = num_samples or 10000
        fakes: Callable[[], Iterable[Tensor]] = lambda: generated_batches(model, n_generated, batch_size, seed)  # noqa: E731
        generated = f"{checkpoint}, generator step {step}, latent seed {seed}"
    else:
        sample_files = SampleFolder(samples, num_samples, channels=channels)  # listed and counted now
        n_generated, generated = len(sample_files), str(Path(samples).resolve())
        fakes = lambda: folder_batches(sample_files, batch_size, where)  # noqa: E731
    if "is" in metric.chosen and n_generated < is_splits:
        raise ConfigError(f"Expected argument `is_splits` ({is_splits}) to be at most the {n_generated} generated images")
    check_enough_images(metric.chosen, n_real, n_generated)
    check_neighbours(metric.chosen, precision_k, density_k, n_real, n_generated)
    check_shapes(feature_extractor, data, real_files, model, sample_files)
    with torch.no_grad():
        cache = ReferenceCache(cache_dir) if reference_cache else None
        features, hit = cached_features(reals, feature_extractor, cache, source)
        metric.update_features(features.to(where), real=True)
        samples_source = {"data": "generated", "split": "checkpoint" if checkpoint is not None else "folder"}
        n_fake, samples_hit = feed_generated(metric, fakes, ReferenceCache(cache_dir) if cache_samples else None,
                                             samples_source, batch_size, where)
        values = {k: float(v) for k, v in metric.compute().items()}
    real_name = f"{source['data']} {source['split']}" if data is not None else source["data"]
    settings = {"draws": draws, "draw_seed": draw_seed} if {"is", "kid"} & set(metric.chosen) else {"draws": None, "draw_seed": None}
    settings |= {"metrics": list(metric.chosen), "is_splits": is_splits, "kid_subsets": kid_subsets,
                 "kid_subset_size": min(kid_subset_size, len(features), n_fake), "precision_k": precision_k,
                 "density_k": density_k, "mmd_sigma": mmd_sigma, "mmd_scale": mmd_scale,
                 "warnings": few_images_warnings(metric.chosen, len(features), n_fake, feature_extractor.num_features)}
    p = protocol(feature_extractor, settings, {"num_real": len(features), "num_generated": n_fake},
                 {"real": real_name, "generated": generated}, hit, samples_hit)
    result = {"metrics": values, "protocol": p, "protocol_line": protocol_line(p)}
    width = max(len(k) for k in values)
    print("\n".join([f"{'metric':<{width}}  value"] + [f"{k:<{width}}  {v:.6g}" for k, v in values.items()]))
    print(f"protocol: {result['protocol_line']}", flush=True)
    if output is not None:
        write_report(output, result)
    return result


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
