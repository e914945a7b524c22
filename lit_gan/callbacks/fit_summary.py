"""What a newcomer wants to read when ``fit`` ends: the final sample quality, where the run went, how to look.

    lit-gan fit --config configs/quickstart.yaml
    ...
    Finished at generator step 2000.
      val/modes 8 | val/hq_fraction 0.938   (MixtureCoverage, step 2000)
      logs:            lightning_logs/version_0
      last checkpoint: lightning_logs/version_0/checkpoints/last.ckpt
      watch:           tensorboard --logdir lightning_logs
"""

import math
import os
from typing import Optional

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

from lit_gan.callbacks.image_quality import SampleEvaluation
from lit_gan.callbacks.progress import short_number


def _relative(path: str) -> str:
    relative = os.path.relpath(path)
    return path if relative.startswith(os.pardir) else relative


class FitSummary(Callback):
    """Prints a short summary once, on global rank 0, when ``fit`` ends: the last values of every
    sample-quality callback (:class:`~lit_gan.callbacks.MixtureCoverage`, :class:`~lit_gan.callbacks.ImageQuality`)
    with the step they were measured at, the log folder, the last (or best) checkpoint and the
    TensorBoard command. ``lit-gan`` adds it to every run.
    """

    @rank_zero_only
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        print("\n".join(self.lines(trainer, pl_module)), flush=True)

    def lines(self, trainer: Trainer, pl_module: LightningModule) -> list[str]:
        # a GAN's global step counts generator updates; another module's (the digit classifier) its steps
        step = "generator step" if hasattr(pl_module, "generator") else "step"
        lines = [f"Finished at {step} {trainer.global_step}."]
        for callback in trainer.callbacks:
            if isinstance(callback, SampleEvaluation) and callback.last_values:
                values = " | ".join(
                    f"val/{callback.prefix}{name} {short_number(v)}" for name, v in callback.last_values.items() if math.isfinite(float(v))
                )
                lines.append(f"  {values}   ({type(callback).__name__}, step {callback.last_step})")
        # the logger's own folder: ``trainer.log_dir`` is a collective under DDP, and this runs on rank 0 only
        logger = trainer.loggers[0] if trainer.loggers else None
        log_dir: Optional[str] = getattr(logger, "log_dir", None) or getattr(logger, "save_dir", None)
        if log_dir:
            lines.append(f"  logs:            {_relative(log_dir)}")
        checkpoint = next((c for c in trainer.checkpoint_callbacks if isinstance(c, ModelCheckpoint)), None)
        path = checkpoint and (checkpoint.last_model_path or checkpoint.best_model_path)
        if path and os.path.isfile(path):
            lines.append(f"  last checkpoint: {_relative(path)}")
        board = next((lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)
        if board is not None:  # a CSVLogger's folder holds nothing for TensorBoard
            root = board.root_dir or os.path.dirname(board.log_dir)
            lines.append(f"  watch:           tensorboard --logdir {_relative(root)}")
        return lines
