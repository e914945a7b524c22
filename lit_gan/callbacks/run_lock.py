"""One run at a time in a folder: a fit locks its log dir and its checkpoint folders.

Two ``lit-gan fit`` started together with the same ModelCheckpoint ``dirpath`` both wrote ``last.ckpt``
and ``epoch=...-step=...ckpt`` there, each over the other's, and both exited 0 (run one after the other,
the second writes ``last-v1.ckpt``: Lightning versions names only against files already there).

The lock is ``fcntl.flock`` on a file ``.lit-gan.lock`` in the folder, which names its holder (pid, host,
start time, command) for the refusal. The kernel releases a ``flock`` when its process ends, however it
ends (SIGKILL, a crash, a node lost with its NFS client): a lock file left behind holds no lock, and the
next run takes it over. A file system that has no ``flock`` (some NFS mounts) is warned about, not refused.
"""

import errno
import os
import socket
import stat
import sys
import time
from pathlib import Path
from typing import Any, Optional

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_warn

from lit_gan.errors import ConfigError

try:
    import fcntl
except ImportError:  # Windows: no flock; runs are not locked there
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".lit-gan.lock"


class FolderInUse(ConfigError):
    """Another process holds the lock of a folder this run would write into."""


class FolderLock:
    """``flock`` on ``folder/.lit-gan.lock``, created with the folder if missing; ``release`` removes the file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / LOCK_NAME
        self._fd: Optional[int] = None

    def acquire(self) -> Optional[str]:
        """Take the lock; return None, or the holder's description (from its file) if another process has it."""
        if fcntl is None:
            return None
        self.folder.mkdir(parents=True, exist_ok=True)
        while True:
            try:  # not through a link: in a shared folder another user could point one at a file of yours
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
            except OSError as err:
                raise FolderInUse(f"cannot lock {self.folder}: {self.path} is not a file this run can use"
                                  f" ({os.strerror(err.errno)}): remove it") from err
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                raise FolderInUse(f"cannot lock {self.folder}: {self.path} is not a regular file: remove it")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                os.close(fd)
                if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    return _holder(self.path)
                rank_zero_warn(f"cannot lock {self.folder} ({os.strerror(err.errno)}): two runs writing there at"
                               " once would overwrite each other's files")
                return None
            # The holder may have released and removed the file between our open and our flock: then we
            # locked a file no other run can see; lock the one at the path now.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, _description().encode())
        self._fd = fd
        return None

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.unlink(self.path)  # while still locked: a run waiting on this file sees it gone, and retries
        except FileNotFoundError:
            pass
        os.close(self._fd)  # releases the flock
        self._fd = None


def _description() -> str:
    command = " ".join(Path(sys.argv[0]).name if i == 0 else arg for i, arg in enumerate(sys.argv))
    command = command if len(command) <= 300 else command[:297] + "..."
    return f"pid {os.getpid()} on {socket.gethostname()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}: {command}"


def _holder(path: Path) -> str:
    try:
        return path.read_text().strip() or "a process that is starting"
    except OSError:
        return "another process"


class RunLock(Callback):
    """Refuses a ``fit`` whose log dir or ModelCheckpoint ``dirpath`` another running fit is writing into,
    in one line that names the folder and that run; holds the locks until the fit ends. Added to every
    ``lit-gan`` run by ``lit_gan.cli.run_cli``. The log dir is locked at setup, before the config is written
    there, and every ModelCheckpoint's ``dirpath`` at the start of fit, before the first save (and after
    a checkpoint of ``--ckpt_path`` is read)."""

    def __init__(self) -> None:
        self._locks: dict[Path, FolderLock] = {}

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if stage == "fit":
            self._lock(trainer, {"the log dir": trainer.log_dir})

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # After ModelCheckpoint.setup, which resolves a dirpath of None and warns about a folder that is not
        # empty (the lock file would be such a file); before the first save.
        self._lock(trainer, {"ModelCheckpoint's `dirpath`": c.dirpath for c in trainer.callbacks
                             if isinstance(c, ModelCheckpoint) and c.dirpath is not None})

    def _lock(self, trainer: Trainer, folders: dict[str, Any]) -> None:
        refusal = None
        if trainer.is_global_zero:  # the other ranks write into the same folders through rank 0
            for what, folder in folders.items():
                path = Path(folder).resolve() if folder is not None and "://" not in str(folder) else None
                if path is None or path in self._locks:
                    continue
                lock = FolderLock(path)
                holder = lock.acquire()
                if holder is not None:
                    refusal = (f"{what} {folder} is in use by another run ({holder}), which writes its checkpoints"
                               " and logs there: two runs in one folder overwrite each other's files; wait for that"
                               " run to end, or give this run its own folder (`--trainer.default_root_dir`, or the"
                               " ModelCheckpoint's `dirpath`)")
                    break
                self._locks[path] = lock
        refusal = trainer.strategy.broadcast(refusal)
        if refusal is not None:
            self.release()
            raise FolderInUse(refusal)

    def release(self) -> None:
        for lock in self._locks.values():
            lock.release()
        self._locks.clear()

    # Not released in on_exception: ModelCheckpoint(save_on_exception=True) saves after it (checkpoint callbacks
    # run last). After an error the locks are released by lit-gan's CLI once fit has returned, or by the
    # kernel when the process ends.
    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if stage == "fit":
            self.release()
