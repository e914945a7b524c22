"""One fit at a time in a folder (lit_gan.callbacks.RunLock): a second fit into a checkpoint folder that a
running fit writes into is refused in one line naming the folder and that run, which goes on unharmed; a
lock whose process is gone (SIGKILL) is taken over."""

import os
import signal
import subprocess
import sys
import time

import torch

from lit_gan.callbacks.run_lock import LOCK_NAME
from lit_gan.cli import run_cli
from tests.conftest import REPO
from tests.test_ddp import ENV

CKPT = ["--trainer.callbacks+=ModelCheckpoint", "--trainer.callbacks.dirpath=ckpt", "--trainer.callbacks.save_last=true",
        "--trainer.callbacks.save_on_exception=true"]
SMALL = ["--config", str(REPO / "configs" / "quickstart.yaml"), "--trainer.enable_progress_bar", "false",
         "--data.init_args.n_train", "12800", "--data.init_args.n_val", "256", "--trainer.limit_val_batches", "0"]


def wait_for(condition, proc, log, seconds=120):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert condition(), log.read_text()[-2000:]


def test_a_second_fit_into_the_same_checkpoint_folder_is_refused_and_the_first_goes_on(tmp_path):
    log = tmp_path / "first.txt"
    first = subprocess.Popen([sys.executable, "-m", "lit_gan.cli", "fit", *SMALL, *CKPT, "--trainer.max_steps", "100000",
                              "--trainer.callbacks+=tests.helpers.TouchAt", f"--trainer.callbacks.path={tmp_path / 'started'}",
                              "--trainer.callbacks.at_batch=3"], cwd=tmp_path, env=ENV, stdout=open(log, "w"),
                             stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: (tmp_path / "started").exists(), first, log)
        assert (tmp_path / "ckpt" / LOCK_NAME).is_file()
        second = subprocess.run([sys.executable, "-m", "lit_gan.cli", "fit", *SMALL, *CKPT, "--trainer.max_steps", "3",
                                 "--seed_everything", "1"], cwd=tmp_path, env=ENV, capture_output=True, text=True,
                                timeout=300)
        assert first.poll() is None  # still running: the refusal was about it
        first.send_signal(signal.SIGTERM)  # stop it as a cluster would (saves last.ckpt, exits 143)
        first.wait(timeout=120)
    finally:
        first.kill()
    assert second.returncode == 2, second.stderr[-2000:]
    line = second.stderr.strip().splitlines()[-1]
    assert (f"ModelCheckpoint's `dirpath` {tmp_path / 'ckpt'} is in use by another run (pid {first.pid} on" in line
            and "wait for that run to end, or give this run its own folder" in line), line
    assert first.returncode == 143, log.read_text()[-2000:]
    saved = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)
    assert saved["global_step"] >= 3 and saved["global_step"] != 3  # the first run's, not the second's 3 steps
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir() if p.name.startswith("last")) == ["last.ckpt"]
    assert not (tmp_path / "ckpt" / LOCK_NAME).exists()  # released when the first run ended


def test_a_lock_left_by_a_killed_run_is_taken_over(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    killed = subprocess.run([sys.executable, "-c", "import os, signal, pathlib\n"
                             "from lit_gan.callbacks.run_lock import FolderLock\n"
                             "assert FolderLock(pathlib.Path('ckpt')).acquire() is None\n"
                             "os.kill(os.getpid(), signal.SIGKILL)"], cwd=tmp_path, env=ENV)
    assert killed.returncode == -signal.SIGKILL
    assert (tmp_path / "ckpt" / LOCK_NAME).is_file()  # the file stays; its flock went with the process
    cli = run_cli(["fit", *SMALL, *CKPT, "--trainer.max_steps", "2"])
    assert cli.trainer.global_step == 2
    assert torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)["global_step"] == 2
    assert not (tmp_path / "ckpt" / LOCK_NAME).exists()


def test_a_lock_held_in_this_process_refuses_too_and_a_finished_fit_leaves_no_lock(tmp_path, monkeypatch, capsys):
    import pytest

    from lit_gan.callbacks.run_lock import FolderLock

    monkeypatch.chdir(tmp_path)
    held = FolderLock(tmp_path / "ckpt")
    assert held.acquire() is None
    with pytest.raises(SystemExit) as info:
        run_cli(["fit", *SMALL, *CKPT, "--trainer.max_steps", "2"])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert info.value.code == 2 and len(err) == 1 and f"is in use by another run (pid {os.getpid()} on" in err[0], err
    assert not list((tmp_path / "ckpt").glob("*.ckpt"))  # the refused run saved nothing there
    held.release()
    run_cli(["fit", *SMALL, *CKPT, "--trainer.max_steps", "2"])  # the folder is free again
    assert not list(tmp_path.rglob(LOCK_NAME))


def test_a_lock_file_planted_as_a_link_is_not_followed(tmp_path):
    from lit_gan.callbacks.run_lock import FolderInUse, FolderLock

    (tmp_path / "ckpt").mkdir()
    victim = tmp_path / "notes.txt"
    victim.write_text("mine")
    (tmp_path / "ckpt" / LOCK_NAME).symlink_to(victim)  # in a shared folder, by another user
    import pytest

    with pytest.raises(FolderInUse, match=r"cannot lock .*ckpt: .*\.lit-gan\.lock is not a file this run can use"):
        FolderLock(tmp_path / "ckpt").acquire()
    assert victim.read_text() == "mine"
