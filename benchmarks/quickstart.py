"""The quickstart as a newcomer runs it, over seeds and torch thread counts (issue 14, item 1).

    python -m benchmarks.quickstart [--seeds 0 1 2] [--threads 1 2] [--out quickstart.jsonl] [-- EXTRA ARGS]

Each run is the README's command, ``lit-gan fit --config configs/quickstart.yaml``, in a fresh
folder, with ``--seed_everything`` set and ``OMP_NUM_THREADS`` (torch's intra-op threads) set to
the thread count; anything after ``--`` is added to every command line. The final
``val/modes`` and ``val/hq_fraction`` are read from the summary that ``fit`` prints at its end
(``FitSummary``), and the wall and CPU time of the whole command (start-up included) are measured.
Runs go one after the other; each finished run is appended to ``--out`` as a JSON line, then the
table is printed.
"""

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SUMMARY = re.compile(r"val/modes (\d+) \| val/hq_fraction ([0-9.]+) +\(MixtureCoverage, step (\d+)\)")


def run(seed: int, threads: int, extra: list[str]) -> dict:
    """One ``lit-gan fit --config configs/quickstart.yaml`` in a temporary folder; its final scores and times."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "lit_gan.cli", "fit", "--config", str(REPO / "configs" / "quickstart.yaml"),
               "--seed_everything", str(seed), *extra]
    with tempfile.TemporaryDirectory() as folder:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"seed {seed}, {threads} threads: lit-gan exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    found = SUMMARY.findall(proc.stdout)
    if not found:
        raise SystemExit(f"seed {seed}, {threads} threads: no MixtureCoverage line in the summary:\n{proc.stdout[-3000:]}")
    modes, hq_fraction, step = found[-1]
    return {"seed": seed, "threads": threads, "step": int(step), "modes": int(modes), "hq_fraction": float(hq_fraction),
            "seconds": seconds, "cpu_seconds": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)}


def table(results: list[dict]) -> str:
    lines = ["| seed | torch threads | step | modes (of 8) | high quality | wall s | CPU s |", "|---|---|---|---|---|---|---|"]
    for r in sorted(results, key=lambda r: (r["threads"], r["seed"])):
        lines.append(f"| {r['seed']} | {r['threads']} | {r['step']} | {r['modes']} | {100 * r['hq_fraction']:.1f}% |"
                     f" {r['seconds']:.0f} | {r['cpu_seconds']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", default=None, help="append every run to this file as a JSON line")
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    results = []
    for threads in args.threads:
        for seed in args.seeds:
            result = run(seed, threads, extra)
            results.append(result)
            print(json.dumps(result), flush=True)
            if args.out:
                with open(args.out, "a") as f:
                    f.write(json.dumps(result) + "\n")
    print(table(results))


if __name__ == "__main__":
    main()
