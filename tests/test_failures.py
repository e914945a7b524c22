"""A rank that fails makes the whole job exit non-zero within a minute instead of hanging."""

import subprocess
import sys
import time

import pytest

from tests.test_ddp import ENV, FAMILIES, write_config


@pytest.mark.slow
@pytest.mark.parametrize("failing_rank", [0, 1])
def test_a_failing_rank_ends_the_job(tmp_path, failing_rank):
    fail = {"class_path": "tests.helpers.FailOnRank", "init_args": {"rank": failing_rank, "at_batch": 3}}
    config = write_config(tmp_path, dict(FAMILIES["wgan_gp"], init_args={}), max_steps=50, extra_callbacks=[fail])
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "lit_gan.cli", "fit", "--config", str(config)], cwd=tmp_path, env=ENV,
                          capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - start
    assert proc.returncode != 0
    assert f"rank {failing_rank} fails on purpose" in proc.stderr
    assert elapsed < 60, f"took {elapsed:.0f} s"
