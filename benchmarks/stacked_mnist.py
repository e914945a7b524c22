"""Stacked MNIST (issue 40): the table of the configs of ``configs/stacked_mnist/`` over seeds, and the figure
of docs/monitoring.md ("Mode collapse"), read from the runs' TensorBoard logs.

The runs: each config and seed in a folder of its own, ``RUNS/<config>_s<seed>``, holding the digit
classifier that ``StackedModes`` reads (``classifier_mnist5k.ckpt``, from ``configs/classifier_mnist5k.yaml``):

    mkdir -p RUNS/table3_quarter_gan_s1 && cd RUNS/table3_quarter_gan_s1
    cp ../classifier_mnist5k.ckpt .
    OMP_NUM_THREADS=1 lit-gan fit --config configs/stacked_mnist/table3_quarter_gan.yaml --seed_everything 1 \\
        > out.txt 2>&1; echo "$SECONDS s" >> out.txt

Then:

    python -m benchmarks.stacked_mnist --runs RUNS --table            # markdown rows, mean (min-max) over seeds
    python -m benchmarks.stacked_mnist --runs RUNS --figure docs/images/mode_collapse_stacked.png \\
        --configs table3_quarter_gan table3_quarter_pacgan2 table3_quarter_wgan_gp

The wall time of a run is the last "N s" line of its ``out.txt`` less the seconds listed for it in
``RUNS/paused.txt`` (lines ``<run> <seconds>``: a run stopped with SIGSTOP while the machine was timed).
"""

import argparse
import glob
import re
import statistics
from pathlib import Path

NAMES = {"gan": "GAN (non-saturating)", "pacgan2": "PacGAN2", "pacgan3": "PacGAN3", "pacgan4": "PacGAN4",
         "wgan_gp": "WGAN-GP", "hinge_sn": "Hinge + SN", "rpgan_r1r2": "RpGAN + R1 + R2"}
TAGS = ("val/stacked_modes", "val/stacked_kl", "val/stacked_modes_floor", "val/stacked_kl_floor")


def scalars(run: Path) -> dict[str, list[tuple[int, float]]]:
    """The Stacked MNIST scalars of a run's first TensorBoard log: tag -> [(step, value)]."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    files = sorted(glob.glob(str(run / "lightning_logs" / "version_0" / "events*")))
    if not files:
        return {}
    events = EventAccumulator(files[0], size_guidance={"scalars": 0})
    events.Reload()
    return {t: [(e.step, e.value) for e in events.Scalars(t)] for t in TAGS if t in events.Tags()["scalars"]}


def wall_seconds(run: Path, paused: dict[str, float]) -> float:
    text = (run / "out.txt").read_text() if (run / "out.txt").is_file() else ""
    found = re.findall(r"^([\d.]+) s\b", text, re.MULTILINE)
    return float(found[-1]) - paused.get(run.name, 0.0) if found else float("nan")


def runs_of(root: Path, config: str) -> list[Path]:
    """The finished runs of ``config`` (those that logged their last scores), by seed."""
    found = sorted(root.glob(f"{config}_s[0-9]*"), key=lambda p: int(p.name.rsplit("_s", 1)[1]))
    return [r for r in found if "val/stacked_modes" in scalars(r) and re.search(r"^[\d.]+ s", (r / "out.txt").read_text(), re.M)]


def spread(values: list[float], fmt: str) -> str:
    return f"{format(statistics.mean(values), fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def table(root: Path, configs: list[str]) -> str:
    paused = {}
    if (root / "paused.txt").is_file():
        paused = {n: float(s) for n, s in (line.split() for line in (root / "paused.txt").read_text().splitlines() if line.strip())}
    lines = ["| config | seeds | modes (of 1,000) | KL | modes, each seed | KL, each seed | floor: modes / KL | wall min per run |",
             "|---|---|---|---|---|---|---|---|"]
    for config in configs:
        runs = runs_of(root, config)
        if not runs:
            continue
        last = [scalars(r) for r in runs]
        modes = [s["val/stacked_modes"][-1][1] for s in last]
        kl = [s["val/stacked_kl"][-1][1] for s in last]
        floor = last[0]["val/stacked_modes_floor"][-1][1], last[0]["val/stacked_kl_floor"][-1][1]
        minutes = [wall_seconds(r, paused) / 60 for r in runs]
        seeds = ", ".join(r.name.rsplit("_s", 1)[1] for r in runs)
        lines.append(f"| `{config}` | {seeds} | {spread(modes, '.1f')} | {spread(kl, '.2f')} |"
                     f" {' / '.join(f'{m:.0f}' for m in modes)} | {' / '.join(f'{k:.2f}' for k in kl)} |"
                     f" {floor[0]:.0f} / {floor[1]:.3f} | {statistics.mean(minutes):.0f} |")
    return "\n".join(lines)


def figure(root: Path, configs: list[str], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for i, config in enumerate(configs):
        for j, run in enumerate(runs_of(root, config)):
            s = scalars(run)
            for ax, tag in ((left, "val/stacked_modes"), (right, "val/stacked_kl")):
                steps, values = zip(*s[tag])
                name = NAMES.get(config.split("_", 2)[-1], config)
                ax.plot(steps, values, color=f"C{i}", marker="o", alpha=0.8, label=name if j == 0 else None)
        floor = scalars(runs_of(root, config)[0])
    left.axhline(floor["val/stacked_modes_floor"][-1][1], color="gray", ls="--", label="real held-out stacks (floor)")
    right.axhline(floor["val/stacked_kl_floor"][-1][1], color="gray", ls="--", label="real held-out stacks (floor)")
    left.set(xlabel="generator updates", ylabel="modes covered (of 1,000)",
             title=f"Modes of 26,000 samples ({configs[0].rsplit('_', 1)[0]}_*, a line a seed)")
    right.set(xlabel="generator updates", ylabel="KL(p || uniform)", title="KL from the uniform over modes")
    left.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=Path, required=True)
    parser.add_argument("--configs", nargs="+", default=sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "configs" / "stacked_mnist").glob("*.yaml")))
    parser.add_argument("--table", action="store_true")
    parser.add_argument("--figure", type=Path)
    args = parser.parse_args()
    if args.table:
        print(table(args.runs, args.configs))
    if args.figure:
        figure(args.runs, args.configs, args.figure)


if __name__ == "__main__":
    main()
