"""The image callbacks: what they draw is theirs, when (a :class:`StepSchedule`) and where (every
logger that takes images, else PNG files: :func:`lit_gan.callbacks.figures.log_image`, on global rank 0)
is shared here."""

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_warn
from torch.utils.tensorboard import SummaryWriter

from lit_gan.callbacks.figures import takes_images
from lit_gan.callbacks.schedule import StepSchedule


def tensorboard_writers(trainer: Trainer) -> list[SummaryWriter]:
    """The ``SummaryWriter`` of every TensorBoardLogger of the trainer, for what only TensorBoard shows
    (the config as text); images go through :func:`lit_gan.callbacks.figures.log_image`."""
    return [logger.experiment for logger in trainer.loggers if isinstance(logger, TensorBoardLogger)]


class PeriodicImage(Callback):
    """Calls ``draw`` on global rank 0 every ``every_n_steps`` generator updates and once more
    at the end of training (the final state); not in a ``fast_dev_run``, which logs nothing.

    Subclasses implement ``check`` (may this callback run on this model? else say why) and ``draw``,
    which hands its image to :func:`lit_gan.callbacks.figures.log_image`.

    Args:
        every_n_steps: draw every this many generator updates (``trainer.global_step``).
    """

    def __init__(self, every_n_steps: int) -> None:
        if every_n_steps is None:
            raise ValueError("Expected argument `every_n_steps` to be an integer >= 1, got None")
        self.schedule = StepSchedule(every_n_steps)
        self.every_n_steps = int(every_n_steps)
        self._enabled = True

    def check(self, pl_module: LightningModule) -> str:
        """Why this callback cannot run on ``pl_module``; "" when it can."""
        return ""

    def draw(self, trainer: Trainer, pl_module: LightningModule) -> None:
        raise NotImplementedError

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        reason = self.check(pl_module)
        self._enabled = not reason
        if reason:
            rank_zero_warn(f"{type(self).__name__} is switched off: {reason}")

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.schedule.start(trainer)

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs, batch, batch_idx: int) -> None:
        if self.schedule.due(trainer):
            self._maybe_draw(trainer, pl_module)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.schedule.due_at_end(trainer):
            self._maybe_draw(trainer, pl_module)

    def _maybe_draw(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._enabled and trainer.is_global_zero and takes_images(trainer):
            self.draw(trainer, pl_module)
