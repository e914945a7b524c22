"""benchmarks/dots.py: the periodic shares on patterns with known answers, and a tiny run."""

import json
import re

import torch

from benchmarks.dots import periodic_shares
from tests.data.test_mnist5k import write_csv
from tests.test_benchmarks import bench


def test_periodic_shares_of_known_patterns():
    i = torch.arange(28)
    checkerboard = ((i[:, None] + i[None, :]) % 2).float()  # period 2 on both sides
    stripes4 = (i % 4 < 2).float()[None, :].expand(28, 28)  # period 4 along one side (and its harmonics at 4/3)
    smooth = torch.exp(-((i[:, None] - 13.5) ** 2 + (i[None, :] - 13.5) ** 2) / 40)
    assert abs(periodic_shares(checkerboard[None, None])["p2"] - 1) < 1e-12
    shares = periodic_shares(stripes4[None, None])
    assert shares["p2"] < 1e-12 and shares["p4"] > 0.99, shares  # all at frequencies 7 and 21
    assert sum(periodic_shares(smooth[None, None]).values()) < 1e-6


def test_dots_tiny_run(tmp_path):
    csv = write_csv(tmp_path / "digits.csv.gz", n_per_class=20)  # 40 held out
    out = bench("dots", "--config", "configs/wgan_gp.yaml", "--seeds", "0", "--steps", "2", "--every", "1",
                "--samples", "8", "--data-path", str(csv), "--out", str(tmp_path / "runs"),
                "--set", "data.init_args.batch_size=8", "model.init_args.n_critic=1")
    assert re.search(r"^real digits: period 2 [0-9.]+%, period 4 [0-9.]+%$", out, re.M), out
    assert len(re.findall(r"^  seed 0 step [12]: samples p2 [0-9.]+% p4 [0-9.]+%, seen p2 [0-9.]+% p4 [0-9.]+%, push p2 [0-9.]+% p4", out, re.M)) == 2, out
    results = json.loads((tmp_path / "runs" / "dots.json").read_text())
    rows = results["seeds"]["0"]
    assert [r["step"] for r in rows] == [1, 2] and all(0 <= r["push"]["p2"] <= 1 for r in rows), rows


def test_dots_at_initialization_only(tmp_path):
    csv = write_csv(tmp_path / "digits.csv.gz", n_per_class=20)
    out = bench("dots", "--config", "configs/wgan_gp.yaml", "--seeds", "0", "1", "--steps", "0", "--samples", "8",
                "--data-path", str(csv), "--out", str(tmp_path / "runs"))
    rows = re.findall(r"^  seed (\d) step 0: samples p2 ([0-9.]+)%", out, re.M)
    assert [seed for seed, _ in rows] == ["0", "1"] and rows[0][1] != rows[1][1], out  # each seed its own networks
