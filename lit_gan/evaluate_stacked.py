"""``lit-gan evaluate`` of a checkpoint trained on stacked digits (``lit_gan.data.StackedMNIST``): mode collapse
as VEEGAN and PacGAN measure it. ``num_samples`` generated stacks (26,000 by default, the papers' N), each
channel labelled by a digit classifier, give the modes of 1,000 covered and KL(p || uniform); the floor is the
same scores of as many held-out stacks, with the share of them the classifier reads right: the numbers that
the ``StackedModes`` callback logs for the same latents (:mod:`lit_gan.metrics.stacked`).

The classifier is ``feature_extractor`` (a ``ClassifierFeatures`` of a Classifier trained as
``configs/classifier_mnist5k.yaml``), else the one the run's ``StackedModes`` callback was given (its
``checkpoint_path``, as the run's config.yaml says, relative to where ``evaluate`` runs), opened through the
checkpoint door as any other. Naming ``--metrics`` scores the samples' images by features instead, as for
any image run; ``--real DIR`` (held-out images in a folder, no data module) does too.
"""

from importlib.metadata import version
from pathlib import Path
from typing import Any, Optional

import torch
from lightning.pytorch import LightningDataModule

from lit_gan.data.stacked_mnist import DIGITS, NUM_MODES
from lit_gan.errors import ConfigError
from lit_gan.evaluate_inputs import held_out_count, refuse_given, to_device
from lit_gan.evaluate_report import report
from lit_gan.metrics.features import FeatureExtractor
from lit_gan.metrics.sources import generated_batches, held_out_batches
from lit_gan.metrics.stacked import StackedModeCoverage, check_digit_classifier
from lit_gan.objectives.base import AdversarialModule
from lit_gan.run_config import config_of, read_run_config

DEFAULT_SAMPLES = 26_000  # VEEGAN's and PacGAN's N
HINT = ("--feature_extractor.class_path lit_gan.metrics.ClassifierFeatures --feature_extractor.init_args.checkpoint_path"
        " CKPT (a Classifier trained as configs/classifier_mnist5k.yaml)")


def is_stacked(data: Optional[LightningDataModule]) -> bool:
    """Whether ``data`` is stacked digits: 1,000 modes, 3 digits an image (``lit_gan.data.StackedMNIST``)."""
    return getattr(data, "num_modes", None) == NUM_MODES and getattr(data, "channels", None) == DIGITS


def run_classifier(checkpoint: str) -> Optional[str]:
    """The ``checkpoint_path`` of the classifier that the ``StackedModes`` callback of the run of ``checkpoint``
    was given (its config.yaml), None where the run had none or has no config.yaml."""
    path = config_of(checkpoint)
    config = read_run_config(path) if path.is_file() else None
    callbacks = ((config or {}).get("trainer") or {}).get("callbacks") if isinstance(config, dict) else None
    for callback in callbacks if isinstance(callbacks, list) else []:
        if isinstance(callback, dict) and str(callback.get("class_path", "")).endswith(".StackedModes"):
            classifier = (callback.get("init_args") or {}).get("classifier") or {}
            found = (classifier.get("init_args") or {}).get("checkpoint_path") if isinstance(classifier, dict) else None
            if isinstance(found, str):
                return found
    return None


def stacked_classifier(feature_extractor: Optional[FeatureExtractor], checkpoint: str) -> FeatureExtractor:
    """``feature_extractor``, else the run's StackedModes classifier, else one line saying how to give one."""
    if feature_extractor is not None:
        return feature_extractor
    found = run_classifier(checkpoint)
    if found is None or not Path(found).is_file():
        where = "has no StackedModes callback" if found is None else f"names {found}, which is not here"
        raise ConfigError(f"Expected argument `feature_extractor`, the digit classifier that labels each channel of the"
                          f" stacks: the run of {checkpoint} {where}; give {HINT}")
    from lit_gan.metrics.classifier import ClassifierFeatures

    return ClassifierFeatures(found)


def check_stacked_arguments(given: dict[str, Any]) -> None:
    """Refuse the options of the image metrics (name -> value, None: not given) for stacked digits."""
    refuse_given(given, "a checkpoint of stacked digits, which is scored by the modes its samples cover and their KL"
                        " from uniform; to score its images by features, name the metrics (`--metrics [fid, kid]`)")


def run_stacked(model: AdversarialModule, step: int, checkpoint: str, data: LightningDataModule,
                classifier: FeatureExtractor, num_samples: Optional[int], num_real: Optional[int], batch_size: int,
                seed: int, where: torch.device, output: Optional[str], note: str = "") -> dict[str, Any]:
    """Score ``num_samples`` stacks of ``model`` and the floor of ``num_real`` held-out stacks of ``data``
    (None: as many as the samples, at most all); report them."""
    try:
        check_digit_classifier(classifier, tuple(model.img_shape))
    except ConfigError as err:  # evaluate's argument is the extractor
        raise ConfigError(str(err).replace("argument `classifier`", "argument `feature_extractor`")) from err
    data.prepare_data()
    data.setup("validate")
    n = num_samples or DEFAULT_SAMPLES
    available = held_out_count(data, None)
    m = held_out_count(data, num_real) if num_real is not None else min(n, available)
    if note:
        print(note, flush=True)
    metric = StackedModeCoverage(classifier.to(where)).to(where)
    with torch.no_grad():
        for images, _ in generated_batches(model, n, batch_size, seed):
            metric.update(images)
        for images, modes in held_out_batches(data.val_dataloader(), m, to_device(data, where)):
            metric.update(images, real=True, modes=modes)
    values = {name: float(value) for name, value in metric.compute().items()}
    data_name, generated = type(data).__name__, f"{checkpoint}, generator step {step}, latent seed {seed}"
    part = (f"modes of {NUM_MODES} covered and KL(p || uniform) (natural log), each of the {DIGITS} channels labelled"
            f" by {type(classifier).__name__}; the floor: the same of {m} held-out stacks, and the share of them"
            " it reads right")
    protocol = {"extractor": classifier.identity(), "num_real": m, "num_generated": n, "real": f"{data_name} val",
                "generated": generated, "metrics": list(values), "settings": {"stacked_modes": {"modes": NUM_MODES}},
                "parts": [part], "warnings": [], "lit_gan": version("lit-gan"), "torch": torch.__version__}
    line = (f"{n} generated ({generated}) / {m} real ({data_name} val) stacks, {part}, lit-gan {protocol['lit_gan']},"
            f" torch {protocol['torch']}")
    return report(values, protocol, output, line)
