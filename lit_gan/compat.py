"""Every place where lit-gan reaches into Lightning's private state, in one module.

Each function names the Lightning version its touchpoint was written against; tests/test_compat.py
has one test per touchpoint that fails when Lightning changes it underneath (an attribute renamed,
a meaning changed), so an upgrade of Lightning shows here first. pyproject.toml declares the
Lightning range the test suite has passed on.

Written for Lightning 2.6 (2.6.6); the method overrides of ``LightningCLI`` (``_parse_ckpt_path``,
``_run_subcommand``) live in lit_gan/cli.py and are tested here too; ``config_from_checkpoint`` does the
work of the first on the checkpoint lit-gan has read.
"""

import sys
from typing import Any, Callable, Optional, Union

from lightning.pytorch import Trainer

# Lightning 2.6: the actions of LightningArgumentParser keep their type in ``_typehint`` (jsonargparse's ActionTypeHint)
TYPEHINT = "_typehint"


def is_log_step(trainer: Trainer) -> bool:
    """Whether the trainer writes logged training values after this batch (Lightning 2.6: the logger
    connector's ``should_update_logs``, or ``fast_dev_run``, as ``update_train_step_metrics`` decides)."""
    return bool(trainer._logger_connector.should_update_logs or trainer.fast_dev_run)


def ends_training(trainer: Trainer) -> bool:
    """Whether the training batch being run is the run's last (``max_steps`` reached by it) or its epoch's
    last, read inside ``training_step`` (Lightning 2.6: the epoch loop's ``_is_training_done``)."""
    return bool(trainer.fit_loop.epoch_loop._is_training_done)


def epoch_progress(trainer: Trainer) -> Any:
    """The training loop's batch counts of the current epoch (Lightning 2.6: ``fit_loop.epoch_loop.batch_progress.current``,
    with ``ready``, ``started``, ``processed``, ``completed``)."""
    return trainer.fit_loop.epoch_loop.batch_progress.current


def set_sigterm_notifier(trainer: Trainer, notifier: Optional[Callable[..., None]]) -> bool:
    """Make ``notifier`` the SIGTERM handler Lightning registers at fit start, or Lightning's own (None);
    False when the trainer has no signal connector (Lightning 2.6: ``_signal_connector._sigterm_notifier_fn``,
    read by ``register_signal_handlers`` after ``on_fit_start``)."""
    connector = getattr(trainer, "_signal_connector", None)
    if connector is None:
        return False
    if notifier is None:
        connector.__dict__.pop("_sigterm_notifier_fn", None)
    else:
        connector._sigterm_notifier_fn = notifier
    return True


def mark_sigterm(trainer: Trainer) -> None:
    """Set Lightning's received-SIGTERM flag: its end-of-batch check then raises ``SIGTERMException``
    (Lightning 2.6: ``_signal_connector.received_sigterm``, read by ``trainer.received_sigterm``)."""
    trainer._signal_connector.received_sigterm = True


def wrapped_checkpoint_io(plugin: Any) -> Optional[Any]:
    """The CheckpointIO that a wrapping one (``AsyncCheckpointIO``) saves through, None for a plugin that
    wraps none (Lightning 2.6: the private base class ``_WrappingCheckpointIO``)."""
    from lightning.pytorch.plugins.io.wrapper import _WrappingCheckpointIO

    return plugin.checkpoint_io if isinstance(plugin, _WrappingCheckpointIO) else None


def replace_base_checkpoint_io(wrapping: Any, base: Any) -> None:
    """Give a wrapping CheckpointIO (``AsyncCheckpointIO``) ``base`` in place of the one Lightning gave it
    (Lightning 2.6: ``_WrappingCheckpointIO._checkpoint_io``; its setter keeps the first)."""
    wrapping._checkpoint_io = base


def start_method(launcher: Any) -> Optional[str]:
    """How a strategy's launcher starts its processes: ``spawn``, ``fork``, ``forkserver`` or None
    (Lightning 2.6: ``_MultiProcessingLauncher._start_method``; the subprocess launcher has none)."""
    return getattr(launcher, "_start_method", None)


