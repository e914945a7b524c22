"""When the image callbacks draw, and where they write.

``trainer.global_step`` counts generator updates (see :mod:`lit_gan.objectives.base`), and
``on_train_batch_end`` runs after every batch, i.e. after every critic update: with ``n_critic``
5 the same global step is seen on five batches. A picture is drawn once per due step.
"""

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_warn
from torch.utils.tensorboard import SummaryWriter

from lit_gan.checks import check_positive_ints


def tensorboard_writers(trainer: Trainer) -> list[SummaryWriter]:
    """The ``SummaryWriter`` of every TensorBoardLogger of the trainer; none for other loggers."""
    return [logger.experiment for logger in trainer.loggers if isinstance(logger, TensorBoardLogger)]


class PeriodicImage(Callback):
    """Calls ``draw`` on global rank 0 every ``every_n_steps`` generator updates and once more
    at the end of training (the final state), when the trainer has a TensorBoardLogger.

    Subclasses implement ``check`` (may this callback run on this model? else say why) and ``draw``.

    Args:
        every_n_steps: draw every this many generator updates (``trainer.global_step``).
    """

    def __init__(self, every_n_steps: int) -> None:
        check_positive_ints(every_n_steps=every_n_steps)
        self.every_n_steps = int(every_n_steps)
        self._last_step = -1
        self._enabled = True

    def check(self, pl_module: LightningModule) -> str:
        """Why this callback cannot run on ``pl_module``; "" when it can."""
        return ""

    def draw(self, trainer: Trainer, pl_module: LightningModule, writers: list[SummaryWriter]) -> None:
        raise NotImplementedError

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        reason = self.check(pl_module)
        self._enabled = not reason
        if reason:
            rank_zero_warn(f"{type(self).__name__} is switched off: {reason}")

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._last_step = trainer.global_step  # a resumed run does not redraw the step it resumes at

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs, batch, batch_idx: int) -> None:
        step = trainer.global_step
        if step != self._last_step and step % self.every_n_steps == 0:
            self._maybe_draw(trainer, pl_module)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.global_step != self._last_step:
            self._maybe_draw(trainer, pl_module)

    def _maybe_draw(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._last_step = trainer.global_step
        if not (self._enabled and trainer.is_global_zero):
            return
        writers = tensorboard_writers(trainer)
        if writers:  # other loggers (or none, or fast_dev_run's dummy): nothing to draw for
            self.draw(trainer, pl_module, writers)
