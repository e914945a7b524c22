"""``lit-gan evaluate`` of a checkpoint of 2-D points (a toy run: ``img_shape`` of length 1): no images, so no
feature extractor, but the toy metrics. On a mixture of Gaussians (the data module has mode ``centers`` and a
``std``), the modes captured and the share of high-quality samples (:class:`~lit_gan.metrics.ModeCoverage`, the
numbers that ``MixtureCoverage`` logs as ``val/modes`` and ``val/hq_fraction`` for the same samples: the same
latents of ``seed``, 2,500 by default as its); on any 2-D data, the exact W1 between the first ``w1_points``
samples and as many held-out points (:func:`~lit_gan.metrics.wasserstein.exact_w1`), the measure of
docs/monitoring.md. A report and a protocol line as for images (:func:`lit_gan.evaluate_report.report`).
"""

from importlib.metadata import version
from typing import Any, Optional

import scipy
import torch
from lightning.pytorch import LightningDataModule

from lit_gan.checks import check_greater_than_zero, check_positive_ints
from lit_gan.errors import ConfigError
from lit_gan.evaluate_inputs import held_out_count, refuse_given, to_device
from lit_gan.evaluate_report import report
from lit_gan.metrics.coverage import ModeCoverage
from lit_gan.metrics.sources import generated_batches, held_out_batches
from lit_gan.metrics.wasserstein import MAX_POINTS, exact_w1
from lit_gan.objectives.base import AdversarialModule

DEFAULT_SAMPLES = 2500  # MixtureCoverage's num_samples (PacGAN's)
DEFAULT_W1_POINTS = 2000  # docs/monitoring.md's: about a second of matching


def is_toy(model: AdversarialModule) -> bool:
    """Whether the checkpoint's samples are points (``img_shape`` (D,)), not images."""
    return len(tuple(model.img_shape)) == 1


def check_toy_arguments(img_shape: tuple[int, ...], given: dict[str, Any], data: LightningDataModule,
                        num_real: Optional[int], mode_k: Optional[float], mode_min_samples: Optional[int],
                        w1_points: Optional[int]) -> dict[str, Any]:
    """Refuse the image options (``given``: name -> value, the metrics' flat options included), data of another
    shape than the samples, and settings out of range, in one line each, before anything is drawn; ``data`` set
    up. The settings, defaults filled in (None: MixtureCoverage's k 3 and min_samples 1; W1 on 2,000 points),
    and the held-out points there are (``num_real``; None: all)."""
    refuse_given(given, f"a checkpoint of points (img_shape {tuple(img_shape)}), which is scored by mode coverage and"
                        " the exact W1, not by image features")
    check_positive_ints(mode_min_samples=mode_min_samples, w1_points=w1_points)
    check_greater_than_zero(mode_k=mode_k)
    if w1_points is not None and w1_points > MAX_POINTS:
        raise ConfigError(f"Expected argument `w1_points` to be at most {MAX_POINTS} (the exact W1 matches every pair"
                          f" of points), got {w1_points}")
    shape = tuple(getattr(data, "img_shape", ()) or ())
    if shape != tuple(img_shape):
        raise ConfigError(f"Expected the points of `data` to have the shape of the checkpoint's samples,"
                          f" {tuple(img_shape)}, got {shape or 'no img_shape'} ({type(data).__name__})")
    data.prepare_data()
    data.setup("validate")
    return {"k": 3.0 if mode_k is None else float(mode_k), "min_samples": mode_min_samples or 1,
            "w1_points": w1_points or DEFAULT_W1_POINTS, "available": held_out_count(data, num_real)}


def run_toy(model: AdversarialModule, step: int, checkpoint: str, data: LightningDataModule,
            num_samples: Optional[int], batch_size: int, seed: int, where: torch.device, output: Optional[str],
            k: float, min_samples: int, w1_points: int, available: int) -> dict[str, Any]:
    """Score ``num_samples`` samples of ``model`` against ``data`` (a toy's held-out split, set up, of which
    ``available`` points are used); report them."""
    n = num_samples or DEFAULT_SAMPLES
    with torch.no_grad():
        drawn = list(generated_batches(model, n, batch_size, seed))
    samples = torch.cat([x for x, _ in drawn]).float()  # (n, D)
    labels = None if drawn[0][1] is None else torch.cat([y for _, y in drawn])
    values: dict[str, float] = {}
    data_name = type(data).__name__
    generated = f"{checkpoint}, generator step {step}, latent seed {seed}"
    parts, settings = [], {}
    if hasattr(data, "centers") and hasattr(data, "std"):  # a mixture: its modes
        coverage = ModeCoverage(data.centers, data.std, k=k, min_samples=min_samples, by_class=labels is not None)
        coverage.update(samples.cpu(), labels=None if labels is None else labels.cpu())
        values |= {name: float(v) for name, v in coverage.compute().items()}
        modes = len(data.centers)
        settings["mode_coverage"] = {"modes": modes, "std": float(data.std), "k": k, "min_samples": min_samples}
        parts.append(f"mode coverage of the {modes} modes of {data_name} (std {float(data.std):g}): high quality within"
                     f" {k:g} std of the nearest mode, a mode captured by >= {min_samples} high-quality samples")
    m = min(w1_points, n, available)
    real = torch.cat([x for x, _ in held_out_batches(data.val_dataloader(), m, to_device(data, where))]).float()
    values["w1"] = exact_w1(samples[:m], real)
    settings["w1"] = {"points": m}
    parts.append(f"exact W1 of the first {m} samples and {m} held-out points (an optimal matching)")
    protocol = {"extractor": "none (points)", "num_real": available, "num_generated": n, "real": f"{data_name} val",
                "generated": generated, "metrics": list(values), "settings": settings, "parts": parts,
                "warnings": [], "lit_gan": version("lit-gan"), "torch": torch.__version__, "scipy": scipy.__version__}
    line = (f"{n} generated ({generated}) / {available} real ({data_name} val) points, " + ", ".join(parts)
            + f", lit-gan {protocol['lit_gan']}, torch {protocol['torch']}, scipy {protocol['scipy']}")
    return report(values, protocol, output, line)
