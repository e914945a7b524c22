"""A progress display that stays readable in a batch job's log.

Lightning's tqdm bar redraws itself with a carriage return at every refresh. On a terminal that is
one line; in a file (stdout redirected, as on a cluster) every refresh is kept: the 2-minute
quickstart wrote 3.1 MB of them. When stdout is not a terminal this callback prints one plain line
every ``line_every_n_steps`` generator updates instead:

    step 500/2000 (25%) | d_loss -0.0123 | g_loss 0.456 | wasserstein 0.0789 | 14.2 updates/s | 0:01:45 left
"""

import datetime
import sys
import time
from typing import Any, Optional

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import TQDMProgressBar

from lit_gan.callbacks.schedule import StepSchedule
from lit_gan.checks import check_not_negative_int, check_positive_ints


def short_number(value: Any) -> str:
    """8.0 -> '8', 0.93361 -> '0.9336': what a summary line shows of a logged value."""
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 1e9 else f"{value:.4g}"


class ProgressBar(TQDMProgressBar):
    """Lightning's tqdm bar on a terminal; plain lines when stdout is a file or a pipe.

    ``lit-gan`` uses it in place of Lightning's default bar. With ``enable_progress_bar: false``
    neither is shown.

    Args:
        line_every_n_steps: without a terminal, print one line every this many generator updates
            (``trainer.global_step``): the step, the progress-bar values (losses, the family's
            estimate, the last validation), updates per second and the time left.
        refresh_rate, process_position, leave: those of Lightning's ``TQDMProgressBar``, on a terminal.
        terminal: force the bar (True) or the lines (False); None: whether stdout is a terminal.
    """

    def __init__(
        self,
        line_every_n_steps: int = 100,
        refresh_rate: int = 1,
        process_position: int = 0,
        leave: bool = False,
        terminal: Optional[bool] = None,
    ) -> None:
        check_positive_ints(line_every_n_steps=line_every_n_steps)
        check_not_negative_int(refresh_rate=refresh_rate, process_position=process_position)  # 0: no bar
        super().__init__(refresh_rate=refresh_rate, process_position=process_position, leave=leave)
        self.line_every_n_steps = int(line_every_n_steps)
        self.terminal = terminal
        self.plain = False  # printing lines instead of the bar
        self._start: Optional[tuple[float, int]] = None  # (time, step) when training started
        self._lines = StepSchedule(line_every_n_steps)

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        terminal = sys.stdout.isatty() if self.terminal is None else self.terminal
        self.plain = not terminal
        if self.plain:
            self.disable()  # no tqdm output at all; the lines below are printed on global rank 0

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self._start = (time.perf_counter(), trainer.global_step)
        self._lines.start(trainer)

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        if self.plain and self._lines.due(trainer):
            if trainer.is_global_zero:
                print(self.line(trainer, pl_module), flush=True)

    def get_metrics(self, trainer: Trainer, pl_module: LightningModule) -> dict[str, Any]:
        """Lightning's values, and the model's ``progress_values`` of training (its losses and estimate, of
        the last iteration: its ``training_values``, else the last logged), read from the device here,
        when the bar redraws or a line is printed, in one transfer: the model logs them for the loggers
        at log steps only, so that nothing is read back at the other batches."""
        metrics = super().get_metrics(trainer, pl_module)
        latest = getattr(pl_module, "training_values", None)  # the last iteration's, logged or not
        if latest is None:
            latest = {k[len("train/"):]: v for k, v in trainer.callback_metrics.items() if k.startswith("train/")}
        keys = [k for k in getattr(pl_module, "progress_values", ()) if k in latest]
        if not keys:
            return metrics
        values = torch.stack([latest[k].detach().float().reshape(()) for k in keys]).tolist()  # one transfer
        return {**dict(zip(keys, values)), **metrics}

    def line(self, trainer: Trainer, pl_module: LightningModule) -> str:
        step, total = trainer.global_step, trainer.max_steps
        parts = [f"step {step}/{total} ({100 * step // total}%)" if total and total > 0 else f"step {step}"]
        parts += [f"{k} {short_number(v)}" for k, v in self.get_metrics(trainer, pl_module).items()
                  if k != "v_num" and isinstance(v, (int, float))]
        if self._start is not None:
            seconds, done = time.perf_counter() - self._start[0], step - self._start[1]
            rate = done / seconds if seconds > 0 else 0.0
            parts.append(f"{rate:.3g} updates/s")
            if rate > 0 and total and total > 0:
                parts.append(f"{datetime.timedelta(seconds=round((total - step) / rate))} left")
        return " | ".join(parts)


def use_progress_bar(trainer: Trainer) -> None:
    """Put a :class:`ProgressBar` in place of Lightning's default tqdm bar; a bar given in the config is kept."""
    for i, callback in enumerate(trainer.callbacks):
        if type(callback) is TQDMProgressBar:  # Lightning's default (enable_progress_bar and no bar given)
            bar = ProgressBar(refresh_rate=callback.refresh_rate, process_position=callback.process_position)
            trainer.callbacks[i] = bar
