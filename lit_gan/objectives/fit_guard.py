"""What a fit needs around the algorithm, kept out of the module: a callback that
:class:`~lit_gan.objectives.base.AdversarialModule` configures (``configure_callbacks``) for every
trainer that fits it.

- The random streams: every rank starts from the seed at fit start (Lightning's DDP re-seeds each
  process when it sets up; one process is re-seeded the same way), and a resumed run continues the
  checkpoint's streams from train start on (latents, interpolation weights, data order).
- Preemption: SIGTERM and Ctrl+C stop after the current batch, agreed on by every rank
  (:mod:`lit_gan.interrupt`).
- The learning rates: schedules that end with the run learn its length; a rate that is 0 where
  training would go on is refused (:mod:`lit_gan.objectives.schedules`).
- A resumed fit's checks and random states (a checkpoint's training state is written by the module
  itself, for weights-only saves too: :mod:`lit_gan.checkpoints`).
"""

from typing import Any, Optional

from lightning.fabric.utilities.seed import reset_seed
from lightning.pytorch import Callback, LightningModule, Trainer

from lit_gan.checkpoints import check_iteration_boundary, check_resumable, check_resumed_step, set_rng_states
from lit_gan.interrupt import InterruptAsPreemption
from lit_gan.objectives.schedules import check_learning_rates


class FitGuard(Callback):
    """Configured by the GAN for each trainer; holds the run's interrupt handling and its resumed random states."""

    def __init__(self, module: LightningModule) -> None:
        self.interrupt = InterruptAsPreemption(module)
        self._rng_to_restore: Optional[dict[str, Any]] = None  # a checkpoint's random states, set when training starts

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # Every rank keeps the same random stream (seed_everything) and takes its own rows of each
        # draw (``AdversarialModule.draw``): ranks get different latents, and 1 or W processes draw
        # the same ones. Lightning's DDP re-seeds every process when it sets up; do as much with one
        # process, so that the stream starts at the same point whatever the strategy.
        reset_seed()
        self.interrupt.install()  # Ctrl+C: stop after this batch, as on SIGTERM

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        pl_module.updater.pending = []  # no check left from a fit that an error cut short
        if self._rng_to_restore is not None:  # after on_fit_start's seeding: the checkpoint's streams go on
            set_rng_states(self._rng_to_restore)  # rank 0's, the same on every rank
            self._rng_to_restore = None
        for config in trainer.lr_scheduler_configs:  # schedules that end with the run (LinearToZero)
            follow = getattr(config.scheduler, "follow_run_length", None)
            if follow is not None:
                follow(trainer.estimated_stepping_batches)
        check_learning_rates(trainer, trainer.global_step)

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.interrupt.sync_sigterm()  # DDP: a SIGTERM on any rank stops every rank after this same batch

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.interrupt.uninstall()

    def resume(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any], path: Optional[str],
               rng_states: Optional[dict[str, Any]]) -> None:
        """A fit resumes from ``checkpoint``: its random states (set at train start), after the checks that
        need the trainer (a resumable file, whole iterations, a step within ``max_steps``)."""
        self._rng_to_restore = rng_states
        check_resumable(checkpoint, path)  # before Lightning's KeyError on the optimizers' state
        check_iteration_boundary(checkpoint, pl_module.n_critic, path)
        check_resumed_step(trainer.max_steps, int(checkpoint.get("global_step", 0)))
