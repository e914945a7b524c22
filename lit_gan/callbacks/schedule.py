"""When a periodic callback is due: at the generator updates that are multiples of its period.

``trainer.global_step`` counts generator updates (:mod:`lit_gan.objectives.base`), and a training
batch is one generator iteration, so ``on_train_batch_end`` sees each step once. A schedule is not
due at the step a resumed run starts from (it was handled before the checkpoint was written), and
at the end only if the final step was not handled yet.
"""

from typing import Optional

from lightning.pytorch import Trainer

from lit_gan.checks import check_positive_ints


class StepSchedule:
    """Due every ``every_n_steps`` generator updates (None: never, but at the end if asked)."""

    def __init__(self, every_n_steps: Optional[int]) -> None:
        check_positive_ints(every_n_steps=every_n_steps)
        self.every_n_steps = None if every_n_steps is None else int(every_n_steps)
        self.last_step = -1  # the step it was last due at

    def start(self, trainer: Trainer) -> None:
        """At ``on_train_start``: the step training starts (or resumes) from is not due."""
        self.last_step = trainer.global_step

    def due(self, trainer: Trainer) -> bool:
        """At ``on_train_batch_end``: is this step a multiple of ``every_n_steps``?"""
        step = trainer.global_step
        if self.every_n_steps and step != self.last_step and step % self.every_n_steps == 0:
            self.last_step = step
            return True
        return False

    def due_at_end(self, trainer: Trainer) -> bool:
        """At ``on_train_end``: was the final step not handled yet?"""
        if trainer.global_step != self.last_step:
            self.last_step = trainer.global_step
            return True
        return False
