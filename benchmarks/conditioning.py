"""Each way of conditioning on the class (issue 38, item 6) at one budget on MNIST5k, judged by the domain
classifier: ``benchmarks/digits_quality.py`` on ``configs/conditional_mnist.yaml`` with the arm's networks.

    python -m benchmarks.conditioning --classifier CKPT [--steps 2000] [--seeds 0 1 2] [--threads 1]
        [--arms NAME ...] [--out /tmp/conditioning] [--score-every 2000] [--samples 500]
    python -m benchmarks.conditioning --out /tmp/conditioning --table

CKPT is a checkpoint of ``configs/classifier_mnist5k.yaml``. Each arm is trained and scored by
``digits_quality`` (FID and IS against the held-out digits, class accuracy, intra-class FID, CAS; each
beside its floor) under ``OUT/ARM``, for ``--steps`` generator updates with both learning rates decayed
linearly to zero over them (``LinearToZero``: a whole schedule at the budget, not a longer run cut
short), nothing else changed but the arm's pieces; a run already there is loaded, not trained again. ``--table`` prints
the arms' mean (min-max) over the seeds found, and the same at each ``--score-every`` update.
"""

import argparse
import json
import statistics
from pathlib import Path

from benchmarks import digits_quality

GENERATOR = {"class_path": "lit_gan.networks.DCGANGenerator",  # conditional_mnist.yaml's networks, conditional or not
             "init_args": {"base_channels": 32, "upsampling": "nearest", "extra_layers": 2}}
CRITIC = {"class_path": "lit_gan.networks.DCGANCritic",
          "init_args": {"base_channels": 32, "norm": "none", "spectral_norm": True, "extra_layers": 2}}
CBN = GENERATOR  # on a conditional model its BatchNorms are conditional
CONCAT = {"class_path": "lit_gan.networks.LabelConcat", "init_args": {"generator": GENERATOR}}  # a one-hot beside z
PROJECTION = {"class_path": "lit_gan.networks.Projection", "init_args": {"spectral_norm": True, "critic": CRITIC}}
# arm -> (what it is, its networks and options; the rest is configs/conditional_mnist.yaml's)
ARMS = {
    "cbn_projection": ("conditional BatchNorm + projection", [f"model.init_args.generator={json.dumps(CBN)}",
                                                              f"model.init_args.critic={json.dumps(PROJECTION)}"]),
    "concat_projection": ("concatenation (one-hot beside z, plain BatchNorm) + projection", [
        f"model.init_args.generator={json.dumps(CONCAT)}", f"model.init_args.critic={json.dumps(PROJECTION)}"]),
    "cbn_ac": ("conditional BatchNorm + AC (the critic unconditional, a class head on its features, weight 1)", [
        f"model.init_args.generator={json.dumps(CBN)}", f"model.init_args.critic={json.dumps(CRITIC)}",
        "model.init_args.ac_weight=1.0"]),
}
COLUMNS = (("FID (x floor)", "fid", "fid", ".2f"), ("class accuracy", "class_accuracy", None, ".1%"),
           ("worst class", "worst_class_accuracy", None, ".1%"), ("intra-class FID (x floor)", "intra_fid", "intra_fid", ".2f"),
           ("CAS", "cas", None, ".1%"))


def table(out: Path) -> str:
    """The arms' rows at their last update and at each scored update (markdown), from OUT/ARM/results.json."""
    head = "| arm | update | seeds | " + " | ".join(c[0] for c in COLUMNS) + " | training wall / CPU min |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for arm, (what, _) in ARMS.items():
        if not (out / arm / "results.json").is_file():
            continue
        results = json.loads((out / arm / "results.json").read_text())
        floor, rows = results["floor"], results["rows"]
        alongs = [json.loads(p.read_text()) if (p := out / arm / f"seed_{r['seed']}" / "along.json").is_file() else []
                  for r in rows]
        steps = sorted({a["step"] for along in alongs for a in along} | {r["steps"] for r in rows})
        for step in steps:  # a seed's final row at its last update (its training times), else its row along the way
            pairs = [(r, r if r["steps"] == step else next((a for a in along if a["step"] == step), None))
                     for r, along in zip(rows, alongs)]
            pairs = [(r, a) for r, a in pairs if a is not None]
            at = [a for _, a in pairs]
            cells = [digits_quality.spread_of([a[key] / (floor[base] if base else 1) for a in at], fmt) for _, key, base, fmt in COLUMNS]
            times = f"{statistics.mean(a['wall_s'] for a in at) / 60:.1f} / {statistics.mean(a['cpu_s'] for a in at) / 60:.1f}"
            seeds = ", ".join(str(r["seed"]) for r, _ in pairs)
            lines.append(f"| {what if step == steps[0] else ''} | {step:,} | {seeds} | " + " | ".join(cells) + f" | {times} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--classifier", help="checkpoint of configs/classifier_mnist5k.yaml")
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--steps", type=int, default=2000, help="generator updates of every arm")
    parser.add_argument("--seeds", nargs="+", default=["0", "1", "2"])
    parser.add_argument("--out", type=Path, default=Path("/tmp/conditioning"))
    parser.add_argument("--score-every", type=int, help="also score every this many generator updates")
    parser.add_argument("--threads", default="1")
    parser.add_argument("--table", action="store_true", help="print the table of the runs in --out, train nothing")
    parser.add_argument("--samples", default="500", help="generated samples scored (digits_quality's --samples)")
    parser.add_argument("--cas-samples", default="4000", help="generated samples CAS trains on (digits_quality's)")
    parser.add_argument("--data-path", help="another CSV for MNIST5k (tests)")
    parser.add_argument("--set", dest="overrides", nargs="*", default=[], metavar="KEY=VALUE", help="more overrides, for every arm")
    args = parser.parse_args()
    if args.table:
        print(table(args.out))
        return
    if args.classifier is None:
        parser.error("--classifier is required to train (or --table to print the runs' table)")
    for arm in args.arms:
        print(f"arm {arm}: {ARMS[arm][0]}", flush=True)
        argv = ["--classifier", args.classifier, "--config", "configs/conditional_mnist.yaml", "--seeds", *args.seeds,
                "--threads", args.threads, "--out", str(args.out / arm), "--samples", args.samples, "--cas-samples", args.cas_samples]
        if args.data_path:
            argv += ["--data-path", args.data_path]
        if args.score_every:
            argv += ["--score-every", str(args.score_every)]
        budget = [f"trainer.max_steps={args.steps}", *(f"model.init_args.{n}_scheduler=lit_gan.objectives.LinearToZero" for n in "gd")]
        digits_quality.main(argv + ["--set", *budget, *ARMS[arm][1], *args.overrides])
    print(table(args.out))


if __name__ == "__main__":
    main()
