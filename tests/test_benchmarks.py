"""Each benchmark of benchmarks/ runs, at tiny settings, and prints what BENCHMARKS.md reports.

No timing is asserted: these check that the commands in BENCHMARKS.md work and that their
outputs are consistent (agreement of the implementations, sane counts), not how fast anything is.
"""

import json
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.test_ddp import ENV


def bench(name: str, *args: str, timeout: int = 300) -> str:
    proc = subprocess.run([sys.executable, "-m", f"benchmarks.{name}", *args], cwd=REPO, env=ENV,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_frechet_implementations_agree():
    out = bench("frechet", "--dim", "64", "--samples", "256", "--repeats", "1", "--threads", "1")
    differences = [float(x) for x in re.findall(r"\| ([0-9.]+e[-+][0-9]+) \|$", out, re.M)]
    assert len(differences) == 3 and max(differences) < 1e-8, out


def test_data_loading_measures_both_paths():
    out = bench("data_loading", "--batches", "3", "--repeats", "1")
    ratios = re.findall(r"^(MNIST|CIFAR-10) .* ratio +([0-9.]+)x$", out, re.M)
    assert [name for name, _ in ratios] == ["MNIST", "CIFAR-10"] and all(float(r) > 0 for _, r in ratios), out


def test_overhead_runs_both_loops():
    out = bench("overhead", "--steps", "2", "--repeats", "1", "--channels", "8")
    assert re.search(r"^ratio lit-gan / plain: [0-9.]+ \(wall\), [0-9.]+ \(CPU\)$", out, re.M), out


@pytest.mark.slow
def test_lipschitz_trains_the_five_critics_and_plots_their_gradient_norms(tmp_path):
    out = bench("lipschitz", "--steps", "2", "--log-every", "1", "--workers", "2", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path))
    names = re.findall(r"^(\S+): per-layer median grad norm \(input -> output\): \[(.*)\]$", out, re.M)
    assert [n for n, _ in names] == ["wgan_clip0.1", "wgan_clip0.01", "wgan_clip0.001", "wgan_gp_deep", "wgan_sn_deep"], out
    assert all(len(layers.split(",")) == 9 for _, layers in names), out  # 8 hidden layers and the output layer
    assert (tmp_path / "gradient_norms.png").stat().st_size > 10_000


@pytest.mark.slow
def test_memory_of_a_training_run_exceeds_that_of_the_imports():
    out = bench("memory", "--steps", "1", "--repeats", "1", "--val-batches", "1")
    training, imports = map(int, re.search(r"training run (\d+) MiB; imports only (\d+) MiB", out).groups())
    assert training > imports > 100, out  # the data (52 MiB of uint8 images) and the networks come on top


@pytest.mark.slow
def test_metrics_share_of_both_configs():
    out = bench("metrics_share", "--quickstart-steps", "20", "--quickstart-every", "10", "--mnist-steps", "3",
                "--mnist-start", "1", "--eval-samples", "10", timeout=600)
    evaluations = re.search(r"quickstart, 20 generator updates: .* (\d+) evaluations of MixtureCoverage", out)
    assert evaluations and evaluations.group(1) == "2", out  # every 10 updates
    shares = dict(re.findall(r"MNIST DCGAN .*, (\w+) features: .*: ([0-9.]+)% of each epoch at every_n_epochs=1", out))
    assert shares.keys() == {"inception", "classifier"}, out
    assert all(0 < float(share) < 100 for share in shares.values()), out


def test_quality_trains_the_toy_configs_and_reports_modes_and_high_quality_fraction(tmp_path):
    small = ["trainer.max_steps=2", "model.init_args.generator.init_args.hidden_dims=[16]",
             "model.init_args.critic.init_args.hidden_dims=[16]"]
    args = ["--seeds", "0", "--configs", "wgan_gp", "fgan_kl", "--grid", "--out", str(tmp_path / "q.jsonl"), "--set", *small]
    out = bench("quality", *args)
    runs = [json.loads(line) for line in (tmp_path / "q.jsonl").read_text().splitlines()]
    assert sorted((r["config"], r["toy"]) for r in runs) == [
        ("fgan_kl", "grid"), ("fgan_kl", "ring"), ("wgan_gp", "grid"), ("wgan_gp", "ring")]
    for r in runs:
        assert r["steps"] == 2 and r["overrides"] == small
        assert 0 <= r["modes"] <= (8 if r["toy"] == "ring" else 25) and 0 <= r["hq_fraction"] <= 1
    assert re.search(r"^\| `wgan_gp` trainer.max_steps=2 .*\| [0-9]+ \| [0-9]+ \|$", out, re.M), out
    again = bench("quality", *args)  # every run is in --out: nothing runs again
    assert len((tmp_path / "q.jsonl").read_text().splitlines()) == 4 and "| `fgan_kl` trainer.max_steps=2" in again


def test_quickstart_benchmark_reads_the_summary_of_the_shipped_command():
    out = bench("quickstart", "--seeds", "0", "--threads", "1", "--", "--trainer.max_steps", "2",
                "--model.init_args.n_critic", "1", "--data.init_args.n_train", "2560",
                "--trainer.callbacks", '[{"class_path": "lit_gan.callbacks.MixtureCoverage", "init_args": {"every_n_steps": 2}}]',
                timeout=600)
    rows = re.findall(r"^\| 0 \| 1 \| 2 \| (\d) \| ([0-9.]+)% \| \d+ \| \d+ \|$", out, re.M)
    assert len(rows) == 1 and 0 <= int(rows[0][0]) <= 8, out
