"""benchmarks/digits_quality.py at tiny settings: a 100-digit CSV, a classifier of one update,
2 generator updates per seed. Checks that the command works and prints what BENCHMARKS.md
reports (the values mean nothing here), and that a second call loads the runs it finds."""

import json
import math
import re

from lit_gan.cli import run_cli
from tests.conftest import REPO
from tests.data.test_mnist5k import write_csv
from tests.test_benchmarks import bench


def test_digits_quality_trains_scores_and_reloads(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    csv = write_csv(tmp_path / "digits.csv.gz", n_per_class=20)  # 40 held out: halves of 20
    run_cli(["fit", "--config", str(REPO / "configs" / "classifier_mnist5k.yaml"), "--data.init_args.path", str(csv),
             "--data.init_args.batch_size", "16", "--trainer.max_steps", "1", "--trainer.accelerator", "cpu",
             "--trainer.default_root_dir", str(tmp_path / "classifier"), "--trainer.enable_progress_bar", "false"])
    classifier = next((tmp_path / "classifier").rglob("last.ckpt"))
    args = ["--classifier", str(classifier), "--data-path", str(csv), "--samples", "20", "--seeds", "0", "1",
            "--out", str(tmp_path / "runs"), "--score-every", "1", "--grid", str(tmp_path / "grid.png"), "--grid-step", "1",
            "--threads", "1", "--set", "trainer.max_steps=2", "data.init_args.batch_size=8"]
    out = bench("digits_quality", *args)
    assert re.search(r"^floor: held-out vs held-out, 20 vs 20: FID [0-9.]+", out, re.M), out
    for seed in (0, 1):
        assert re.search(rf"^seed {seed}: 2 generator updates, FID [0-9.]+ .* IS [0-9.]+, \d+ classes", out, re.M), out
        assert len(re.findall(rf"^  seed {seed} step [12]: FID", out, re.M)) == 2, out
    assert re.search(r"^over seeds \[0, 1\]: FID ", out, re.M) and (tmp_path / "grid.png").stat().st_size > 0
    along = json.loads((tmp_path / "runs" / "seed_0" / "along.json").read_text())
    assert [r["step"] for r in along] == [1, 2] and all(math.isfinite(r["train/jsd"]) for r in along), along
    results = json.loads((tmp_path / "runs" / "results.json").read_text())
    assert [r["seed"] for r in results["rows"]] == [0, 1] and results["floor"]["fid"] >= 0, results
    figure = bench("estimates_vs_fid", str(tmp_path / "runs"), "--png", str(tmp_path / "estimates.png"))
    for seed in (0, 1):  # two scored updates per seed: a rank correlation of +1 or -1
        assert re.search(rf"^runs seed {seed}: Spearman\(train/jsd, FID\) [+-]1\.00 over 2 updates \(1-2\)", figure, re.M), figure
    assert re.search(r"^runs all seeds: Spearman [+-][0-9.]+ over 4 points", figure, re.M), figure
    assert (tmp_path / "estimates.png").stat().st_size > 0
    again = bench("digits_quality", *args)  # both final.ckpt are there: loaded, not trained again
    assert again.count("(loaded)") == 2 and "seed 0 was loaded, not trained: no grid drawn" in again, again
    assert json.loads((tmp_path / "runs" / "seed_0" / "along.json").read_text()) == along  # kept, not emptied
    # --grid-step 1 of a 2-update run drew the grid of a 1-update run (the state at update 1)
    short = args[:args.index("--seeds")] + ["--seeds", "0", "--threads", "1", "--grid", str(tmp_path / "short.png"),
                                            "--out", str(tmp_path / "short"), "--set", "trainer.max_steps=1",
                                            "data.init_args.batch_size=8"]
    bench("digits_quality", *short)
    assert (tmp_path / "grid.png").read_bytes() == (tmp_path / "short.png").read_bytes()
