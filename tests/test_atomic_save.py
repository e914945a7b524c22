"""A crash, a kill or a full disk during a checkpoint save never leaves a truncated file where a good one was.

Lightning writes through an fsspec transaction: a temporary file in $TMPDIR, moved into place at the end,
which is atomic only where $TMPDIR and the checkpoint are on one filesystem (otherwise the move is a copy
over the old file). lit-gan's AtomicCheckpointIO, which the CLI installs, writes the temporary file in the
checkpoint's own folder and renames it: atomic on every filesystem (tested on a tmpfs of its own).
"""

import errno
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch
from fsspec.implementations.local import LocalFileOpener
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins import AsyncCheckpointIO, DoublePrecision, TorchCheckpointIO

from lit_gan import WGANGP
from lit_gan.checkpoint_io import TEMP_PREFIX, AtomicCheckpointIO, use_atomic_checkpoints
from lit_gan.cli import run_cli
from lit_gan.data import RingOfGaussians
from tests.conftest import REPO, cpu_trainer, tiny_networks
from tests.test_ddp import ENV


def test_a_crash_while_writing_keeps_the_good_checkpoint(tmp_path, monkeypatch):
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", filename="model", every_n_train_steps=1, save_top_k=1)
    trainer = cpu_trainer(tmp_path, max_steps=1, callbacks=[ckpt], enable_checkpointing=True)
    trainer.fit(WGANGP(n_critic=1, **tiny_networks()), RingOfGaussians(batch_size=8, n_train=64))
    path = tmp_path / "ckpt" / "model.ckpt"
    good = path.read_bytes()

    real_write = LocalFileOpener.write

    def crash_halfway(self, data):
        real_write(self, bytes(data)[: len(data) // 2])  # half of it reaches the disk, then the process "dies"
        raise OSError("disk gone")

    monkeypatch.setattr(LocalFileOpener, "write", crash_halfway)
    with pytest.raises(OSError, match="disk gone"):
        trainer.save_checkpoint(path)
    monkeypatch.undo()
    assert path.read_bytes() == good  # the good checkpoint is untouched
    assert torch.load(path, weights_only=True)["global_step"] == 1


# ------------------------------------------------ lit-gan's AtomicCheckpointIO, on another filesystem than $TMPDIR
SIZED = ["--config", str(REPO / "configs" / "quickstart.yaml"), "--trainer.enable_progress_bar", "false",
         "--data.init_args.n_train", "1280", "--data.init_args.n_val", "256",
         "--model.init_args.generator.init_args.hidden_dims", "[128,128]",  # a checkpoint of 441 kB
         "--model.init_args.critic.init_args.hidden_dims", "[128,128]"]


def last_only(dirpath) -> list[str]:
    return ["--trainer.callbacks+=ModelCheckpoint", f"--trainer.callbacks.dirpath={dirpath}",
            "--trainer.callbacks.save_last=true", "--trainer.callbacks.save_top_k=0",
            "--trainer.callbacks.every_n_train_steps=1"]


@pytest.fixture
def other_filesystem(tmp_path):
    """A tmpfs of ``size`` mounted in tmp_path: a checkpoint folder on another filesystem than $TMPDIR,
    where a rename from $TMPDIR is a copy (skipped where this process may not mount one)."""
    mounted = []

    def mount(size: str) -> Path:
        folder = tmp_path / f"tmpfs-{len(mounted)}"
        folder.mkdir()
        try:
            done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                                  capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError) as err:
            pytest.skip(f"needs a folder on another filesystem than $TMPDIR, and `mount -t tmpfs` failed: {err}")
        if done.returncode != 0:
            pytest.skip("needs a folder on another filesystem than $TMPDIR, and `mount -t tmpfs` failed (needs root or"
                        f" CAP_SYS_ADMIN): {done.stderr.strip()}")
        mounted.append(folder)
        assert os.stat(folder).st_dev != os.stat(tempfile.gettempdir()).st_dev
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=30)


def test_the_cli_saves_through_atomic_checkpoint_io_and_keeps_a_users_plugin(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["fit", *SIZED, "--trainer.max_steps", "1", "--trainer.limit_val_batches", "0", *last_only(tmp_path / "ckpt")]
    cli = run_cli(args)
    assert type(cli.trainer.strategy.checkpoint_io) is AtomicCheckpointIO
    assert torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)["global_step"] == 1
    assert not list((tmp_path / "ckpt").glob(f"{TEMP_PREFIX}*"))  # no temporary file left beside it
    # a CheckpointIO of the user's is kept; AsyncCheckpointIO without a base gets the atomic one as its base
    own = Trainer(accelerator="cpu", logger=False, plugins=[OwnIO()])
    use_atomic_checkpoints(own)
    assert type(own.strategy.checkpoint_io) is OwnIO
    wrapped = Trainer(accelerator="cpu", logger=False, plugins=[AsyncCheckpointIO()])
    use_atomic_checkpoints(wrapped)
    assert type(wrapped.strategy.checkpoint_io.checkpoint_io) is AtomicCheckpointIO
    # other plugins (precision, environment) leave the default to replace; DDP: every rank has it, rank 0 saves
    ddp = Trainer(accelerator="cpu", devices=2, strategy="ddp", logger=False, plugins=[DoublePrecision()])
    use_atomic_checkpoints(ddp)
    assert type(ddp.strategy.checkpoint_io) is AtomicCheckpointIO


