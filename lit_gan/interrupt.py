"""Ctrl+C during training stops like a preemption: at the end of the current batch, through
Lightning's SIGTERM path, so that ``ModelCheckpoint(save_on_exception=True)`` saves the state
between two updates and ``--ckpt_path last`` resumes from it.

Lightning's own handling of KeyboardInterrupt raises it wherever the process happens to be (inside
a backward pass, a data loader or a checkpoint save), and its shutdown saves nothing. Here the
first SIGINT during ``fit`` is turned into a SIGTERM to this process; a second one, or one outside
``fit``, interrupts at once as usual.

A run stopped so is not a finished one: ``lit-gan`` then exits with ``stop_status`` (143 after
SIGTERM, 130 after Ctrl+C, what a shell reports for a process these signals ended), so that a batch
script can tell it from a finished run (0) and resume it (docs/cluster.md).
"""

import os
import signal
import threading
from types import FrameType
from typing import Any, Optional

from lightning.pytorch.trainer.states import TrainerFn, TrainerStatus

SIGTERM_STATUS = 128 + signal.SIGTERM  # 143
SIGINT_STATUS = 128 + signal.SIGINT  # 130


class InterruptAsPreemption:
    """Installed for the duration of ``fit`` (``install`` / ``uninstall``, on the main thread only)."""

    def __init__(self, module: Any) -> None:
        self.module = module  # a LightningModule: its trainer, while attached
        self.previous: Optional[Any] = None
        self.fired = False

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        current = signal.getsignal(signal.SIGINT)
        if current is signal.SIG_IGN:  # e.g. a background job of a script: Ctrl+C is not meant for it
            return
        if current is not self:
            self.previous = current
            signal.signal(signal.SIGINT, self)
        self.fired = False

    def uninstall(self) -> None:
        if self.previous is not None and threading.current_thread() is threading.main_thread():
            if signal.getsignal(signal.SIGINT) is self:
                signal.signal(signal.SIGINT, self.previous)
            self.previous = None

    def __call__(self, signum: int, frame: Optional[FrameType]) -> None:
        trainer = self.module._trainer
        fitting = trainer is not None and trainer.state.status == TrainerStatus.RUNNING and trainer.state.fn == TrainerFn.FITTING
        if fitting and not self.fired:
            self.fired = True
            print("Interrupted: stopping after this batch (Ctrl+C again to stop at once)", flush=True)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        self.uninstall()
        raise KeyboardInterrupt


def stop_status(module: Any) -> int:
    """The exit status of a run that a signal stopped: 130 if it was Ctrl+C (turned into SIGTERM by
    ``module``'s InterruptAsPreemption), else 143."""
    interrupt = getattr(module, "_interrupt", None)
    return SIGINT_STATUS if isinstance(interrupt, InterruptAsPreemption) and interrupt.fired else SIGTERM_STATUS
