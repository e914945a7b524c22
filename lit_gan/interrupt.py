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

With several processes (DDP), every rank stops at the same batch boundary. Lightning 2.6's own
handling deadlocks there: each rank checks its own SIGTERM flag at the end of a batch, so a rank
signalled first stops and waits in the checkpoint's barrier while a rank signalled a moment later
(or not at all) waits in the next batch's collective; and its SIGTERM handler runs a
``dist.broadcast`` from inside the signal handler, out of step with the other ranks' collectives.
Here, for ``world_size > 1`` only: the handler just notes the signal (and forwards it to the other
local ranks, as Lightning's launcher does); once per training batch (``sync_sigterm``, from
``AdversarialModule.on_train_batch_end``) the ranks all-reduce (MAX) that 0/1 note, a CPU tensor
over gloo (a group of its own where the ranks' backend is NCCL), so that it never waits for a GPU's
queue; if any rank has it, every rank sets Lightning's flag, so that Lightning's end-of-batch check
raises ``SIGTERMException`` on every rank after the same batch and ``ModelCheckpoint(save_on_exception)``
saves with all ranks in its barrier. One process keeps Lightning's handler and costs nothing.
"""

import logging
import os
import signal
import threading
from types import FrameType
from typing import Any, Optional

import torch
import torch.distributed as dist
from lightning.pytorch.trainer.states import TrainerFn, TrainerStatus
from lightning.pytorch.utilities.rank_zero import rank_prefixed_message

from lit_gan.compat import mark_sigterm, set_sigterm_notifier

SIGTERM_STATUS = 128 + signal.SIGTERM  # 143
SIGINT_STATUS = 128 + signal.SIGINT  # 130

log = logging.getLogger(__name__)


class InterruptAsPreemption:
    """Installed for the duration of ``fit`` (``install`` / ``uninstall``, on the main thread only)."""

    def __init__(self, module: Any) -> None:
        self.module = module  # a LightningModule: its trainer, while attached
        self.previous: Optional[Any] = None
        self.fired = False
        self.sigterm_pending = False  # this rank received SIGTERM, not yet agreed on by all ranks
        self.distributed = False  # world_size > 1: SIGTERM is agreed on once per batch (sync_sigterm)
        self.group: Optional[Any] = None  # a CPU (gloo) group for the flag where the ranks talk NCCL

    def install(self) -> None:
        """Called at ``on_fit_start``, before Lightning registers its signal handlers (in ``Trainer._run``)."""
        self._install_sigterm_sync()
        if threading.current_thread() is not threading.main_thread():
            return
        current = signal.getsignal(signal.SIGINT)
        if current is signal.SIG_IGN:  # e.g. a background job of a script: Ctrl+C is not meant for it
            return
        if current is not self:
            self.previous = current
            signal.signal(signal.SIGINT, self)
        self.fired = False

    def _install_sigterm_sync(self) -> None:
        trainer = self.module._trainer
        self.sigterm_pending = False
        self.distributed = bool(
            trainer is not None and trainer.world_size > 1 and dist.is_available() and dist.is_initialized()
        )
        if trainer is not None:  # Lightning's own for one process, e.g. after a DDP fit of this trainer
            set_sigterm_notifier(trainer, self._note_sigterm if self.distributed else None)
        if self.distributed and self.group is None and dist.get_backend() != "gloo":
            self.group = dist.new_group(backend="gloo")  # every rank, at fit start: the flag never waits on a GPU

    def _note_sigterm(self, signum: Any, frame: Optional[FrameType]) -> None:
        """Lightning's ``_sigterm_notifier_fn`` without its in-handler broadcast: no collective here."""
        trainer = self.module._trainer
        if trainer is None:
            return
        log.info(rank_prefixed_message(f"Received SIGTERM: {signum}", trainer.local_rank))
        if not self.sigterm_pending and not trainer.received_sigterm:
            launcher = trainer.strategy.launcher
            if launcher is not None:
                launcher.kill(signum)  # rank 0 launched the other local ranks: they stop too
        self.sigterm_pending = True

    def sync_sigterm(self) -> None:
        """Once per training batch, on every rank: if any rank received SIGTERM, all stop after this batch.

        A SIGTERM that arrives after this call waits for the next batch's, on every rank alike."""
        if not self.distributed:
            return
        trainer = self.module._trainer
        flag = torch.tensor([1 if self.sigterm_pending else 0], dtype=torch.int32)  # on the CPU: no device sync
        dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=self.group)
        if flag.item():
            mark_sigterm(trainer)  # Lightning's on_advance_end raises SIGTERMException

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


def stop_status(trainer: Any) -> int:
    """The exit status of a run that a signal stopped: 130 if it was Ctrl+C (turned into SIGTERM by the
    InterruptAsPreemption of one of ``trainer``'s callbacks), else 143."""
    fired = any(isinstance(getattr(c, "interrupt", None), InterruptAsPreemption) and c.interrupt.fired
                for c in getattr(trainer, "callbacks", []))
    return SIGINT_STATUS if fired else SIGTERM_STATUS
