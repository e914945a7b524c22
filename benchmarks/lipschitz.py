"""Three ways to make the critic Lipschitz, side by side (docs/monitoring.md, section 2; the WGAN-GP
paper's Figure 1b, and issue 17 for spectral normalization): WGAN with weight clipping c = 0.1, 0.01
and 0.001, the gradient penalty (lambda 10) and spectral normalization (the Wasserstein loss with
no penalty), each with the same 9-layer critic, generator, optimizer, n_critic 5 and data
(``SwissRoll``), for 300 generator updates; only the Lipschitz constraint differs.

    python -m benchmarks.lipschitz [--workers 2] [--runs runs] [--out docs/images]

Each run is a ``lit-gan fit`` command (printed) into ``runs/<name>``, on ``runs/lipschitz.yaml``:
``configs/quickstart.yaml`` without its ``MixtureCoverage`` (the Swiss roll has no modes). Runs
already there are kept.
Then the per-layer gradient norms of the critic (``GradientDiagnostics``) are plotted to
``gradient_norms.png`` and their medians printed.
"""

import argparse
import os
import multiprocessing
import subprocess
import sys
import time
from pathlib import Path

DEEP = "[64,64,64,64,64,64,64,64]"
OLD = ["--model.init_args.g_scheduler", "null", "--model.init_args.d_scheduler", "null"]  # constant lr, as in 2026-11
COMMON = ["--data", "lit_gan.data.SwissRoll", "--model.init_args.critic.init_args.hidden_dims", DEEP,
          "--trainer.enable_progress_bar", "false"]
RUNS = {  # name -> (label, arguments after `lit-gan fit --config runs/lipschitz.yaml`)
    "wgan_clip0.1": ("weight clipping c = 0.1", ["--model", "lit_gan.WGAN", *OLD, "--model.init_args.clip_value", "0.1"]),
    "wgan_clip0.01": ("weight clipping c = 0.01", ["--model", "lit_gan.WGAN", *OLD, "--model.init_args.clip_value", "0.01"]),
    "wgan_clip0.001": ("weight clipping c = 0.001", ["--model", "lit_gan.WGAN", *OLD, "--model.init_args.clip_value", "0.001"]),
    "wgan_gp_deep": ("gradient penalty, lambda = 10", [*OLD, "--model.init_args.gp_lambda", "10"]),
    "wgan_sn_deep": ("spectral normalization", [*OLD, "--model.init_args.gp_lambda", "0",
                                                "--model.init_args.critic.init_args.spectral_norm", "true"]),
}


def base_config(runs: Path) -> Path:
    """configs/quickstart.yaml without MixtureCoverage, written to runs/lipschitz.yaml."""
    import yaml

    config = yaml.safe_load(Path("configs/quickstart.yaml").read_text())
    callbacks = config["trainer"]["callbacks"]
    config["trainer"]["callbacks"] = [c for c in callbacks if not c["class_path"].endswith("MixtureCoverage")]
    runs.mkdir(parents=True, exist_ok=True)
    (runs / "lipschitz.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return runs / "lipschitz.yaml"


def command(name: str, runs: Path, steps: int = 300, log_every: int = 50) -> list[str]:
    return ["lit-gan", "fit", "--config", str(runs / "lipschitz.yaml"), *RUNS[name][1], *COMMON,
            "--trainer.max_steps", str(steps), "--trainer.log_every_n_steps", str(log_every),
            "--trainer.default_root_dir", str(runs / name)]


def train(job: tuple[str, Path, int, int]) -> tuple[str, float]:
    name, runs, steps, log_every = job
    start = time.perf_counter()
    exe = [sys.executable, "-m", "lit_gan.cli"] + command(name, runs, steps, log_every)[1:]
    subprocess.run(exe, check=True, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return name, time.perf_counter() - start


def plot(runs: Path, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    for name, (label, _) in RUNS.items():
        version = sorted((runs / name / "lightning_logs").glob("version_*"))[-1]
        ea = EventAccumulator(str(version), size_guidance={"scalars": 0}).Reload()
        series = lambda tag: np.array([(p.step, p.value) for p in ea.Scalars(tag)]).T  # noqa: E731
        tags = sorted(t for t in ea.Tags()["scalars"] if t.startswith("diagnostics/critic_grad_norm/") and not t.endswith("total"))
        per_layer = []
        for tag in tags:
            s, v = series(tag)
            per_layer.append(np.median(v[s > s.max() / 2]))  # second half of the run
        layers, per_layer = np.arange(1, len(tags) + 1), np.array(per_layer)
        (line,) = left.plot(layers[per_layer > 0], per_layer[per_layer > 0], "o-", ms=3, label=label)
        zero = per_layer == 0  # exactly 0 in float32: drawn as x on the floor of the plot
        left.plot(layers[zero], np.full(zero.sum(), 1e-21), "x", color=line.get_color(), ms=7)
        s, v = series("diagnostics/critic_input_grad_norm/interpolated")
        right.plot(s, v, lw=1, label=label)
        print(f"{name}: per-layer median grad norm (input -> output):", [f"{x:.2e}" for x in per_layer])
        print(f"   ||grad_x f|| at interpolates: median second half {np.median(v[s > s.max() / 2]):.3g}")
    left.set(yscale="log", xlabel="critic layer (1 = input)", ylabel="||d loss / d weights of the layer||",
             title="per-layer gradient norm of the critic (median, 2nd half)")
    right.set(yscale="log", xlabel="generator updates", ylabel="mean ||grad_x f(x_hat)||",
              title="input-gradient norm at interpolates")
    right.axhline(1.0, color="gray", ls="--", lw=0.8)
    left.set_ylim(3e-22, 1e9)
    left.text(1, 1e-21, "x: exactly 0", va="center", fontsize=7)
    left.legend(fontsize=7, loc="upper center", ncol=2)
    for ax in (left, right):
        ax.title.set_fontsize(9)
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "gradient_norms.png", dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    parser.add_argument("--steps", type=int, default=300, help="generator updates per run")
    parser.add_argument("--log-every", type=int, default=50, help="log_every_n_steps (the gradient norms' period)")
    args = parser.parse_args()
    base_config(args.runs)
    todo = [(name, args.runs, args.steps, args.log_every) for name in RUNS
            if not (args.runs / name / "lightning_logs").is_dir()]
    for job in todo:
        print(" ".join(command(*job)), flush=True)
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        for name, seconds in pool.imap_unordered(train, todo):
            print(f"{name}: {seconds:.0f} s", flush=True)
    plot(args.runs, args.out)


if __name__ == "__main__":
    main()
