"""A run's own folder, whatever its logger: where its checkpoints go, its ``config.yaml`` and, when no
logger takes images, its PNG images.

Lightning's ``trainer.log_dir`` is that folder for a TensorBoard or CSV logger (``version_N``) and
without a logger (``default_root_dir``), but for any other logger it is the logger's ``save_dir``, which
every run of that logger shares (W&B's ``.``, an MLflow file store's root), or None (MLflow on a database
or a server). Its ``ModelCheckpoint`` puts each run's checkpoints in ``<save_dir>/<name>/<version>``
(W&B: ``<project>/<run id>``; MLflow: ``<experiment id>/<run id>``): that is the run's folder here.
"""

import os

from lightning.pytorch import Trainer


def run_folder(trainer: Trainer) -> str:
    """The folder of this run's files: its first logger's ``log_dir`` when it has one of its own, else
    ``<save_dir or default_root_dir>/<name>/<version>`` as ``ModelCheckpoint`` resolves it, and with no
    logger ``default_root_dir``. Not a collective (``trainer.log_dir`` is): call it where the loggers
    write, on global rank 0, and broadcast it if other ranks need it."""
    if not trainer.loggers:
        return str(trainer.default_root_dir)
    logger = trainer.loggers[0]
    if logger.log_dir is not None:  # TensorBoard, CSV: version_N
        return str(logger.log_dir)
    version = logger.version if isinstance(logger.version, str) else f"version_{logger.version}"
    return os.path.join(logger.save_dir or trainer.default_root_dir, str(logger.name), version)
