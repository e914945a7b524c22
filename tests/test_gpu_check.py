"""benchmarks/gpu_check.py (issue 39, item 8) runs in its tiny CPU mode: every measurement it makes on a GPU
(both loops in float32, bf16-mixed, channels_last and compiled; syncs; Inception) runs, and its JSON holds a
positive number for each. No speed is asserted: the script is a benchmark."""

import json
import re

from tests.test_benchmarks import bench


def test_gpu_check_tiny_on_the_cpu_writes_its_json_and_table(tmp_path):
    out = tmp_path / "gpu_check.json"
    printed = bench("gpu_check", "--device", "cpu", "--tiny", "--variants", "float32", "bf16-mixed+channels_last+compile",
                    "--out", str(out))
    result = json.loads(out.read_text())
    assert result.keys() >= {"device", "torch", "settings", "memory", "runs", "syncs", "inception", "skipped", "errors",
                             "total_seconds"}
    assert result["tiny"] and result["errors"] == [] and result["skipped"] == []
    assert result["settings"]["compile_backend"] == "eager"  # inductor on the CPU takes minutes: --tiny uses Dynamo alone
    runs = {(r["config"], r["variant"]) for r in result["runs"]}
    assert runs == {(c, v) for c in ("wgan_gp_dcgan32", "hinge_sn_resnet32") for v in ("float32", "bf16-mixed+channels_last+compile")}
    for run in result["runs"]:
        for loop in ("lit-gan", "plain"):
            assert run[loop]["updates_per_s"] > 0 and run[loop]["peak_memory_mib"] > 0, run
    for name, syncs in result["syncs"].items():
        assert syncs["updates"] > 0 and syncs["per_update"] >= 0 and syncs["method"] == "benchmarks/syncs.py (CPU)", name
    assert result["inception"]["images_per_s"] > 0 and result["inception"]["weights"].startswith(("real", "random"))
    rows = re.findall(r"^\| (wgan_gp_dcgan32|hinge_sn_resnet32) \| (\S+) \| ([0-9.]+) \| ([0-9.]+) \| ([0-9.]+) \|", printed, re.M)
    assert len(rows) == 4, printed
    assert re.search(r"^Inception v3: [0-9.]+ images/s", printed, re.M) and f"written: {out}" in printed
