"""The sample-quality callbacks' share of training time at the shipped defaults (issue 6, item 2).

    python -m benchmarks.metrics_share [--quickstart-steps 2000] [--mnist-steps 30] [--eval-samples 1000]

(``--quickstart-every`` and ``--mnist-start`` change the schedule, for a quick check of the command.)

1. ``configs/quickstart.yaml`` as shipped (WGAN-GP on the ring, ``MixtureCoverage`` every 500
   generator updates, 2,500 samples), through ``lit-gan fit``: the time spent in the callback's
   evaluations against the whole run, both measured.
2. ``configs/wgan_gp.yaml`` (MNIST DCGAN) with ``ImageQuality`` at its defaults: 10,000 samples
   every epoch (937 batches of 64, so 187.4 generator updates at n_critic 5), Inception features.
   Timing an epoch and a 10,000-sample evaluation on the CPU takes many minutes, so three rates
   are measured in one run and combined: generator updates per second of training (between
   updates ``--mnist-start`` (10) and ``--mnist-steps``), seconds per generated sample (generator,
   Inception features and metric updates over ``--eval-samples`` samples) and seconds per
   ``compute`` (FID, IS and KID at their default splits and subsets). share = evaluation /
   (evaluation + training), for one epoch; the real images' features, extracted once per run, are
   reported apart. MNIST is written in its IDX format with random pixels and Inception's weights
   are random values with its keys (neither can be downloaded here): the work, and so the time, is
   the same; the metric values are not used.
3. The same with the features of the MNIST classifier of ``configs/classifier_mnist.yaml``
   (``ClassifierFeatures``, the "Fréchet Classifier Distance"), from a checkpoint of one update.
"""

import argparse
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable, Optional
from unittest import mock

import torch
import yaml
from lightning.pytorch import Callback

from lit_gan.callbacks.image_quality import ImageQuality, SampleEvaluation
from lit_gan.cli import run_cli
from lit_gan.metrics import ImageQualityMetrics
from benchmarks.memory import write_mnist
from tests.metrics.conftest import inception_state_dict


class Timed:
    """Patches methods of a class so that the seconds spent in each are added up, under the key
    ``label(name, kwargs)`` (default: the method's name)."""

    def __init__(self, cls: type, *names: str, label: Callable[[str, dict], str] = lambda name, kwargs: name) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.label = label
        self.patches = [mock.patch.object(cls, name, self._wrap(name, getattr(cls, name))) for name in names]

    def _wrap(self, name, method):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                key = self.label(name, kwargs)
                self.seconds[key] += time.perf_counter() - start
                self.calls[key] += 1

        return timed

    def __enter__(self) -> "Timed":
        for p in self.patches:
            p.start()
        return self

    def __exit__(self, *exc) -> None:
        for p in self.patches:
            p.stop()


def real_or_fake(name: str, kwargs: dict) -> str:
    """``update_real`` or ``update_fake`` for the callback's ``metric.update(x, real=...)``, else ``name``."""
    return f"{name}_{'real' if kwargs.get('real') else 'fake'}" if name == "update" else name


class StepRate(Callback):
    """Generator updates per second between update ``start`` and the end of training."""

    def __init__(self, start: int = 10) -> None:
        self.start, self.t0, self.t1, self.steps = start, None, None, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.start and self.t0 is None:
            self.t0 = time.perf_counter()
        if self.t0 is not None:
            self.t1, self.steps = time.perf_counter(), trainer.global_step - self.start

    @property
    def rate(self) -> float:
        return self.steps / (self.t1 - self.t0)


def quickstart(tmp: Path, steps: int, every: Optional[int] = None) -> None:
    """``configs/quickstart.yaml`` for ``steps`` updates; ``every``: MixtureCoverage's every_n_steps if given."""
    config = yaml.safe_load(open("configs/quickstart.yaml"))
    if every is not None:
        coverage = next(c for c in config["trainer"]["callbacks"] if c["class_path"].endswith(".MixtureCoverage"))
        coverage["init_args"]["every_n_steps"] = every
    (tmp / "quickstart.yaml").write_text(yaml.safe_dump(config))
    start = time.perf_counter()
    with Timed(SampleEvaluation, "score") as timed:
        run_cli(["fit", "--config", str(tmp / "quickstart.yaml"), "--trainer.max_steps", str(steps),
                 "--trainer.default_root_dir", str(tmp / "quickstart"), "--trainer.enable_progress_bar", "false"])
    total = time.perf_counter() - start
    evaluation = timed.seconds["score"]
    print(f"quickstart, {steps} generator updates: {total:.1f} s in all, {timed.calls['score']} evaluations"
          f" of MixtureCoverage take {evaluation:.2f} s: {100 * evaluation / total:.2f}% of the run")


