"""Preemption: SIGTERM or SIGINT (Ctrl+C) during training saves a checkpoint and exits; `--ckpt_path last` resumes.

SIGINT is turned into a SIGTERM by lit_gan.interrupt, so that both stop between two batches.
The child starts with SIGINT at its default: a background job of a non-interactive shell
inherits it ignored, and then lit-gan leaves it ignored.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException

from lit_gan.objectives.fit_guard import FitGuard
from lit_gan import WGANGP
from lit_gan.cli import run_cli
from lit_gan.data import RingOfGaussians
from tests.conftest import REPO, cpu_trainer, tiny_networks
from tests.test_ddp import ENV

CKPT = ["--trainer.callbacks+=ModelCheckpoint", "--trainer.callbacks.dirpath=ckpt", "--trainer.callbacks.save_last=true",
        "--trainer.callbacks.save_on_exception=true"]
SMALL = ["--config", str(REPO / "configs" / "quickstart.yaml"), "--trainer.enable_progress_bar", "false",
         "--data.init_args.n_train", "12800", "--data.init_args.n_val", "256"]  # 10 iterations an epoch


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_saves_a_checkpoint_and_last_resumes(tmp_path, sig):
    started = tmp_path / "started"
    touch = ["--trainer.callbacks+=tests.helpers.TouchAt", f"--trainer.callbacks.path={started}",
             "--trainer.callbacks.at_batch=5"]
    log = open(tmp_path / "log.txt", "w")
    proc = subprocess.Popen([sys.executable, "-m", "lit_gan.cli", "fit", *SMALL, *CKPT, *touch,
                             "--trainer.max_steps", "100000"], cwd=tmp_path, env=ENV, stdout=log, stderr=subprocess.STDOUT,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not started.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    if not started.exists():
        proc.kill()
        pytest.fail("training did not start: " + (tmp_path / "log.txt").read_text()[-2000:])
    proc.send_signal(sig)
    try:
        proc.wait(timeout=60)
    finally:
        proc.kill()
    out = (tmp_path / "log.txt").read_text()
    assert proc.returncode == {signal.SIGTERM: 143, signal.SIGINT: 130}[sig], out[-2000:]  # not 0: stopped, not finished
    last = tmp_path / "ckpt" / "last.ckpt"
    assert last.exists(), out[-2000:]
    saved = torch.load(last, weights_only=True)
    step = saved["global_step"]
    assert step >= 1 and "critic_steps" not in saved  # stopped between two generator iterations: no phase
    resumed = subprocess.run([sys.executable, "-m", "lit_gan.cli", "fit", *SMALL, *CKPT, "--ckpt_path", "last",
                              "--trainer.max_steps", str(step + 2)], cwd=tmp_path, env=ENV, capture_output=True, text=True,
                             timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"Restoring states from the checkpoint path at {last}" in resumed.stderr + resumed.stdout
    assert torch.load(last, weights_only=True)["global_step"] == step + 2


class InterruptAt(Callback):
    """Sends this process SIGINT as a training batch begins, as Ctrl+C would."""

    def __init__(self, at_batch: int) -> None:
        self.at_batch, self.finished = at_batch, []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == self.at_batch:
            os.kill(os.getpid(), signal.SIGINT)  # delivered at once, between two bytecodes of this hook

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.finished.append(batch_idx)


def test_ctrl_c_stops_after_the_current_batch_as_sigterm_does(tmp_path):
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        interrupt = InterruptAt(at_batch=3)
        ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True, save_on_exception=True)
        model = WGANGP(n_critic=2, **tiny_networks())
        trainer = cpu_trainer(tmp_path, max_steps=100, callbacks=[interrupt, ckpt], enable_checkpointing=True)
        with pytest.raises(SIGTERMException):  # not a KeyboardInterrupt in the middle of the backward pass
            trainer.fit(model, RingOfGaussians(batch_size=8, n_train=256))
        assert interrupt.finished == [0, 1, 2, 3]  # the interrupted batch ran to its end, and no other began
        assert model.critic_steps == 8  # 4 whole generator iterations of 2 critic updates
        saved = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)
        assert saved["global_step"] == 4
        guard = next(c for c in trainer.callbacks if isinstance(c, FitGuard))  # the run's plumbing, out of the module
        assert signal.getsignal(signal.SIGINT) is guard.interrupt  # until the next Ctrl+C, which is a plain one:
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)


TINY = ["--model.init_args.generator.init_args.hidden_dims", "[16]", "--model.init_args.critic.init_args.hidden_dims", "[16]",
        "--data.init_args.batch_size", "32"]


@pytest.mark.parametrize("sig, times, status", [("SIGTERM", 1, 143), ("SIGINT", 1, 130), ("SIGINT", 2, 130)],
                         ids=["SIGTERM", "SIGINT", "SIGINT-twice"])
def test_a_run_stopped_by_a_signal_exits_with_its_own_status_after_saving(tmp_path, monkeypatch, sig, times, status):
    # 143 and 130, as a shell reports a process these signals ended: a batch script tells a stopped run from a
    # finished one (0) and resumes it (docs/cluster.md); Ctrl+C twice (stop at once) is 130 too, not Lightning's 1
    monkeypatch.chdir(tmp_path)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(SystemExit) as info:
            run_cli(["fit", *SMALL, *CKPT, *TINY, "--trainer.max_steps", "100", "--trainer.limit_val_batches", "0",
                     "--trainer.callbacks+=tests.helpers.SignalAt", f"--trainer.callbacks.signal={sig}",
                     "--trainer.callbacks.at_batch=1", f"--trainer.callbacks.times={times}"])
    finally:
        signal.signal(signal.SIGINT, previous)
    assert info.value.code == status
    # saved before exiting: after the iteration the signal came in (a batch is one), or at once on a second Ctrl+C
    assert torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)["global_step"] == (2 if times == 1 else 1)


@pytest.mark.slow
def test_slurm_requeue_on_sigusr1_still_saves_and_requeues_and_the_sigterm_after_it_exits_143(tmp_path):
    # Lightning's SLURMEnvironment (auto_requeue): SIGUSR1 saves hpc_ckpt_1.ckpt and runs `scontrol requeue`;
    # SLURM then ends the job with SIGTERM, which saves last.ckpt and exits 143 (the job is requeued anyway)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "scontrol").write_text(f'#!/bin/sh\necho "$@" > {tmp_path / "scontrol.txt"}\n')
    (bin_dir / "scontrol").chmod(0o755)
    env = {**ENV, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURM_JOB_ID": "1234", "SLURM_JOB_NAME": "wgan-gp",
           "SLURM_NTASKS": "1", "SLURM_NTASKS_PER_NODE": "1", "SLURM_PROCID": "0", "SLURM_LOCALID": "0",
           "SLURM_NODEID": "0", "SLURM_NODELIST": "localhost"}
    started = tmp_path / "started"
    log = open(tmp_path / "log.txt", "w")
    proc = subprocess.Popen([sys.executable, "-m", "lit_gan.cli", "fit", *SMALL, *CKPT, *TINY, "--trainer.max_steps", "100000",
                             "--trainer.limit_val_batches", "0", "--trainer.callbacks+=tests.helpers.TouchAt",
                             f"--trainer.callbacks.path={started}", "--trainer.callbacks.at_batch=7"],
                            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not started.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert started.exists(), (tmp_path / "log.txt").read_text()[-2000:]
        proc.send_signal(signal.SIGUSR1)
        while not (tmp_path / "scontrol.txt").exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert (tmp_path / "scontrol.txt").read_text().split() == ["requeue", "1234"]
        assert proc.poll() is None  # SIGUSR1 does not stop the run: SLURM's SIGTERM does
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    out = (tmp_path / "log.txt").read_text()
    assert proc.returncode == 143, out[-2000:]
    assert torch.load(tmp_path / "hpc_ckpt_1.ckpt", weights_only=True)["global_step"] >= 1
    assert torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)["global_step"] >= 1


class RecordStop(Callback):
    """Each rank writes its pid as training starts, and the step it stopped at when an exception stops it."""

    def __init__(self, dirpath: str) -> None:
        self.dirpath = Path(dirpath)

    def on_train_start(self, trainer, pl_module):
        (self.dirpath / f"pid{trainer.global_rank}").write_text(str(os.getpid()))

    def on_exception(self, trainer, pl_module, exception):
        stop = f"{type(exception).__name__} {trainer.global_step} {pl_module.critic_steps}"
        (self.dirpath / f"stop{trainer.global_rank}").write_text(stop)


def _ended(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")  # a zombie has ended
    except FileNotFoundError:
        return True


@pytest.mark.slow
@pytest.mark.parametrize("to", ["launcher", "other-rank", "all-ranks"])
def test_under_ddp_sigterm_saves_and_the_job_exits_143(tmp_path, to):
    # A SIGTERM to rank 0 (the launcher, which forwards it), to rank 1 only, or to both: the ranks agree on it once
    # per batch (lit_gan.interrupt), so all stop after the same batch and meet in the checkpoint's barrier, and rank 0
    # saves. The other rank exits 0: a non-zero one would make Lightning's launcher SIGKILL rank 0 (exit -9, not 143)
    started = tmp_path / "started"
    log = open(tmp_path / "log.txt", "w")
    # 32 batches (generator iterations of 5 x 32 points) per rank and epoch: no epoch-end save before the stop
    proc = subprocess.Popen([sys.executable, "-m", "lit_gan.cli", "fit", *SMALL, "--data.init_args.n_train", "10240", *CKPT,
                             *TINY, "--trainer.max_steps", "100000",
                             "--trainer.limit_val_batches", "0", "--trainer.devices", "2", "--trainer.strategy", "ddp",
                             "--trainer.callbacks+=tests.helpers.TouchAt", f"--trainer.callbacks.path={started}",
                             "--trainer.callbacks.at_batch=7", "--trainer.callbacks+=tests.test_preemption.RecordStop",
                             f"--trainer.callbacks.dirpath={tmp_path}"], cwd=tmp_path, env=ENV, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while not started.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert started.exists(), (tmp_path / "log.txt").read_text()[-2000:]
        pids = [int((tmp_path / f"pid{rank}").read_text()) for rank in (0, 1)]
        assert pids[0] == proc.pid
        for pid in {"launcher": pids[:1], "other-rank": pids[1:], "all-ranks": pids}[to]:
            os.kill(pid, signal.SIGTERM)
        proc.wait(timeout=90)  # a deadlock (ranks in different collectives) ends here
        while not _ended(pids[1]) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _ended(pids[1])
    finally:
        proc.kill()
    out = (tmp_path / "log.txt").read_text()
    assert proc.returncode == 143, out[-2000:]
    assert "Forcefully terminating" not in out and "Traceback" not in out, out[-2000:]
    stops = [(tmp_path / f"stop{rank}").read_text() for rank in (0, 1)]
    assert stops[0] == stops[1] and stops[0].startswith("SIGTERMException "), stops  # the same batch on both ranks
    _, step, critic_steps = stops[0].split()
    saved = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)
    assert saved["global_step"] == int(step) >= 1 and int(critic_steps) == 5 * int(step)  # whole iterations (n_critic 5)
