"""The family's distance estimate against sample quality on real digits (issue 15, item 4).

    python -m benchmarks.estimates_vs_fid OUT [OUT ...] [--png docs/images/estimates_vs_fid_digits.png]

Each OUT is the ``--out`` folder of a ``benchmarks.digits_quality --score-every N`` call; its
``seed_S/along.json`` holds, at every N-th generator update, the classifier FID of the generator
then and the family's logged estimate (``train/jsd``, ``train/wasserstein``, ...) averaged over
the N updates before it. Prints, per folder and seed, the Spearman rank correlation between the
two over the scored updates (positive: the estimate falls as the samples get better, as a
distance should), the correlation over all seeds' points together, and the estimate's range;
``--png`` plots both against the update, a panel per folder.
"""

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr


def load(out: Path) -> tuple[str, dict[int, dict]]:
    seeds = {int(p.parent.name.split("_")[1]): json.loads(p.read_text()) for p in sorted(out.glob("seed_*/along.json"))}
    if not seeds:
        raise SystemExit(f"{out}: no seed_*/along.json (run benchmarks.digits_quality with --score-every)")
    names = {k for rows in seeds.values() for r in rows for k in r if k.startswith("train/")}
    if len(names) != 1:
        raise SystemExit(f"{out}: expected one logged estimate in along.json, found {sorted(names) or 'none'}")
    name = names.pop()  # the update-0 score comes before any estimate: left out
    return name, {seed: series([r for r in rows if name in r], name) for seed, rows in seeds.items()}


def series(rows: list[dict], name: str) -> dict:
    """A seed's scored updates, estimates and FIDs, and the rank correlation of the last two."""
    steps, e, f = [r["step"] for r in rows], [r[name] for r in rows], [r["fid"] for r in rows]
    return {"steps": steps, "estimate": e, "fid": f, "rho": spearmanr(e, f)[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("outs", nargs="+", type=Path)
    parser.add_argument("--png", help="write the figure here")
    args = parser.parse_args()
    runs = [(out, *load(out)) for out in args.outs]
    for out, name, seeds in runs:
        pooled_e, pooled_f = [], []
        for seed, run in seeds.items():
            e, f, steps = run["estimate"], run["fid"], run["steps"]
            pooled_e += e
            pooled_f += f
            print(f"{out.name} seed {seed}: Spearman({name}, FID) {run['rho']:+.2f} over {len(steps)} updates"
                  f" ({steps[0]}-{steps[-1]}); {name} {min(e):.3f} to {max(e):.3f}, last {e[-1]:.3f};"
                  f" FID {f[0]:.0f} to {f[-1]:.0f}")
        print(f"{out.name} all seeds: Spearman {spearmanr(pooled_e, pooled_f)[0]:+.2f} over {len(pooled_e)} points")
    if args.png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        cols = min(2, len(runs))
        rows_ = -(-len(runs) // cols)
        fig, axes = plt.subplots(rows_, cols, figsize=(5.6 * cols, 3.8 * rows_), squeeze=False)
        for ax in axes.flat[len(runs):]:
            ax.set_visible(False)
        for ax, (out, name, seeds) in zip(axes.flat, runs):
            right = ax.twinx()
            for seed, run in seeds.items():
                ax.plot(run["steps"], run["estimate"], color="tab:blue", lw=1, alpha=0.5 + 0.25 * (seed % 3))
                right.plot(run["steps"], run["fid"], color="tab:red", lw=1, ls="--", alpha=0.5 + 0.25 * (seed % 3))
            rhos = [f"{run['rho']:+.2f}" for run in seeds.values()]
            if name == "train/jsd":
                ax.axhline(np.log(2), color="gray", lw=0.8, ls=":")
            right.set_yscale("log")
            ax.set_xlabel("generator update")
            ax.set_ylabel(name, color="tab:blue")
            right.set_ylabel("classifier FID (log)", color="tab:red")
            ax.set_title(f"{out.name}: Spearman {' / '.join(rhos)}", fontsize=9)
        fig.tight_layout()
        fig.savefig(args.png, dpi=110)


if __name__ == "__main__":
    main()
