"""A disk that fills while fit writes its TensorBoard events: one line naming the log dir and its free space,
after the training state is saved where there is room (was `OSError: [Errno 28]` from gfile.py, or Lightning's
"you tried to log 51.0 which is currently not supported", and the run lost)."""

import re
import subprocess
import sys

import torch

from lit_gan.cli import run_cli
from tests.conftest import REPO
from tests.test_ddp import ENV


def test_a_full_log_disk_is_one_line_and_the_training_state_is_saved(mount_tmpfs, tmp_path, monkeypatch):
    small_disk = mount_tmpfs("size=64k")
    monkeypatch.chdir(tmp_path)
    args = ["fit", "--config", str(REPO / "configs" / "quickstart.yaml"), "--trainer.enable_progress_bar", "false",
            "--data.init_args.n_train", "2560", "--data.init_args.n_val", "256", "--trainer.limit_val_batches", "0",
            "--trainer.log_every_n_steps", "1", "--trainer.callbacks", "[]",
            "--trainer.callbacks+=ModelCheckpoint", "--trainer.callbacks.dirpath", str(tmp_path / "ckpt")]
    # as a user runs it: TensorBoard's writer thread, which dies of the full disk first, prints no traceback
    run = subprocess.run([sys.executable, "-m", "lit_gan.cli", *args, "--trainer.max_steps", "2000",
                          "--trainer.default_root_dir", str(small_disk)], cwd=tmp_path, env=ENV, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr[-3000:]
    err = [run.stderr.strip().splitlines()[-1]]
    assert re.search(r"no space left on device while writing the logs into .*disk0/lightning_logs/"
                                       r"version_0 \((?:\d+ bytes|[\d.]+ kB) free\); the training state at step (\d+) is saved as"
                                       r" .*ckpt/disk-full-step=\1.ckpt: free space, then resume", err[0]), err
    step = int(re.search(r"at step (\d+)", err[0]).group(1))
    assert 0 < step < 2000
    saved = torch.load(tmp_path / "ckpt" / f"disk-full-step={step}.ckpt", weights_only=True)
    assert saved["global_step"] == step and saved["optimizer_states"]
    # what the line says works: with the logs elsewhere, the run resumes from it
    resumed = run_cli([*args, "--trainer.max_steps", str(step + 2), "--trainer.default_root_dir", "elsewhere",
                       "--ckpt_path", str(tmp_path / "ckpt" / f"disk-full-step={step}.ckpt")])
    assert resumed.trainer.global_step == step + 2
