"""Sample quality on the toy mixtures: modes captured and high-quality fraction (issue 14, item 2).

    python -m benchmarks.quality [--configs gan nsgan ...] [--seeds 0 1 2] [--workers 1] [--out quality.jsonl]

Each run is one shipped config of ``configs/toys/`` (one per objective family and per f-divergence,
each with its own settings, found by the search in BENCHMARKS.md), built and trained exactly as
``lit-gan fit --config configs/toys/<name>.yaml`` does it (``lit_gan.cli.run_cli``), with only the
seed replaced (``seed_everything`` and the data's draw), and with no logger, checkpoints or progress
bar (none of which changes what is trained; the config it saves goes to a temporary directory). ``--grid`` also runs every ring config on the grid of
25 (the data replaced, nothing else). ``--set KEY=VALUE`` replaces a value of the config, for a
search (recorded in ``--out``; the shipped figures have none).

Then 2,500 samples from the generator are scored as in VEEGAN (Srivastava et al. 2017) and PacGAN
(Lin et al. 2018) (``ModeCoverage``): a sample is of high quality within 3 std of its nearest mode,
and a mode is captured with at least one such sample. Runs go to ``--workers`` processes of one
torch thread each; every finished run is appended to ``--out`` as a JSON line (runs already there,
with the same resolved config, are not run again), and the table of means and spreads (min-max)
over seeds is printed, with the wall time and the CPU time of the run's process (one thread: the
time on one free core, whatever else the machine runs). A run whose loss or gradient overflows (``NonFiniteError``) is reported as
diverged, with the generator step.
"""

import argparse
import contextlib
import hashlib
import io
import json
import multiprocessing
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

import torch
import yaml

TOYS_DIR = Path(__file__).resolve().parents[1] / "configs" / "toys"
CONFIGS = ("gan", "nsgan", "wgan", "wgan_gp", "wgan_gp_grid", *(f"fgan_{d}" for d in (
    "kl", "reverse_kl", "pearson", "squared_hellinger", "jensen_shannon", "gan", "total_variation")),
    "hinge_sn", "lsgan", "r3gan", "wgan_gp_ema", "conditional_ring", "pacgan2", "pacgan4")
