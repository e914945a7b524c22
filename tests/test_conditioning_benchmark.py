"""benchmarks/conditioning.py at tiny settings: a 100-digit CSV, a classifier of one update, 2 generator
updates per arm. Checks that each arm trains the network it names and that the table reads the runs
(the values mean nothing here; the rows at each --score-every update are digits_quality's along.json,
tested in tests/test_digits_quality.py)."""

import json
import re

import torch

from benchmarks.conditioning import ARMS, table
from lit_gan import load
from lit_gan.cli import run_cli
from lit_gan.networks import LabelConcat, Projection
from lit_gan.networks.conditional import ConditionalBatchNorm2d
from tests.conftest import REPO
from tests.data.test_mnist5k import write_csv
from tests.test_benchmarks import bench


def test_conditioning_trains_every_arm_and_tables_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    csv = write_csv(tmp_path / "digits.csv.gz", n_per_class=60)  # 120 held out: 12 of each class
    run_cli(["fit", "--config", str(REPO / "configs" / "classifier_mnist5k.yaml"), "--data.init_args.path", str(csv),
             "--data.init_args.batch_size", "16", "--trainer.max_steps", "1", "--trainer.accelerator", "cpu",
             "--trainer.default_root_dir", str(tmp_path / "classifier"), "--trainer.enable_progress_bar", "false"])
    classifier = next((tmp_path / "classifier").rglob("last.ckpt"))
    out = bench("conditioning", "--classifier", str(classifier), "--data-path", str(csv), "--samples", "60", "--cas-samples", "60",
                "--seeds", "0", "--steps", "2", "--out", str(tmp_path / "arms"),
                "--set", "data.init_args.batch_size=8")
    for arm in ARMS:
        assert f"arm {arm}: " in out and (tmp_path / "arms" / arm / "results.json").is_file(), out
    # each arm's networks are the ones it names
    nets = {arm: load(tmp_path / "arms" / arm / "seed_0" / "final.ckpt") for arm in ARMS}
    has = lambda model, kind: any(isinstance(m, kind) for m in model.modules())  # noqa: E731
    assert has(nets["cbn_projection"].generator, ConditionalBatchNorm2d) and has(nets["cbn_projection"].critic, Projection)
    assert has(nets["concat_projection"].generator, LabelConcat) and not has(nets["concat_projection"].generator, ConditionalBatchNorm2d)
    assert has(nets["cbn_ac"].generator, ConditionalBatchNorm2d) and not has(nets["cbn_ac"].critic, Projection)
    assert nets["cbn_ac"].ac_weight == 1.0 and nets["cbn_projection"].ac_weight == 0.0
    for model in nets.values():  # every arm's learning rates decay to zero over its budget
        assert all("LinearToZero" in str(model.hparams[f"{n}_scheduler"]) for n in "gd"), model.hparams
    # the table: a row per arm (at its last update, 2), each figure the mean of the seed's value
    table = bench("conditioning", "--out", str(tmp_path / "arms"), "--table")
    rows = [line for line in table.splitlines() if re.match(r"\| .* \| 2 \| 0 \|", line)]
    assert len(rows) == len(ARMS), table
    results = json.loads((tmp_path / "arms" / "cbn_ac" / "results.json").read_text())
    row, floor = results["rows"][0], results["floor"]
    last = rows[-1]  # cbn_ac, the last arm
    assert f"{row['fid'] / floor['fid']:.2f} ({row['fid'] / floor['fid']:.2f}-" in last, (last, row, floor)
    assert f"{row['cas']:.1%}" in last and torch.isfinite(torch.tensor(row["intra_fid"]))
    # a scored update along the way (digits_quality's along.json, as --score-every writes it) gets its own row
    along = {**{k: row[k] for k in ("fid", "class_accuracy", "worst_class_accuracy", "intra_fid", "cas", "wall_s", "cpu_s")},
             "step": 1, "fid": 3 * floor["fid"]}
    (tmp_path / "arms" / "cbn_ac" / "seed_0" / "along.json").write_text(json.dumps([along]))
    table = bench("conditioning", "--out", str(tmp_path / "arms"), "--table")
    assert re.search(r"^\| conditional BatchNorm \+ AC .* \| 1 \| 0 \| 3\.00 \(3\.00-3\.00\) \|", table, re.M), table
    assert re.search(r"^\|  \| 2 \| 0 \| " + re.escape(f"{row['fid'] / floor['fid']:.2f}"), table, re.M), table


def test_the_table_names_the_seeds_each_row_averages(tmp_path):
    # seeds 0, 1, 2 trained for 4 updates; only seeds 1 and 2 were scored at update 2 along the way
    floor = {"fid": 10.0, "intra_fid": 20.0}
    values = lambda fid: {"fid": fid, "class_accuracy": 0.9, "worst_class_accuracy": 0.8, "intra_fid": 40.0,  # noqa: E731
                          "cas": 0.5, "wall_s": 60.0, "cpu_s": 120.0}
    rows = [{"seed": seed, "steps": 4, **values(10.0 * (seed + 1))} for seed in (0, 1, 2)]
    arm = tmp_path / "cbn_ac"
    for seed in (0, 1, 2):
        (arm / f"seed_{seed}").mkdir(parents=True)
        if seed:
            (arm / f"seed_{seed}" / "along.json").write_text(json.dumps([{"step": 2, **values(30.0 + 10 * seed)}]))
    (arm / "results.json").write_text(json.dumps({"floor": floor, "rows": rows}))
    lines = [line for line in table(tmp_path).splitlines() if re.match(r"\| .* \| [24] \|", line)]
    assert len(lines) == 2, lines
    assert "| 2 | 1, 2 | 4.50 (4.00-5.00) |" in lines[0], lines  # seeds 1 and 2: FID 40 and 50 against 10
    assert "| 4 | 0, 1, 2 | 2.00 (1.00-3.00) | 90.0% (90.0%-90.0%) |" in lines[1] and lines[1].endswith("| 1.0 / 2.0 |"), lines
