"""Sample quality on real digits (MNIST5k), judged by the domain classifier (issue 15, item 3).

    python -m benchmarks.digits_quality --classifier CKPT [--config configs/quickstart_mnist.yaml]
        [--seeds 0 1 2] [--samples 500] [--out /tmp/digits_quality] [--score-every 200]
        [--grid docs/images/samples_quickstart_mnist.png [--grid-step N]]

CKPT is a checkpoint of ``lit-gan fit --config configs/classifier_mnist5k.yaml`` (its last.ckpt).
Each seed trains ``--config`` exactly as ``lit-gan fit --config CONFIG --seed_everything SEED``
does (``lit_gan.cli.run_cli``; ``--data lit_gan.data.MNIST5k`` is added when the config's data is
another module), under ``OUT/seed_SEED``, without a logger or progress bar, and saves the
final model as ``OUT/seed_SEED/final.ckpt``; a seed whose ``final.ckpt`` is already there (and
was trained from the same config) is loaded, not trained again. ``--set KEY=VALUE`` replaces a
value of the config, for a search (the shipped figures have none).

Then ``--samples`` generator samples (latents of seed 0) go through the classifier
(``ClassifierFeatures``): FID against the first half of the 1,000 held-out digits (500 with the
default ``--samples``; ``MNIST5k``'s fixed split, the half by a seeded permutation), the Inception
Score (one split: all samples), the classes present (the classifier's argmax; a class counts when
at least 1% of the samples are of it) and the smallest class share. The floor is the same FID
between the two halves of the held-out digits (``--samples`` each): what a perfect generator would
score at this sample size; the held-out digits' own IS is printed beside it. Wall time and CPU
time (all threads of this process) are of the training. ``--score-every N`` also scores the
generator every N generator updates during training, with the times so far (they then include
those evaluations, seconds each), with the family's estimate (``train/jsd``, ``train/wasserstein``,
...) averaged over the generator updates since the previous score: the state at update N of a
longer run is the final state of a run of N updates when nothing in the config depends on
``max_steps`` (a learning-rate decay would). ``--grid-step N`` (with ``--score-every``) draws the grid
from the state at update N, not the final one: one longer run then gives the figures of the config
as shipped and the rest of the curve.

A class-conditional model (``num_classes`` 10, e.g. configs/conditional_mnist.yaml) draws sample i
for class i mod 10, and is also scored by class (issue 38, item 4): the class accuracy (the share of
samples the classifier assigns to the class asked for); the intra-class FID (the mean over the 10
classes of the FID of a class's samples against that class's held-out digits, Miyato & Koyama 2018),
beside its floor, the same between the two halves of the held-out digits; and CAS (Ravuri & Vinyals
2019): a ConvClassifier trained on ``--cas-samples`` generated samples only, 5 epochs, tested on all
1,000 held-out digits, beside the same classifier trained on the 4,000 real training digits.
"""

import argparse
import contextlib
from functools import partial
import hashlib
import importlib
import io
import json
import statistics
import time
from pathlib import Path

from unittest import mock

import torch
import yaml
from lightning.pytorch import Callback

from lit_gan.data import MNIST5k
from lit_gan.metrics import ClassifierFeatures, class_accuracy, classification_accuracy_score, intra_class_fid
from lit_gan.metrics.features import PrecomputedFeatures
from lit_gan.metrics.frechet import FrechetDistance
from lit_gan.metrics.scores import InceptionScore
from lit_gan.networks.classifier import ConvClassifier