def fit_on_mnist(tmp: Path, config: str, steps: int, root_dir: Path):
    """``lit-gan fit`` of ``config`` on the MNIST files under ``tmp``, on the CPU, without validation."""
    return run_cli(["fit", "--config", config, "--data.root", str(tmp / "mnist"), "--data.download", "false",
                    "--trainer.accelerator", "cpu", "--trainer.devices", "1", "--trainer.max_steps", str(steps),
                    "--trainer.limit_val_batches", "0", "--trainer.default_root_dir", str(root_dir),
                    "--trainer.enable_progress_bar", "false"])


def classifier_checkpoint(tmp: Path) -> Path:
    """A Classifier checkpoint of ``configs/classifier_mnist.yaml`` (one update: its cost is that of a trained one)."""
    fit_on_mnist(tmp, "configs/classifier_mnist.yaml", 1, tmp / "classifier")
    return next((tmp / "classifier").rglob("last.ckpt"))


def mnist(tmp: Path, steps: int, start: int, eval_samples: int, name: str, feature_extractor: dict) -> None:
    # the shipped config with two callbacks more: the step-rate timer and ImageQuality at its defaults
    # but for num_samples and num_real, evaluated once, at the last update
    config = yaml.safe_load(open("configs/wgan_gp.yaml"))
    config["trainer"]["callbacks"] += [
        {"class_path": "benchmarks.metrics_share.StepRate", "init_args": {"start": start}},
        {"class_path": "lit_gan.callbacks.ImageQuality", "init_args": {
            "feature_extractor": feature_extractor, "num_samples": eval_samples, "num_real": eval_samples, "every_n_steps": steps}},
    ]
    (tmp / f"mnist_{name}.yaml").write_text(yaml.safe_dump(config))
    with Timed(ImageQualityMetrics, "update", "compute", label=real_or_fake) as timed, \
            Timed(ImageQuality, "feed_real") as real:  # the held-out side: hashed, extracted, cached
        cli = fit_on_mnist(tmp, str(tmp / f"mnist_{name}.yaml"), steps, tmp / f"mnist_{name}_run")
    rate = next(c for c in cli.trainer.callbacks if type(c).__name__ == "StepRate")  # imported as benchmarks.metrics_share
    if timed.calls["update_fake"] == 0:
        raise RuntimeError("ImageQuality did not evaluate")
    per_sample = timed.seconds["update_fake"] / eval_samples
    per_real = real.seconds["feed_real"] / eval_samples
    compute = timed.seconds["compute"]
    steps_per_epoch = 60000 // 64 / 5
    training = steps_per_epoch / rate.rate
    evaluation = 10000 * per_sample + compute
    print(f"MNIST DCGAN (configs/wgan_gp.yaml), {name} features: {rate.rate:.3f} generator updates/s, so {training:.0f} s"
          f" per epoch ({steps_per_epoch:.1f} updates); ImageQuality: {1000 * per_sample:.2f} ms per generated sample,"
          f" compute {compute:.1f} s, so {evaluation:.0f} s per 10,000-sample evaluation:"
          f" {100 * evaluation / (evaluation + training):.1f}% of each epoch at every_n_epochs=1;"
          f" real features once per run: {10000 * per_real:.0f} s for the 10,000 test images")


def mnist_both(tmp: Path, steps: int, start: int, eval_samples: int) -> None:
    """Inception's features (random weights with its keys), then the MNIST classifier's."""
    write_mnist(tmp / "mnist")
    weights = tmp / "random-inception.pth"
    torch.save(inception_state_dict(), weights)
    inception = {"class_path": "lit_gan.metrics.InceptionFeatures",
                 "init_args": {"weights_path": str(weights), "check_hash": False}}
    mnist(tmp, steps, start, eval_samples, "inception", inception)
    classifier = {"class_path": "lit_gan.metrics.ClassifierFeatures",
                  "init_args": {"checkpoint_path": str(classifier_checkpoint(tmp))}}
    mnist(tmp, steps, start, eval_samples, "classifier", classifier)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quickstart-steps", type=int, default=2000, help="0: skip")
    parser.add_argument("--quickstart-every", type=int, default=None,
                        help="MixtureCoverage's every_n_steps; default: as shipped")
    parser.add_argument("--mnist-steps", type=int, default=30, help="0: skip; more than --mnist-start")
    parser.add_argument("--mnist-start", type=int, default=10, help="the update from which the training rate is timed")
    parser.add_argument("--eval-samples", type=int, default=1000)
    args = parser.parse_args()
    if args.mnist_steps and args.mnist_steps <= args.mnist_start:
        parser.error(f"Expected argument --mnist-steps ({args.mnist_steps}) to be 0"
                     f" or more than --mnist-start ({args.mnist_start})")
    tmp = Path(tempfile.mkdtemp())
    os.environ["LIT_GAN_CACHE_DIR"] = str(tmp / "reference-cache")  # empty: the real features are extracted
    if args.quickstart_steps:
        quickstart(tmp, args.quickstart_steps, args.quickstart_every)
    if args.mnist_steps:
        mnist_both(tmp, args.mnist_steps, args.mnist_start, args.eval_samples)


if __name__ == "__main__":
    main()
