"""Peak memory (RSS) of a CPU training run of the MNIST DCGAN config (issue 6, item 5).

    python -m benchmarks.memory [--steps 50] [--config configs/wgan_gp.yaml]

Writes full-size MNIST files in torchvision's IDX format (60,000 + 10,000 random images; the
real data cannot be downloaded here, and the memory taken does not depend on the pixels), then
runs ``lit-gan fit`` with the config as shipped, on the CPU, for ``--steps`` generator updates,
in a child process, with its validation, logs and checkpoints under a temporary directory. The
peak resident set size of that child (``ru_maxrss`` from ``os.wait4``) is printed, next to that
of a child that only imports lit-gan's CLI (torch, Lightning, torchvision): the difference is
what data, networks and training add. The median of ``--repeats`` runs of each.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tests.conftest import write_idx


# Linux counts a process's peak RSS from the memory of the process that forked it (the peak of
# the old address space is kept at exec), so this large process would set the floor: a bare
# Python launcher (about 10 MiB) forks the command and reports ru_maxrss of it alone from wait4.
LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(usage.ru_maxrss, file=sys.stderr)  # KiB on Linux
sys.exit(os.waitstatus_to_exitcode(status))
"""


def peak_rss_mib(command: list[str]) -> tuple[float, float]:
    """Run a command to completion; its peak RSS in MiB and the wall time in s."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", LAUNCHER, *command], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return int(done.stderr.strip().splitlines()[-1]) / 1024, time.perf_counter() - start


def write_mnist(root: Path) -> None:
    rng = np.random.default_rng(0)
    raw = root / "MNIST" / "raw"
    write_idx(raw / "train-images-idx3-ubyte", rng.integers(0, 256, (60000, 28, 28)))
    write_idx(raw / "train-labels-idx1-ubyte", rng.integers(0, 10, (60000,)))
    write_idx(raw / "t10k-images-idx3-ubyte", rng.integers(0, 256, (10000, 28, 28)))
    write_idx(raw / "t10k-labels-idx1-ubyte", rng.integers(0, 10, (10000,)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default="configs/wgan_gp.yaml")
    parser.add_argument("--steps", type=int, default=50, help="generator updates")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--val-batches", type=int, default=None, help="override trainer.limit_val_batches")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    write_mnist(tmp / "mnist")
    command = [
        sys.executable, "-m", "lit_gan.cli", "fit", "--config", args.config,
        "--data.root", str(tmp / "mnist"), "--data.download", "false",
        "--trainer.accelerator", "cpu", "--trainer.devices", "1", "--trainer.max_steps", str(args.steps),
        "--trainer.default_root_dir", str(tmp / "run"), "--trainer.enable_progress_bar", "false",
    ]
    if args.val_batches is not None:
        command += ["--trainer.limit_val_batches", str(args.val_batches)]
    imports, runs = [], []
    for _ in range(args.repeats):
        imports.append(peak_rss_mib([sys.executable, "-c", "import lit_gan.cli, torchvision"])[0])
        runs.append(peak_rss_mib(command))
    imports_mib = statistics.median(imports)
    train_mib, seconds = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
    checkpoints = sorted((tmp / "run").rglob("*.ckpt"))
    if not checkpoints:
        raise RuntimeError("the training run wrote no checkpoint")
    print(f"{args.config}, {args.steps} generator updates on the CPU in {seconds:.0f} s")
    print(f"peak RSS (median of {args.repeats}): training run {train_mib:.0f} MiB; imports only {imports_mib:.0f} MiB; training adds {train_mib - imports_mib:.0f} MiB")


if __name__ == "__main__":
    main()