REPO = Path(__file__).resolve().parents[1]
CAS_CLASSIFIER = partial(ConvClassifier, (1, 28, 28), 10)  # CAS trains a fresh one of these (conditional models)
QUIET = ["--trainer.logger", "false", "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


def config_key(config: Path, overrides: list[str]) -> str:
    """A digest of the config's values (not its comments) and the overrides: a changed config is trained again."""
    values = yaml.safe_load(config.read_text())
    return hashlib.sha1(json.dumps([values, overrides], sort_keys=True).encode()).hexdigest()[:12]


class ScoreAlong(Callback):
    """Scores the generator every ``every`` generator updates during training (``score(model)``), with
    the wall and CPU time since the start of the fit; the training's random stream is left alone."""

    def __init__(self, every: int, score, report, snapshot=None) -> None:
        self.every, self.score, self.report, self.rows, self.last = every, score, report, [], -1
        self.snapshot = snapshot  # called as snapshot(step, model) after each score
        self.seen, self.window = 0, []

    def on_fit_start(self, trainer, pl_module) -> None:
        self.t0, self.c0 = time.perf_counter(), time.process_time()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        name = f"train/{pl_module.estimate_name}"  # the family's estimate of each generator update (logged at log steps)
        values = getattr(pl_module, "training_values", None) or {}
        if step != self.seen and pl_module.estimate_name in values:
            self.seen = step
            self.window.append(float(values[pl_module.estimate_name]))
        if step % self.every == 0 and step != self.last:
            self.last = step
            wall, cpu = time.perf_counter() - self.t0, time.process_time() - self.c0
            estimate = {name: sum(self.window) / len(self.window)} if self.window else {}  # mean since the last score
            self.window = []
            with torch.random.fork_rng(devices=[]):
                self.rows.append({"step": step, "wall_s": wall, "cpu_s": cpu, **estimate, **self.score(pl_module)})
                if self.snapshot is not None:
                    self.snapshot(step, pl_module)
            self.report(self.rows[-1])


def train(config: Path, seed: int, out: Path, overrides: list[str], data_path: str | None, along=None) -> dict:
    """Train (or load) one seed; returns the model and the training's times."""
    from lit_gan.cli import run_cli

    values = yaml.safe_load(config.read_text())
    folder, key = out / f"seed_{seed}", config_key(config, overrides + [f"data={data_path}"])
    done = folder / "final.ckpt"
    if done.is_file() and (folder / "key").is_file() and (folder / "key").read_text() == key:
        model_class = values["model"]["class_path"].rsplit(".", 1)
        cls = getattr(importlib.import_module(model_class[0]), model_class[1])
        times = json.loads((folder / "times.json").read_text())
        return {"model": cls.load_from_checkpoint(done, map_location="cpu", weights_only=True), **times, "loaded": True}
    args = ["fit", "--config", str(config), "--seed_everything", str(seed), *QUIET,
            "--trainer.default_root_dir", str(folder), "--trainer.enable_checkpointing", "false"]
    if not values["data"]["class_path"].endswith("MNIST5k"):
        args += ["--data", "lit_gan.data.MNIST5k"]
    if data_path is not None:
        args += ["--data.init_args.path", data_path]
    args += [f"--{o}" for o in overrides]
    start, cpu = time.perf_counter(), time.process_time()
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.ExitStack() as stack:  # Lightning's warnings
            if along is not None:  # the callback joins the config's: the run is the same
                stack.enter_context(mock.patch("lit_gan.cli.LitGanCLI.instantiate_trainer", with_callback(along)))
            cli = run_cli(args)
    except SystemExit:  # lit-gan's one-line error (a bad value, a loss that overflowed)
        raise SystemExit(stderr.getvalue().strip().splitlines()[-1]) from None
    times = {"wall_s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu, "steps": cli.trainer.global_step}
    cli.trainer.save_checkpoint(done, weights_only=False)  # the whole state, as fit saves it
    (folder / "times.json").write_text(json.dumps(times))
    (folder / "key").write_text(key)
    return {"model": cli.model, **times, "loaded": False}


def with_callback(callback: Callback):
    """LitGanCLI.instantiate_trainer, with ``callback`` appended to the trainer's callbacks."""
    from lit_gan.cli import LitGanCLI

    instantiate = LitGanCLI.instantiate_trainer

    def patched(self, **kwargs):
        trainer = instantiate(self, **kwargs)
        trainer.callbacks.append(callback)
        return trainer

    return patched


def held_out_halves(n: int, data_path: str | None, labels: bool = False) -> tuple[torch.Tensor, ...]:
    """Two disjoint sets of ``n`` held-out digits of MNIST5k's fixed split, in [-1, 1] (and their labels)."""
    dm = MNIST5k(path=data_path)
    dm.setup("fit")
    images, classes = dm.held_out_set.tensors
    if len(images) < 2 * n:
        raise SystemExit(f"--samples {n}: the held-out set has {len(images)} digits, fewer than 2 x {n}")
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    scaled = images.float() / 127.5 - 1  # as the data module converts them on the device
    halves = scaled[order[:n]], scaled[order[n : 2 * n]]
    return (*halves, classes[order[:n]], classes[order[n : 2 * n]]) if labels else halves


def digits(split: str, data_path: str | None) -> tuple[torch.Tensor, torch.Tensor]:
    """All of MNIST5k's training or held-out digits in [-1, 1], and their labels."""
    dm = MNIST5k(path=data_path)
    dm.setup("fit")
    images, classes = (dm.train_set if split == "train" else dm.held_out_set).tensors
    return images.float() / 127.5 - 1, classes


def class_scores(features: ClassifierFeatures, model, samples: torch.Tensor, labels: torch.Tensor, real: tuple,
                 cas_samples: int, data_path: str | None) -> dict:
    """Class accuracy, intra-class FID (against ``real`` = (features, labels) of held-out digits) and CAS."""
    fake_features, logits = classify(features, samples)
    accuracy = class_accuracy(logits, labels, 10)
    intra = intra_class_fid(fake_features, labels, real[0], real[1], 10)
    z = torch.randn(cas_samples, model.latent_dim, generator=torch.Generator().manual_seed(1))
    cas_labels = torch.arange(cas_samples) % 10
    train = torch.cat([model.sample(len(zz), z=zz, labels=yy) for zz, yy in zip(z.split(250), cas_labels.split(250))])
    test_images, test_labels = digits("held_out", data_path)
    cas = classification_accuracy_score(train.cpu(), cas_labels, test_images, test_labels, CAS_CLASSIFIER)
    return {"class_accuracy": float(accuracy["accuracy"]), "worst_class_accuracy": float(accuracy["per_class"].min()),
            "intra_fid": float(intra["intra_fid"]), "cas": cas}


@torch.no_grad()
def classify(features: ClassifierFeatures, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    parts = [features.extract(batch) for batch in images.split(250)]
    return torch.cat([f for f, _ in parts]), torch.cat([logits for _, logits in parts])


def fid(real: torch.Tensor, fake: torch.Tensor) -> float:
    metric = FrechetDistance(PrecomputedFeatures(real.shape[1]))
    metric.update(real, real=True)
    metric.update(fake, real=False)
    return float(metric.compute())


def scores(reference: torch.Tensor, features: torch.Tensor, logits: torch.Tensor) -> dict:
    """FID to ``reference`` features, IS (one split), classes present (>= 1% of samples), smallest class share."""
    inception = InceptionScore(PrecomputedFeatures(logits.shape[1]), splits=1)
    inception.update(logits)
    shares = torch.bincount(logits.argmax(1), minlength=logits.shape[1]).double() / len(logits)
    return {"fid": fid(reference, features), "is": float(inception.compute()[0]),
            "classes": int((shares >= 0.01).sum()), "min_share": float(shares.min())}


def spread(rows: list[dict], key: str) -> str:
    return spread_of([r[key] for r in rows], ".2f")


def spread_of(values: list[float], fmt: str) -> str:
    """mean (min-max), each formatted with ``fmt``."""
    return f"{format(statistics.mean(values), fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--classifier", required=True, help="checkpoint of configs/classifier_mnist5k.yaml")
    parser.add_argument("--config", default="configs/quickstart_mnist.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--out", default="/tmp/digits_quality", help="runs and their final.ckpt")
    parser.add_argument("--grid", help="write a PNG of 64 samples of the first seed (SampleGrid's latents) here")
    parser.add_argument("--set", dest="overrides", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--data-path", help="another CSV for MNIST5k (tests)")
    parser.add_argument("--score-every", type=int, help="also score every this many generator updates during training")
    parser.add_argument("--grid-step", type=int, help="draw --grid at this generator update (a multiple of --score-every)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cas-samples", type=int, default=4000, help="generated samples CAS trains on (conditional models)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = Path(args.config) if Path(args.config).is_absolute() else REPO / args.config

    features = ClassifierFeatures(args.classifier)
    half_a, half_b, labels_a, labels_b = held_out_halves(args.samples, args.data_path, labels=True)
    real_a, _ = classify(features, half_a)
    real_b, logits_b = classify(features, half_b)
    floor = scores(real_a, real_b, logits_b)
    print(f"floor: held-out vs held-out, {args.samples} vs {args.samples}: FID {floor['fid']:.2f},"
          f" IS of the held-out digits {floor['is']:.2f}, {floor['classes']} classes", flush=True)
    conditional = yaml.safe_load(config.read_text())["model"]["init_args"].get("num_classes", 0)
    if conditional:
        floor["intra_fid"] = float(intra_class_fid(real_b, labels_b, real_a, labels_a, 10)["intra_fid"])
        floor["class_accuracy"] = float((logits_b.argmax(1) == labels_b).double().mean())  # the classifier on real digits
        floor["cas"] = classification_accuracy_score(*digits("train", args.data_path), *digits("held_out", args.data_path),
                                                     CAS_CLASSIFIER)
        print(f"floor by class: intra-class FID {floor['intra_fid']:.2f}, the classifier's accuracy on held-out digits"
              f" {100 * floor['class_accuracy']:.1f}%, CAS of the real training digits {100 * floor['cas']:.1f}%", flush=True)

    def score(model) -> dict:
        z = torch.randn(args.samples, model.latent_dim, generator=torch.Generator().manual_seed(0))
        labels = torch.arange(args.samples) % 10 if conditional else None  # sample i of class i mod 10
        samples = torch.cat([model.sample(len(part), z=part, labels=None if labels is None else labels[i * 250 : i * 250 + len(part)])
                             for i, part in enumerate(z.split(250))]).cpu()
        values = scores(real_a, *classify(features, samples))
        if conditional:
            values |= class_scores(features, model, samples, labels, (real_a, labels_a), args.cas_samples, args.data_path)
        return values

    if args.grid_step is not None and not (args.grid and args.score_every and args.grid_step % args.score_every == 0):
        parser.error("--grid-step needs --grid and a --score-every that divides it")

    def draw_grid(model) -> None:
        from torchvision.utils import save_image

        grid_z = torch.randn(64, model.latent_dim, generator=torch.Generator().manual_seed(0))  # as SampleGrid
        if conditional:  # a row per class, the same 8 latents in each
            z, labels = grid_z[:8].repeat(10, 1), torch.arange(10).repeat_interleave(8)
            save_image(model.sample(80, z=z, labels=labels).add(1).div(2).cpu(), args.grid, nrow=8, padding=2)
            return
        save_image(model.sample(64, z=grid_z).add(1).div(2).cpu(), args.grid, nrow=8, padding=2)

    rows = []
    for seed in args.seeds:
        def report(r: dict, seed: int = seed) -> None:
            print(f"  seed {seed} step {r['step']}: FID {r['fid']:.2f} ({r['fid'] / floor['fid']:.2f}x), IS {r['is']:.2f},"
                  f" {r['classes']} classes, {r['wall_s'] / 60:.1f} min wall, {r['cpu_s'] / 60:.1f} min CPU", flush=True)

        def snapshot(step: int, model, seed: int = seed) -> None:  # inside ScoreAlong's fork_rng
            if step == args.grid_step and seed == args.seeds[0]:
                draw_grid(model)

        along = ScoreAlong(args.score_every, score, report, snapshot) if args.score_every else None
        run = train(config, seed, Path(args.out), args.overrides, args.data_path, along)
        if along is not None and not run["loaded"]:  # a loaded run keeps the rows its training wrote
            (Path(args.out) / f"seed_{seed}" / "along.json").write_text(json.dumps(along.rows))
        row = {"seed": seed, **score(run["model"].cpu()), **{k: run[k] for k in ("wall_s", "cpu_s", "steps", "loaded")}}
        rows.append(row)
        print(f"seed {seed}: {row['steps']} generator updates, FID {row['fid']:.2f} ({row['fid'] / floor['fid']:.2f}x"
              f" the floor), IS {row['is']:.2f}, {row['classes']} classes (smallest {100 * row['min_share']:.1f}%),"
              f" training {row['wall_s'] / 60:.1f} min wall, {row['cpu_s'] / 60:.1f} min CPU"
              + (" (loaded)" if row["loaded"] else ""), flush=True)
        if conditional:
            print(f"  by class: accuracy {100 * row['class_accuracy']:.1f}% (worst class {100 * row['worst_class_accuracy']:.1f}%),"
                  f" intra-class FID {row['intra_fid']:.2f} ({row['intra_fid'] / floor['intra_fid']:.2f}x its floor),"
                  f" CAS {100 * row['cas']:.1f}%", flush=True)
        if args.grid and args.grid_step is None and seed == args.seeds[0]:
            draw_grid(run["model"].cpu())
        elif args.grid and run["loaded"] and seed == args.seeds[0]:
            print(f"--grid-step: seed {seed} was loaded, not trained: no grid drawn", flush=True)
    (Path(args.out) / "results.json").write_text(json.dumps({"config": args.config, "overrides": args.overrides,
                                                            "floor": floor, "rows": rows}, indent=1))
    print(f"over seeds {args.seeds}: FID {spread(rows, 'fid')} (floor {floor['fid']:.2f}), IS {spread(rows, 'is')},"
          f" classes {spread(rows, 'classes')}, training {spread([{'m': r['wall_s'] / 60} for r in rows], 'm')} min wall,"
          f" {spread([{'m': r['cpu_s'] / 60} for r in rows], 'm')} min CPU")


if __name__ == "__main__":
    main()
