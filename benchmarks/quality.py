"""Sample quality on the toy mixtures: modes captured and high-quality fraction (issue 6, item 4).

    python -m benchmarks.quality [--steps 2000] [--seeds 0 1 2] [--workers 2] [--out quality.jsonl]

Every objective family (GAN minimax, NS-GAN, WGAN, WGAN-GP, f-GAN with each of its seven
divergences) trains on the ring of 8 Gaussians (radius 2, std 0.02) and the grid of 25 (spacing
2, std 0.05) of VEEGAN (Srivastava et al. 2017), both divided by 1.414 and 2.828 as in the WGAN-GP
code's toys (the same data in units of the std, which the scores use; the networks learn the
unscaled grid far more slowly), for
``--steps`` generator updates with the same networks (2-d latent, 3 ReLU layers of 256 in both),
batch 256 and optimizer: Adam (lr 1e-3, betas (0.5, 0.9); RMSprop lr 1e-3 for WGAN with weight
clipping, as its paper asks) decayed linearly to zero over the run (``g_scheduler``,
``d_scheduler``). Each family keeps its own defaults otherwise (n_critic 5 for WGAN and WGAN-GP,
1 for the others; clip 0.01; gp_lambda 0.1, the WGAN-GP paper's value for its toys; f-GAN with
its saddle-point generator loss, and again with the paper's alternative one). Then 2,500
samples from the generator are scored as in both papers (``ModeCoverage``): a sample is of high
quality within 3 std of its nearest mode, and a mode is captured with at least one such sample.
Runs go to ``--workers`` processes of one torch thread each; every finished run is appended to
``--out`` as a JSON line (runs already there are not run again), and the table of means and spreads
(min-max) over seeds is printed. A run whose loss or gradient overflows (``NonFiniteError``) is
reported as diverged.
"""

import argparse
import json
import multiprocessing
import os
import statistics
import time
from functools import partial

import torch

from lit_gan.objectives.fdivergences import DIVERGENCES

OBJECTIVES = {
    "GAN (minimax)": ("GAN", {"generator_loss": "minimax"}),
    "NS-GAN": ("GAN", {"generator_loss": "non_saturating"}),
    "WGAN (clipping)": ("WGAN", {"n_critic": 5}),
    "WGAN-GP": ("WGANGP", {"n_critic": 5, "gp_lambda": 0.1}),
    **{f"f-GAN {d}": ("FGAN", {"divergence": d}) for d in DIVERGENCES},
    **{f"f-GAN {d} (alternative)": ("FGAN", {"divergence": d, "generator_loss": "alternative"}) for d in DIVERGENCES},
}
TOYS = ("ring", "grid")


def run(objective: str, toy: str, seed: int, steps: int, width: int) -> dict:
    """Train one model; its modes, high-quality fraction and wall time."""
    torch.set_num_threads(1)
    from lightning.pytorch import Trainer, seed_everything

    import lit_gan
    from lit_gan.errors import NonFiniteError
    from lit_gan.data import GridOfGaussians, RingOfGaussians
    from lit_gan.metrics import ModeCoverage
    from lit_gan.networks import MLPCritic, MLPGenerator

    family, kwargs = OBJECTIVES[objective]
    seed_everything(seed, verbose=False)
    # the WGAN-GP code's scaling (gan_toy.py: ring / 1.414, grid / 2.828); the scores are in units of std
    data = (RingOfGaussians(radius=2 / 1.414, std=0.02 / 1.414, seed=seed) if toy == "ring"
            else GridOfGaussians(spacing=2 / 2.828, std=0.05 / 2.828, seed=seed))
    optimizer = partial(torch.optim.RMSprop, lr=1e-3) if family == "WGAN" else partial(torch.optim.Adam, lr=1e-3, betas=(0.5, 0.9))
    decay = partial(torch.optim.lr_scheduler.LinearLR, start_factor=1.0, end_factor=0.0, total_iters=steps)
    model = getattr(lit_gan, family)(
        generator=partial(MLPGenerator, hidden_dims=[width] * 3),
        critic=partial(MLPCritic, hidden_dims=[width] * 3, negative_slope=0.0),
        latent_dim=2, g_optimizer=optimizer, d_optimizer=optimizer, g_scheduler=decay, d_scheduler=decay, **kwargs,
    )
    trainer = Trainer(accelerator="cpu", devices=1, max_steps=steps, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    start = time.perf_counter()
    try:
        trainer.fit(model, data)
    except NonFiniteError:  # a loss or gradient overflowed: the run is reported as diverged
        return {"objective": objective, "toy": toy, "seed": seed, "steps": steps, "modes": None, "hq_fraction": None,
                "seconds": time.perf_counter() - start, "diverged_at": trainer.global_step}
    seconds = time.perf_counter() - start
    coverage = ModeCoverage(data.centers, data.std)
    coverage.update(model.sample(2500, z=torch.randn(2500, 2, generator=torch.Generator().manual_seed(10_000 + seed))))
    result = coverage.compute()
    return {"objective": objective, "toy": toy, "seed": seed, "steps": steps, "modes": int(result["modes"]),
            "hq_fraction": float(result["hq_fraction"]), "seconds": seconds}


def _run(job: tuple) -> dict:
    return run(*job)


def summary(results: list[dict]) -> str:
    lines = ["| objective | ring: modes (of 8) | ring: high quality | grid: modes (of 25) | grid: high quality | wall s per run |",
             "|---|---|---|---|---|---|"]
    spread = lambda xs, f: f"{f(statistics.mean(xs))} ({f(min(xs))}-{f(max(xs))})"  # noqa: E731
    for objective in OBJECTIVES:
        cells, seconds = [], []
        for toy in TOYS:
            rows = [r for r in results if r["objective"] == objective and r["toy"] == toy]
            seconds += [r["seconds"] for r in rows]
            done = [r for r in rows if r["modes"] is not None]
            diverged = f"; {len(rows) - len(done)} of {len(rows)} diverged" if len(done) < len(rows) else ""
            if not done:
                cells += ["", "diverged" if rows else ""]
                continue
            cells.append(spread([r["modes"] for r in done], lambda x: f"{x:.1f}" if x % 1 else f"{x:.0f}"))
            cells.append(spread([r["hq_fraction"] for r in done], lambda x: f"{100 * x:.1f}%") + diverged)
        if seconds:
            lines.append(f"| {objective} | " + " | ".join(cells) + f" | {statistics.mean(seconds):.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=2000, help="generator updates per run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--objectives", nargs="+", default=list(OBJECTIVES), choices=list(OBJECTIVES), metavar="NAME")
    parser.add_argument("--toys", nargs="+", default=list(TOYS), choices=TOYS)
    parser.add_argument("--width", type=int, default=256, help="units per hidden layer of both networks")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default=None, help="append every run to this file as a JSON line")
    args = parser.parse_args()
    jobs = [(o, t, s, args.steps, args.width) for o in args.objectives for t in args.toys for s in args.seeds]
    jobs.sort(key=lambda j: OBJECTIVES[j[0]][1].get("n_critic", 1), reverse=True)  # longest first
    results = []
    if args.out and os.path.exists(args.out):  # continue an interrupted benchmark: runs already in --out count
        key = lambda r: (r["objective"], r["toy"], r["seed"], r["steps"])  # noqa: E731
        results = [r for r in map(json.loads, open(args.out)) if key(r) in {j[:4] for j in jobs}]
        jobs = [j for j in jobs if j[:4] not in {key(r) for r in results}]
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
