"""``fit --ckpt_path last`` with the same config and root: the latest run's ``last.ckpt``, continued in
that run's folder.

Lightning looks for ``last.ckpt`` in the ModelCheckpoint's folder, which for the default one is the
new run's ``version_N+1/checkpoints``: it finds nothing and starts over. Here, when the config gives no
ModelCheckpoint ``dirpath`` and its logger is the default one, TensorBoard's or a CSV logger, the newest
``<save_dir>/<name>/version_N/checkpoints/last.ckpt`` is the checkpoint, and a TensorBoard logger is set
to ``version_N``, so that the logs and checkpoints go on in the run's own folder (a CSV logger would
delete the run's ``metrics.csv`` there: it writes a new version folder). The run must have trained the
model class of the config (its ``config.yaml``), else it is refused in one line.
"""

import os
import re
from pathlib import Path
from typing import Any, Optional

from jsonargparse import Namespace

from lit_gan.errors import ConfigError
from lit_gan.run_config import read_run_config

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
    ours, theirs = model_class(config), run_model_class(run / "config.yaml")
    if ours and theirs and ours != theirs:
        raise ConfigError(f"`ckpt_path` last: the latest run in {folder}, {run.name}, trained {theirs}, and this config"
                          f" trains {ours}: give that run's own config, or this run's checkpoint as `--ckpt_path`")
    return str(run / "checkpoints" / "last.ckpt"), version


def model_class(config: Namespace) -> str:
    model = config.get("model")
    return str(model.get("class_path") or "") if isinstance(model, Namespace) else ""


def run_model_class(path: Path) -> str:
    """The ``model: class_path:`` of a run's config.yaml (read as ``evaluate`` reads a run's config); "" where
    there is none or it cannot be read: then nothing is compared."""
    try:
        model = (read_run_config(path) or {}).get("model") if path.is_file() else None
    except (ConfigError, AttributeError):
        return ""
    return str(model.get("class_path") or "") if isinstance(model, dict) else ""


def continue_in(trainer: Any, version: Optional[int]) -> None:
    """Make the trainer's TensorBoard logger write into ``version_<version>`` (after ``latest_last``); a
    CSV logger, which would delete the run's ``metrics.csv`` there, starts a new version folder."""
    from lightning.pytorch.loggers import TensorBoardLogger

    from lit_gan.compat import set_logger_version

    if version is not None and isinstance(trainer.logger, TensorBoardLogger):
        set_logger_version(trainer.logger, version)
