"""Lightning's model summary without its FLOPs column: Lightning 2.6 counts FLOPs only through an
``example_input_array``, which a GAN (two networks, neither the module's forward alone) has none of,
so its table said 0 FLOPs for every network and in all."""

import logging
from typing import Any

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelSummary as LightningModelSummary

from lit_gan.compat import summary_depth, summary_table_without_flops

log = logging.getLogger("lightning.pytorch.callbacks.model_summary")


class ModelSummary(LightningModelSummary):
    """The networks, their parameters and modes, as Lightning's summary prints them, without FLOPs."""

    @staticmethod
    def summarize(summary_data: list[tuple[str, list[str]]], total_parameters: int, trainable_parameters: int,
                  model_size: float, total_training_modes: dict[str, int], total_flops: int, **summarize_kwargs: Any) -> None:
        log.info("\n" + summary_table_without_flops(summary_data, total_parameters, trainable_parameters, model_size,
                                                     total_training_modes, total_flops))


def use_model_summary(trainer: Trainer) -> None:
    """Put a :class:`ModelSummary` in place of Lightning's default one; a summary given in the config is kept."""
    for i, callback in enumerate(trainer.callbacks):
        if type(callback) is LightningModelSummary:
            trainer.callbacks[i] = ModelSummary(max_depth=summary_depth(callback))
