"""Checkpoints saved atomically on every filesystem, and checked when Lightning loads them itself.

Lightning's ``TorchCheckpointIO`` writes through an fsspec transaction: a temporary file in
``$TMPDIR``, moved into place at the end. When ``$TMPDIR`` and the checkpoint folder are on different
filesystems (a node's local /tmp and a shared scratch, say) that move is a copy over the old file,
so a kill or a full disk during the copy leaves a truncated ``last.ckpt`` where a good one was.
``AtomicCheckpointIO`` writes the temporary file in the checkpoint's own folder, flushes and fsyncs
it, then renames it over the old one (``os.replace``, atomic within a filesystem): the path holds
the old checkpoint or the new one, whole. A save that fails removes its temporary file; a full disk
is one ``CheckpointSaveError`` line that says how much space the checkpoint needs.

Loading goes through ``lit_gan.checkpoints.open_checkpoint``: a checkpoint that Lightning finds itself
(``--ckpt_path last``, ``hpc``) and that is truncated, corrupt or holds more than plain data is one
``ConfigError`` line, as an explicit path is, instead of a traceback.

``lit-gan`` installs it in every trainer (``use_atomic_checkpoints``); with the Python API pass
``Trainer(plugins=[AtomicCheckpointIO()])``. Remote paths (``s3://...``) keep Lightning's writes.
"""

import contextlib
import errno
import io
import os
import secrets
import shutil
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem
from lightning.pytorch import Trainer
from lightning.pytorch.plugins.io import TorchCheckpointIO

from lit_gan.checkpoints import open_checkpoint
from lit_gan.compat import replace_base_checkpoint_io, wrapped_checkpoint_io
from lit_gan.checks import size_text

TEMP_PREFIX = ".lit-gan-saving-"  # never matches Lightning's "last*.ckpt" and "hpc_ckpt_*" searches
_CHUNK = 64 << 20  # bytes per os.write
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}


class CheckpointSaveError(OSError):
    """A checkpoint could not be written (a full disk); the file that was at its path is untouched."""


def write_atomically(path: Path, data: bytes | memoryview) -> None:
    """Write ``data`` to ``path`` so that ``path`` holds its old content or all of ``data``, never a part.

    Raises ``CheckpointSaveError`` on a full disk (or quota); any error removes the temporary file."""
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    temp = folder / f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)  # O_BINARY: Windows' text mode off
    fd = os.open(temp, flags, 0o666)  # 0o666 less the umask, as open() gives
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view[:_CHUNK]):]
            os.fsync(fd)  # on the disk before the rename: a crash after it finds the whole file
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(err, OSError) and err.errno in _NO_SPACE:
            free = shutil.disk_usage(folder).free
            before = f"the previous {path.name} is intact" if path.exists() else f"nothing was written at {path.name}"
            full = CheckpointSaveError(
                f"cannot save checkpoint {path}: {os.strerror(err.errno).lower()} (the checkpoint needs"
                f" {size_text(len(data))}, {size_text(free)} free in {folder}); {before}"
            )
            full.errno = err.errno
            raise full from err
        raise
    with contextlib.suppress(OSError):  # the rename itself on the disk (not every filesystem syncs a folder)
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def first_save_error(err: CheckpointSaveError) -> CheckpointSaveError:
    """The first failed save in ``err``'s context: after a full disk, ``ModelCheckpoint(save_on_exception=True)``
    tries another save, which fails as well, in the handling of the first."""
    first, context = err, err.__context__
    while context is not None:
        if isinstance(context, CheckpointSaveError):
            first = context
        context = context.__context__
    return first


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` with atomic local writes (a temporary file in the same folder, fsync,
    ``os.replace``) and loads that report a bad file in one line (``ConfigError``)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Optional[Any] = None) -> None:
        fs, local = url_to_fs(str(path))
        if storage_options is not None or not isinstance(fs, LocalFileSystem):
            super().save_checkpoint(checkpoint, path, storage_options)  # object stores write whole objects
            return
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        write_atomically(Path(local), buffer.getbuffer())

    def load_checkpoint(
        self, path: Any, map_location: Optional[Callable] = lambda storage, loc: storage, weights_only: Optional[bool] = None
    ) -> dict[str, Any]:
        # lit-gan's one door (plain data, whole): weights_only=False is not honoured, a file never runs code
        return open_checkpoint(str(path), map_location=map_location)


def use_atomic_checkpoints(trainer: Trainer) -> None:
    """Make ``trainer`` save and load through ``AtomicCheckpointIO``, where it would use Lightning's default.

    A CheckpointIO plugin given to the trainer (``plugins=[...]``) is kept; an ``AsyncCheckpointIO``
    given without a base gets this one as its base. Under DDP every rank has it; rank 0 saves."""
    strategy = trainer.strategy
    current = strategy.checkpoint_io  # Lightning's TorchCheckpointIO where no plugin gave one
    if type(current) is TorchCheckpointIO:
        strategy.checkpoint_io = AtomicCheckpointIO()
    elif type(wrapped_checkpoint_io(current)) is TorchCheckpointIO:
        replace_base_checkpoint_io(current, AtomicCheckpointIO())  # the base Lightning just gave it
