"""Learning-rate schedules that follow the run's length, so that a run can be shortened or extended
with ``--trainer.max_steps`` alone.

``LinearToZero`` is torch's ``LinearLR`` from the optimizer's learning rate to zero, whose end is the
run's last generator update: the trainer's ``max_steps`` (or, for a run counted in epochs, its
``estimated_stepping_batches``), told by the model when training starts (``follow_run_length``).
With the run's length fixed it is ``LinearLR(start_factor=1, end_factor=0, total_iters=max_steps)``
to the bit. A run resumed with another ``max_steps`` goes on along the line of the new length: at
update t of T the rate is lr (1 - t / T), so a finished run of 2,000 updates extended to 4,000
continues from half its initial rate and decays to zero again at 4,000.
"""

import math
from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LinearLR, PolynomialLR

from lit_gan.errors import ConfigError


class LinearToZero(LinearLR):
    """The learning rate decayed linearly from the optimizer's to zero at the run's last generator update.

    Args:
        optimizer: the optimizer whose rate it sets (given by the model, as to every ``g_scheduler``).
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        super().__init__(optimizer, start_factor=1.0, end_factor=0.0, total_iters=1, last_epoch=last_epoch)
        self.total_iters = 0  # not known until training starts (follow_run_length)

    def follow_run_length(self, total_steps: float) -> None:
        """End the decay at ``total_steps`` generator updates; if it ended elsewhere (a resumed run whose
        ``max_steps`` changed), set the rate on the new line at the current update."""
        if not math.isfinite(total_steps) or total_steps < 1:
            raise ConfigError("`LinearToZero` decays the learning rate to zero at the run's end: give the run one,"
                              f" `trainer.max_steps` or `trainer.max_epochs` (the run's length is {total_steps})")
        total = int(total_steps)
        if total == self.total_iters:
            return
        self.total_iters = total
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * max(0.0, 1.0 - self.last_epoch / total)
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]


def check_learning_rates(trainer: Any, step: int) -> None:
    """Refuse to train on with an optimizer whose every learning rate is 0 for good: its schedule
    (``LinearLR`` or ``PolynomialLR``) ended there, at its ``total_iters`` (a resumed run whose schedule had
    the first run's length), so that it would train without changing a weight. A schedule that passes
    through 0 and rises again (a warm-up from 0, a cycle) is not refused."""
    if 0 <= trainer.max_steps <= step:
        return  # a finished run resumed as it was (a requeued job) ends at once
    for name, optimizer in zip(("g_optimizer", "d_optimizer"), trainer.optimizers):
        ended = [c.scheduler for c in trainer.lr_scheduler_configs if c.scheduler.optimizer is optimizer
                 and isinstance(c.scheduler, (LinearLR, PolynomialLR)) and c.scheduler.last_epoch >= c.scheduler.total_iters]
        if ended and all(group["lr"] == 0 for group in optimizer.param_groups):
            by = f" (its scheduler {type(ended[0]).__name__} ended there, at total_iters {ended[0].total_iters})"
            raise ConfigError(
                f"the learning rate of `{name}` is 0 at generator update {step}{by}: training on would change nothing;"
                " decay with lit_gan.objectives.LinearToZero, which ends at `trainer.max_steps`, or give the schedule more steps"
            )
