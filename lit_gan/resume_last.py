"""``fit --ckpt_path last`` with the same config and root: the latest run's ``last.ckpt``, continued in
that run's folder.

Lightning looks for ``last.ckpt`` in the ModelCheckpoint's folder, which for the default one is the
new run's ``version_N+1/checkpoints``: it finds nothing and starts over. Here, when the config gives no
ModelCheckpoint ``dirpath`` and its logger is the default one, TensorBoard's or a CSV logger, the newest
``<save_dir>/<name>/version_N/checkpoints/last.ckpt`` is the checkpoint, and the logger is set to
``version_N``, so that the logs and checkpoints go on in the run's own folder.
"""

import os
import re
from pathlib import Path
from typing import Any, Optional

from jsonargparse import Namespace

LOGGERS = {"lightning.pytorch.loggers.TensorBoardLogger", "lightning.pytorch.loggers.tensorboard.TensorBoardLogger",
           "lightning.pytorch.loggers.CSVLogger", "lightning.pytorch.loggers.csv_logs.CSVLogger"}


def runs_folder(config: Namespace) -> Optional[Path]:
    """``<save_dir>/<name>`` of the config's logger (the default one: ``<default_root_dir>/lightning_logs``);
    None for a logger whose runs are not ``version_N`` folders, or a ModelCheckpoint with its own dirpath."""
    trainer = config.get("trainer") or Namespace()
    for callback in trainer.get("callbacks") or []:
        if isinstance(callback, Namespace) and str(callback.get("class_path", "")).endswith("ModelCheckpoint"):
            if (callback.get("init_args") or Namespace()).get("dirpath"):
                return None  # Lightning finds last.ckpt there itself
    root = trainer.get("default_root_dir") or os.getcwd()
    logger = trainer.get("logger")
    if logger is None or logger is True:
        return Path(root) / "lightning_logs"
    if isinstance(logger, Namespace) and logger.get("class_path") in LOGGERS:
        args = logger.get("init_args") or Namespace()
        if args.get("version") is not None:
            return None
        return Path(args.get("save_dir") or root) / str(args.get("name") if args.get("name") is not None else "lightning_logs")
    return None


def latest_last(config: Namespace) -> Optional[tuple[str, int]]:
    """(the newest run's ``last.ckpt``, its version number), or None when there is none."""
    folder = runs_folder(config)
    if folder is None or not folder.is_dir():
        return None
    runs = []
    for run in folder.iterdir():
        match = re.fullmatch(r"version_(\d+)", run.name)
        if match and (run / "checkpoints" / "last.ckpt").is_file():
            runs.append((int(match.group(1)), run))
    if not runs:
        return None
    version, run = max(runs)
    return str(run / "checkpoints" / "last.ckpt"), version


def continue_in(trainer: Any, version: Optional[int]) -> None:
    """Make the trainer's logger write into ``version_<version>`` (after ``latest_last``)."""
    from lit_gan.compat import set_logger_version

    if version is not None and trainer.logger is not None:
        set_logger_version(trainer.logger, version)