TOYS = ("ring", "grid")
# the grid of 25 as in configs/toys/wgan_gp_grid.yaml (PacGAN's spacing 2 and std 0.05, divided by 2.828)
GRID = {"class_path": "lit_gan.data.GridOfGaussians", "init_args": {"side": 5, "spacing": 0.70711, "std": 0.017678}}
QUIET = ["--trainer.logger", "false", "--trainer.enable_checkpointing", "false",
         "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


def config_key(name: str, overrides: list[str]) -> str:
    """A digest of the config's values (not its comments) and the overrides: a changed config is run again."""
    values = yaml.safe_load((TOYS_DIR / f"{name}.yaml").read_text())
    return hashlib.sha1(json.dumps([values, overrides], sort_keys=True).encode()).hexdigest()[:12]


def home_toy(name: str) -> str:
    data = yaml.safe_load((TOYS_DIR / f"{name}.yaml").read_text())["data"]["class_path"]
    return "grid" if data.endswith("GridOfGaussians") else "ring"


def run(name: str, toy: str, seed: int, overrides: list[str]) -> dict:
    """Train configs/toys/<name>.yaml with ``seed`` (on ``toy``); its modes, high-quality fraction and wall time."""
    torch.set_num_threads(1)
    from lit_gan.cli import run_cli
    from lit_gan.metrics import ModeCoverage

    args = ["fit", "--config", str(TOYS_DIR / f"{name}.yaml"), "--seed_everything", str(seed), *QUIET]
    if toy != home_toy(name):  # the grid for a ring config: its data replaced, batch size kept
        batch = yaml.safe_load((TOYS_DIR / f"{name}.yaml").read_text())["data"]["init_args"]["batch_size"]
        grid = {**GRID, "init_args": {**GRID["init_args"], "batch_size": batch}}
        args += ["--data", json.dumps(grid)]
    args += ["--data.init_args.seed", str(seed)] + [f"--{o}" for o in overrides]
    row = {"config": name, "toy": toy, "seed": seed, "overrides": overrides, "key": config_key(name, overrides)}
    start, cpu, stderr = time.perf_counter(), time.process_time(), io.StringIO()
    try:
        with tempfile.TemporaryDirectory() as root, contextlib.redirect_stderr(stderr):  # the config.yaml it saves
            cli = run_cli(args + ["--trainer.default_root_dir", root])
    except SystemExit:  # lit-gan's one-line error: a loss or gradient overflowed (NonFiniteError), or a bad value
        message = stderr.getvalue()
        step = re.search(r"non-finite .* at generator step (\d+)", message)
        if step is None:
            raise RuntimeError(f"{name}: {message[-2000:]}") from None
        return {**row, "modes": None, "hq_fraction": None, "seconds": time.perf_counter() - start,
                "cpu_seconds": time.process_time() - cpu, "diverged_at": int(step.group(1))}
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    model, data = cli.model, cli.datamodule
    # a conditional model: classes in turn, each sample also scored against its own class's mode
    labels = torch.arange(2500) % model.num_classes if model.num_classes else None
    coverage = ModeCoverage(data.centers, data.std, by_class=labels is not None)
    z = torch.randn(2500, model.latent_dim, generator=torch.Generator().manual_seed(10_000 + seed))
    coverage.update(model.sample(2500, z=z, labels=labels), labels=labels)
    result = coverage.compute()
    by_class = {"class_hq_fraction": float(result["class_hq_fraction"])} if labels is not None else {}
    return {**row, "steps": cli.trainer.global_step, "modes": int(result["modes"]),
            "hq_fraction": float(result["hq_fraction"]), **by_class, "seconds": seconds, "cpu_seconds": cpu_seconds}


def _run(job: tuple) -> dict:
    return run(*job)


def summary(results: list[dict]) -> str:
    lines = ["| config | ring: modes (of 8) | ring: high quality | grid: modes (of 25) | grid: high quality"
             " | wall s per run | CPU s per run |", "|---|---|---|---|---|---|---|"]
    spread = lambda xs, f: f"{f(statistics.mean(xs))} ({f(min(xs))}-{f(max(xs))})"  # noqa: E731
    for name in dict.fromkeys([r["config"] for r in results]):
        for overrides in dict.fromkeys(tuple(r["overrides"]) for r in results if r["config"] == name):
            cells, seconds, cpu = [], [], []
            for toy in TOYS:
                rows = [r for r in results if r["config"] == name and tuple(r["overrides"]) == overrides and r["toy"] == toy]
                seconds += [r["seconds"] for r in rows]
                cpu += [r.get("cpu_seconds", r["seconds"]) for r in rows]
                done = [r for r in rows if r["modes"] is not None]
                diverged = f"; {len(rows) - len(done)} of {len(rows)} diverged" if len(done) < len(rows) else ""
                if not done:
                    cells += ["", "diverged" if rows else ""]
                    continue
                cells.append(spread([r["modes"] for r in done], lambda x: f"{x:.1f}" if x % 1 else f"{x:.0f}"))
                cells.append(spread([r["hq_fraction"] for r in done], lambda x: f"{100 * x:.1f}%") + diverged)
            label = f"`{name}`" + (f" {' '.join(overrides)}" if overrides else "")
            lines.append(f"| {label} | " + " | ".join(cells) + f" | {statistics.mean(seconds):.0f} | {statistics.mean(cpu):.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=CONFIGS, metavar="NAME",
                        help="configs/toys/NAME.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--grid", action="store_true", help="also run every ring config on the grid of 25")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="replace values of the configs (a search), e.g. model.init_args.gp_lambda=1.0")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", default=None, help="append every run to this file as a JSON line")
    args = parser.parse_args()
    jobs = [(c, t, s, args.overrides) for c in args.configs for t in dict.fromkeys([home_toy(c)] + ["grid"] * args.grid)
            for s in args.seeds]
    key = lambda r: (r["config"], r["toy"], r["seed"], r["key"])  # noqa: E731
    wanted = {(c, t, s, config_key(c, o)) for c, t, s, o in jobs}
    results = []
    if args.out and os.path.exists(args.out):  # continue an interrupted benchmark: runs already in --out count
        results = [r for r in map(json.loads, open(args.out)) if key(r) in wanted]
        done = {key(r) for r in results}
        jobs = [j for j in jobs if (j[0], j[1], j[2], config_key(j[0], j[3])) not in done]
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        for result in pool.imap_unordered(_run, jobs):
            results.append(result)
            print(json.dumps(result), flush=True)
            if args.out:
                with open(args.out, "a") as f:
                    f.write(json.dumps(result) + "\n")
    print(summary(results))


if __name__ == "__main__":
    main()
