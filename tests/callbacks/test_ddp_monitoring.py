"""The monitoring callbacks under real 2-process DDP on the CPU (gloo): images drawn on rank 0 only,
diagnostics logged without collectives, and both ranks still end with identical weights."""

import os
import subprocess
import sys

import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import REPO


@pytest.mark.slow
def test_landscape_and_diagnostics_under_two_process_ddp(tmp_path):
    config = {
        "seed_everything": 0,
        "trainer": {
            "accelerator": "cpu", "devices": 2, "strategy": "ddp", "max_steps": 4, "log_every_n_steps": 2,
            "enable_checkpointing": False, "enable_progress_bar": False,
            "num_sanity_val_steps": 0, "limit_val_batches": 0,
            "callbacks": [
                {"class_path": "lit_gan.callbacks.CriticLandscape",
                 "init_args": {"every_n_steps": 2, "n_points": 32, "resolution": 10, "size_px": 200}},
                {"class_path": "lit_gan.callbacks.GradientDiagnostics"},
                {"class_path": "tests.helpers.DumpRankState", "init_args": {"dirpath": str(tmp_path / "out")}},
            ],
        },
        "model": {"class_path": "lit_gan.WGAN", "init_args": {
            "latent_dim": 2, "n_critic": 2,
            "generator": {"class_path": "lit_gan.networks.MLPGenerator", "init_args": {"hidden_dims": [16]}},
            "critic": {"class_path": "lit_gan.networks.MLPCritic", "init_args": {"hidden_dims": [16]}},
        }},
        "data": {"class_path": "lit_gan.data.RingOfGaussians", "init_args": {"batch_size": 16, "n_train": 512}},
    }
    (tmp_path / "ddp.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "lit_gan.cli", "fit", "--config", "ddp.yaml"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    logs = list((tmp_path / "lightning_logs").glob("version_*"))
    assert len(logs) == 1  # one run directory, written by rank 0
    events = EventAccumulator(str(logs[0]), size_guidance={"images": 0, "scalars": 0}).Reload()
    assert [e.step for e in events.Images("critic_landscape")] == [2, 4]
    assert [e.step for e in events.Scalars("diagnostics/critic_input_grad_norm/interpolated")] == [2, 4]
    ranks = [torch.load(tmp_path / "out" / f"rank{r}.pt") for r in (0, 1)]
    assert all(torch.equal(ranks[0]["state"][k], ranks[1]["state"][k]) for k in ranks[0]["state"])