def set_typehint(action: Any, hint: Union[type, Any]) -> bool:
    """Parse a LightningArgumentParser action as ``hint``; False where the action has no type hint
    (jsonargparse 4: ``ActionTypeHint._typehint``)."""
    if action is None or not hasattr(action, TYPEHINT):
        return False
    setattr(action, TYPEHINT, hint)
    return True


def set_logger_version(logger: Any, version: int) -> None:
    """Make a TensorBoard or CSV logger write into ``version_<version>``, before anything asked its version
    (Lightning 2.6: ``TensorBoardLogger._version`` and ``CSVLogger._version``, what ``version=`` sets)."""
    logger._version = version



def summary_table_without_flops(summary_data: list[tuple[str, list[str]]], total_parameters: int,
                                trainable_parameters: int, model_size: float, total_training_modes: dict[str, int],
                                total_flops: int) -> str:
    """ModelSummary's table less its ``FLOPs`` column and its ``Total Flops`` line (Lightning 2.6:
    ``ModelSummary.summarize``'s arguments, formatted by ``model_summary._format_summary_table``)."""
    from lightning.pytorch.utilities.model_summary.model_summary import _format_summary_table

    columns = [column for column in summary_data if column[0] != "FLOPs"]
    table = _format_summary_table(total_parameters, trainable_parameters, model_size, total_training_modes,
                                  total_flops, *columns)
    return "\n".join(line for line in table.splitlines() if not line.rstrip().endswith("Total Flops"))


def summary_depth(callback: Any) -> int:
    """The ``max_depth`` a ModelSummary callback was given (Lightning 2.6: ``ModelSummary._max_depth``)."""
    return callback._max_depth


def sync_switches(metric: Any) -> tuple[bool, bool]:
    """A torchmetrics Metric's switches that make ``compute`` gather the ranks' states and scatter them back
    (torchmetrics 1.9: ``Metric._to_sync``, ``Metric._should_unsync``, what its ``forward`` sets)."""
    return metric._to_sync, metric._should_unsync


def set_sync_switches(metric: Any, to_sync: bool, should_unsync: bool) -> None:
    """Set what :func:`sync_switches` reads: False, False makes ``compute`` take the states as they are."""
    metric._to_sync, metric._should_unsync = to_sync, should_unsync


def is_synced(metric: Any) -> bool:
    """Whether a torchmetrics Metric holds the gathered states now (torchmetrics 1.9: ``Metric._is_synced``)."""
    return bool(metric._is_synced)


def config_from_checkpoint(cli: Any, checkpoint: dict[str, Any]) -> None:
    """What ``LightningCLI._parse_ckpt_path`` does with a checkpoint's hyperparameters (the model is built from
    them, over the config), on a checkpoint that lit-gan's door has opened and checked: Lightning's reads the
    file a second time (Lightning 2.6: ``torch.load`` of ``ckpt_path``, ``_class_path`` and ``dict_kwargs``,
    ``parser.parse_object`` over ``cli.config``)."""
    hparams = dict(checkpoint.get("hyper_parameters") or {})
    hparams.pop("_instantiator", None)
    if not hparams:
        return
    if "_class_path" in hparams:
        hparams = {"class_path": hparams.pop("_class_path"), "dict_kwargs": hparams}
    try:
        cli.config = cli.parser.parse_object({cli.config.subcommand: {"model": hparams}}, cli.config)
    except SystemExit:
        sys.stderr.write("Parsing of ckpt_path hyperparameters failed!\n")
        raise


def default_map_location() -> Callable[..., Any]:
    """Where ``load_from_checkpoint`` puts a checkpoint's tensors when not told: where they were saved, or the
    CPU where that device is absent (Lightning 2.6: ``core.saving._default_map_location``)."""
    from lightning.pytorch.core.saving import _default_map_location

    return _default_map_location