class OwnIO(TorchCheckpointIO):
    pass


def test_a_save_failing_half_way_leaves_the_previous_checkpoint_and_no_temporary_file(tmp_path, monkeypatch):
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", filename="model", every_n_train_steps=1, save_top_k=1)
    trainer = cpu_trainer(tmp_path, max_steps=1, callbacks=[ckpt], enable_checkpointing=True, plugins=[AtomicCheckpointIO()])
    trainer.fit(WGANGP(n_critic=1, **tiny_networks()), RingOfGaussians(batch_size=8, n_train=64))
    path = tmp_path / "ckpt" / "model.ckpt"
    good = path.read_bytes()
    real_write = os.write

    def crash_halfway(fd, data):
        real_write(fd, bytes(data)[: len(data) // 2])  # half of it reaches the disk, then the disk "goes"
        raise OSError(errno.EIO, "disk gone")

    monkeypatch.setattr(os, "write", crash_halfway)
    with pytest.raises(OSError, match="disk gone"):
        trainer.save_checkpoint(path)
    monkeypatch.undo()
    assert path.read_bytes() == good  # the good checkpoint is untouched
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.ckpt"]  # the temporary file is removed


def test_a_full_disk_is_one_line_and_the_previous_checkpoint_stays(other_filesystem, tmp_path, monkeypatch, capsys):
    # 600 kB hold one checkpoint of 441 kB, not two: the save at step 2 fails
    dirpath = other_filesystem("600k")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        run_cli(["fit", *SIZED, "--trainer.max_steps", "3", "--trainer.limit_val_batches", "0", *last_only(dirpath),
                 "--trainer.callbacks.save_on_exception=true"])  # which tries again, in vain: the first failure is said
    assert info.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    assert f"cannot save checkpoint {dirpath / 'last.ckpt'}: no space left on device" in err[0]
    assert re.search(r"the checkpoint needs 44\d\.\d kB, 1\d\d\.\d kB free in ", err[0]), err[0]
    assert "; the previous last.ckpt is intact" in err[0]
    assert torch.load(dirpath / "last.ckpt", weights_only=True)["global_step"] == 1  # whole, from step 1
    assert sorted(p.name for p in dirpath.iterdir()) == ["last.ckpt"]


CHILD = """
import os, signal, sys
from lit_gan.cli import run_cli

dirpath = sys.argv[1]
cli = run_cli(["fit", *sys.argv[2:]])  # saves last.ckpt at step 1
real_write, real_sendfile = os.write, os.sendfile

def to_checkpoint_folder(fd):
    return os.readlink(f"/proc/self/fd/{fd}").startswith(dirpath)

def write(fd, data):  # lit-gan's save: half of the bytes, then the process is killed
    if to_checkpoint_folder(fd):
        real_write(fd, bytes(data)[: len(data) // 2])
        os.kill(os.getpid(), signal.SIGKILL)
    return real_write(fd, data)

def sendfile(out_fd, in_fd, offset, count):  # a copy across filesystems (shutil.move): likewise
    if to_checkpoint_folder(out_fd):
        real_sendfile(out_fd, in_fd, offset, os.fstat(in_fd).st_size // 2)
        os.kill(os.getpid(), signal.SIGKILL)
    return real_sendfile(out_fd, in_fd, offset, count)

os.write, os.sendfile = write, sendfile
cli.trainer.save_checkpoint(os.path.join(dirpath, "last.ckpt"))
"""


@pytest.mark.slow
def test_a_kill_half_way_through_a_save_on_another_filesystem_keeps_last_ckpt(other_filesystem, tmp_path):
    dirpath = other_filesystem("4m")
    args = [*SIZED, "--trainer.max_steps", "1", "--trainer.limit_val_batches", "0", *last_only(dirpath)]
    child = subprocess.run([sys.executable, "-c", CHILD, str(dirpath), *args], cwd=tmp_path, env=ENV,
                           capture_output=True, text=True, timeout=300)
    assert child.returncode == -signal.SIGKILL, child.stderr[-3000:]
    assert torch.load(dirpath / "last.ckpt", weights_only=True)["global_step"] == 1  # whole: the old one
    # what the killed save leaves is its temporary file, which `--ckpt_path last` never takes for a checkpoint
    assert [p.name.startswith(TEMP_PREFIX) for p in dirpath.iterdir() if p.name != "last.ckpt"] in ([], [True])
