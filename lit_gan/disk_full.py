"""A disk that fills while a fit writes its logs: one line that says which folder, after saving the
training state where there is room.

TensorBoard's event writer hits ``OSError: [Errno 28]`` in ``gfile.py``, which Lightning's logger re-raises
as "you tried to log 51.0 which is currently not supported"; an image, ``hparams.yaml`` or the final flush
raise the OSError itself. A full checkpoint folder is ``lit_gan.checkpoint_io``'s (CheckpointSaveError).
"""

import errno
import os
import shutil
import threading
import traceback
from typing import Optional

from lightning.pytorch import Trainer

from lit_gan.checks import size_text
from lit_gan.errors import one_line

FULL = (errno.ENOSPC, errno.EDQUOT)  # no space left on device; disk quota exceeded


def disk_full(err: BaseException) -> Optional[OSError]:
    """The OSError of a full disk or quota in ``err`` or the exceptions it was raised from, if any."""
    seen: set[int] = set()
    current: Optional[BaseException] = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in FULL:
            return current
        current = current.__cause__ or current.__context__
    return None


def _free(folder: str) -> str:
    try:
        return size_text(shutil.disk_usage(folder).free)
    except OSError:
        return "?"


def save_training_state(trainer: Trainer) -> str:
    """Save a checkpoint of the fit that stopped into its ModelCheckpoint's folder, if it has one, it runs
    in one process (under DDP the other processes are gone, and a save waits for them) and it trained;
    what was done, as the end of a sentence."""
    callback = trainer.checkpoint_callback
    step = trainer.global_step
    if step == 0 or callback is None or callback.dirpath is None:
        return "nothing was trained yet, so no checkpoint was saved"
    if trainer.world_size > 1:
        return (f"the latest checkpoint in {callback.dirpath} is the last one saved (under DDP a save needs every process,"
                " and only this one stopped)")
    path = os.path.join(str(callback.dirpath), f"disk-full-step={step}.ckpt")
    try:
        trainer.save_checkpoint(path, weights_only=False)
    except Exception as err:  # noqa: BLE001 - reported: the fit has failed already
        return f"the training state could not be saved into {callback.dirpath} either ({one_line(err)})"
    return f"the training state at step {step} is saved as {path}: free space, then resume with `--ckpt_path {path}`"


def disk_full_message(trainer: Trainer, err: OSError) -> str:
    """Which folder filled (the file's, else the log dirs'), with its free space, and what was saved."""
    folders = [os.path.dirname(str(err.filename))] if err.filename else []
    folders += [str(logger.log_dir) for logger in trainer.loggers if getattr(logger, "log_dir", None)]
    where = ", ".join(f"{folder} ({_free(folder)} free)" for folder in dict.fromkeys(folders)) or "the log dir"
    return f"{os.strerror(err.errno).lower()} while writing the logs into {where}; {save_training_state(trainer)}"


def quiet_event_writer_threads() -> None:
    """TensorBoard's writer thread prints its full-disk traceback as it dies; the main thread gets the same
    error at its next write, which ``disk_full_message`` reports in one line. Other threads' errors print."""
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        frames = traceback.extract_tb(args.exc_traceback) if args.exc_traceback else []
        if disk_full(args.exc_value) is None or not any("tensorboard" in frame.filename for frame in frames):
            previous(args)

    if getattr(previous, "__qualname__", "") != hook.__qualname__:  # once
        threading.excepthook = hook
