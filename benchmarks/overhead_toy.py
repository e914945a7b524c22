"""The quickstart's work, lit-gan against a plain PyTorch loop (issue 36, item 7; issue 39).

    python -m benchmarks.overhead_toy [--steps 500] [--rounds 3] [--shipped-steps 1000] [--before TREE]

The work: WGAN-GP (lambda 0.1, n_critic 5) on the ring of 8 Gaussians, 3x256 MLPs, batch 256, Adam
1e-3 (0.5, 0.9) decayed linearly to zero, 65,536 training points: ``configs/quickstart.yaml``.

- **training alone**: in one process, ``Trainer.fit`` of the quickstart's model and data with no
  logger, callbacks, validation, checkpoints or progress bar, against the plain loop doing the same
  updates; generator updates per second of each, runs alternating.
- **as shipped**: whole processes, start-up included: ``lit-gan fit --config configs/quickstart.yaml
  --trainer.max_steps N`` (its logger, validation, callbacks, checkpoints and progress lines) against
  ``python -m benchmarks.overhead_toy --plain-process N``, the plain loop's process for the same updates.

``--before TREE``: also time the lit-gan of another source tree (e.g. a checkout of the commit before
a change), alternating with this one's, both ways.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

REPO = Path(__file__).resolve().parents[1]
HIDDEN, BATCH, N_CRITIC, LAMBDA, LR, N_TRAIN = (256, 256, 256), 256, 5, 0.1, 1e-3, 65536


def ring(n: int) -> torch.Tensor:
    from lit_gan.data import RingOfGaussians

    data = RingOfGaussians(n_modes=8, radius=1.414, std=0.01414, batch_size=BATCH, n_train=n, n_val=256)
    data.setup("fit")
    return data._train


def plain(steps: int) -> float:
    """The plain loop: generator updates per second."""
    from lit_gan.networks import MLPCritic, MLPGenerator
    from lit_gan.objectives.losses import gradient_penalty, wgan_critic_loss, wgan_generator_loss

    torch.manual_seed(0)
    points = ring(N_TRAIN)
    generator, critic = MLPGenerator(2, (2,), hidden_dims=HIDDEN), MLPCritic((2,), hidden_dims=HIDDEN, negative_slope=0.0)
    g_opt = torch.optim.Adam(generator.parameters(), lr=LR, betas=(0.5, 0.9))
    d_opt = torch.optim.Adam(critic.parameters(), lr=LR, betas=(0.5, 0.9))
    schedules = [torch.optim.lr_scheduler.LinearLR(o, 1.0, 0.0, total_iters=steps) for o in (g_opt, d_opt)]
    start, order, at = time.perf_counter(), torch.randperm(N_TRAIN), 0
    for _ in range(steps):
        for _ in range(N_CRITIC):
            if at + BATCH > N_TRAIN:
                order, at = torch.randperm(N_TRAIN), 0
            real, at = points[order[at:at + BATCH]], at + BATCH
            with torch.no_grad():
                fake = generator(torch.randn(BATCH, 2))
            penalty, _ = gradient_penalty(critic, real, fake)
            loss = wgan_critic_loss(critic(real), critic(fake)) + LAMBDA * penalty
            d_opt.zero_grad(set_to_none=True)
            loss.backward()
            d_opt.step()
        critic.requires_grad_(False)
        loss = wgan_generator_loss(critic(generator(torch.randn(BATCH, 2))))
        g_opt.zero_grad(set_to_none=True)
        loss.backward()
        g_opt.step()
        critic.requires_grad_(True)
        for schedule in schedules:
            schedule.step()
    return steps / (time.perf_counter() - start)


COMPILE = '{"class_path": "lit_gan.callbacks.Compile", "init_args": {"networks": "generator", "dynamic": false}}'


def training_alone(steps: int, compiled: bool = False) -> float:
    """lit-gan's fit of the quickstart's model and data, nothing else: generator updates per second.
    ``compiled``: with ``Compile`` on the generator (inductor; WGAN-GP's critic stays eager), its compilation
    in the time (a few seconds at the first updates)."""
    from lit_gan.cli import run_cli

    with tempfile.TemporaryDirectory() as root:
        args = ["fit", "--config", str(REPO / "configs" / "quickstart.yaml"), "--trainer.max_steps", str(steps),
                "--trainer.callbacks", "[]", "--trainer.logger", "false", "--trainer.enable_checkpointing", "false",
                "--trainer.enable_progress_bar", "false", "--trainer.limit_val_batches", "0",
                "--trainer.num_sanity_val_steps", "0", "--trainer.default_root_dir", root]
        run_cli([*args, "--trainer.callbacks+=benchmarks.overhead_toy.Clock", *(
            [f"--trainer.callbacks+={COMPILE}"] if compiled else [])])
        from benchmarks.overhead_toy import CLOCKS as built  # the module the fit imported by name
        return steps / built[-1].seconds


CLOCKS: list["Clock"] = []


try:
    from lightning.pytorch import Callback
except ImportError:  # pragma: no cover
    Callback = object


class Clock(Callback):
    """Times the training loop itself (train start to train end), as the plain loop is timed."""

    def __init__(self) -> None:
        self.seconds = float("nan")
        CLOCKS.append(self)

    def on_train_start(self, trainer, pl_module) -> None:
        self._start = time.perf_counter()

    def on_train_end(self, trainer, pl_module) -> None:
        self.seconds = time.perf_counter() - self._start


def process_seconds(command: list[str], cwd: str, env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def in_tree(tree: Path, *args: str) -> list[str]:
    """``python -m benchmarks.overhead_toy ARGS`` run with ``tree``'s lit-gan (its folder first on the path)."""
    return [sys.executable, "-m", "benchmarks.overhead_toy", *args]


def print_medians(runs: dict[str, list[float]], base: str, fmt: str, ratio_name: str,
                  ratio: Callable[[float, float], float]) -> None:
    """A line per entry of ``runs``: its median (``fmt``), its ``ratio(median, base's median)`` and every run."""
    reference = statistics.median(runs[base])
    for name, values in runs.items():
        med = statistics.median(values)
        print(f"  {name:22s} {fmt.format(med)}  {ratio_name} {ratio(med, reference):.3f}"
              f"  ({', '.join(fmt.split()[0].format(v).strip() for v in values)})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--shipped-steps", type=int, default=1000)
    parser.add_argument("--shipped-rounds", type=int, default=2)
    parser.add_argument("--before", type=Path, help="another source tree to time beside this one")
    parser.add_argument("--compile", action="store_true", help="also time training alone with Compile on the generator")
    parser.add_argument("--one", choices=["plain", "alone", "compiled"], help=argparse.SUPPRESS)  # one run, printed (subprocess)
    parser.add_argument("--plain-process", type=int, help=argparse.SUPPRESS)  # the plain loop as a whole process
    args = parser.parse_args()
    if args.plain_process:
        plain(args.plain_process)
        return
    if args.one:
        sys.argv = sys.argv[:1]
        print(plain(args.steps) if args.one == "plain" else training_alone(args.steps, args.one == "compiled"))
        return
    trees = {"this": REPO, **({"before": args.before.resolve()} if args.before else {})}

    def env(tree: Path) -> dict:
        return {**os.environ, "PYTHONPATH": str(tree)}

    def rate(tree: Path, which: str) -> float:
        out = subprocess.run(in_tree(tree, "--one", which, "--steps", str(args.steps)), cwd=tree, env=env(tree),
                             check=True, capture_output=True, text=True).stdout
        return float(out.strip().splitlines()[-1])

    runs: dict[str, list[float]] = {"plain": []} | {f"lit-gan ({name})": [] for name in trees}
    if args.compile:
        runs["lit-gan (this, Compile generator)"] = []
    for _ in range(args.rounds):  # training alone: each run its own process, rates of the loop itself
        runs["plain"].append(rate(REPO, "plain"))
        for name, tree in trees.items():
            runs[f"lit-gan ({name})"].append(rate(tree, "alone"))
        if args.compile:
            runs["lit-gan (this, Compile generator)"].append(rate(REPO, "compiled"))
    print(f"Training alone, {args.steps} generator updates, {args.rounds} alternating rounds,"
          f" torch threads {torch.get_num_threads()}; generator updates per second (median, runs):")
    print_medians(runs, "plain", "{:7.2f}", "ratio", lambda med, base: med / base)

    if not args.shipped_rounds:
        return
    shipped: dict[str, list[float]] = {"plain process": []} | {f"lit-gan fit ({name})": [] for name in trees}
    for _ in range(args.shipped_rounds):
        with tempfile.TemporaryDirectory() as root:
            shipped["plain process"].append(process_seconds(
                in_tree(REPO, "--plain-process", str(args.shipped_steps)), str(REPO), env(REPO)))
            for name, tree in trees.items():
                command = [sys.executable, "-c", "import sys; from lit_gan.cli import main; sys.argv[0] = 'lit-gan'; main()",
                           "fit", "--config", str(tree / "configs" / "quickstart.yaml"),
                           "--trainer.max_steps", str(args.shipped_steps), "--trainer.default_root_dir", f"{root}/{name}"]
                shipped[f"lit-gan fit ({name})"].append(process_seconds(command, root, env(tree)))
    print(f"As shipped, {args.shipped_steps} generator updates, whole processes (start-up included),"
          f" {args.shipped_rounds} alternating rounds; seconds (median, runs):")
    print_medians(shipped, "plain process", "{:7.1f} s", "speed ratio", lambda med, base: base / med)


if __name__ == "__main__":
    main()
