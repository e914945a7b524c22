"""The whole run's config in the logger, not only in ``config.yaml`` beside it.

LightningCLI's ``SaveConfigCallback`` writes the parsed config to ``<log_dir>/config.yaml`` and
then calls ``save_config``, a hook meant for saving it elsewhere (Lightning docs, "Configure
hyperparameters from the CLI": ``trainer.logger.log_hyperparams``). Lightning itself logs only
the model's ``__init__`` arguments; the trainer, the data, the callbacks and the seed would be missing.
"""

import os
from typing import Any

import yaml
from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.cli import SaveConfigCallback
from lightning.pytorch.loggers import TensorBoardLogger

from lit_gan.callbacks.image_quality import SampleEvaluation
from lit_gan.callbacks.periodic import tensorboard_writers
from lit_gan.callbacks.run_folder import run_folder
from lit_gan.errors import ConfigError


class SaveConfigToLogger(SaveConfigCallback):
    """``SaveConfigCallback`` that also logs the whole parsed config as hyperparameters to every
    logger of the trainer (TensorBoard: the HPARAMS tab, keys flattened as ``trainer/max_steps``,
    ``model/init_args/latent_dim``, ...), and as YAML text under the tag ``config`` (the TEXT tab).

    The config is logged before Lightning logs the model's hyperparameters; TensorBoard's HPARAMS
    tab shows the first set a run logged, so it shows the whole config. With it go the run's
    HPARAMS metrics: ``hp/<name>`` for every value of every sample-quality callback
    (:class:`~lit_gan.callbacks.ImageQuality`, :class:`~lit_gan.callbacks.MixtureCoverage`), and
    ``hp_metric``, which those callbacks log at each evaluation of ``fit`` (the HPARAMS tab shows the
    last value: the run's final quality; before the first evaluation, Lightning's -1). Runs on global rank 0
    (``save_config`` is only called there). Passed by ``lit_gan.cli.run_cli`` as
    ``save_config_callback``; it takes the arguments of ``SaveConfigCallback``.

    ``config.yaml`` goes to the run's own folder (:func:`~lit_gan.callbacks.run_folder.run_folder`: beside
    its ``checkpoints``), not to Lightning's ``trainer.log_dir``, which for a W&B or MLflow logger is a
    folder every run shares (the second run was refused) or None (MLflow on a database: an AssertionError).
    A ``config.yaml`` already there (the same command run twice with ``--trainer.logger false``, which
    writes into ``default_root_dir`` itself) is refused in one line that says what to give on the command
    line; Lightning's own error names ``LightningCLI(...)`` arguments only.
    """

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        # Lightning's SaveConfigCallback.setup, with the run's folder for ``trainer.log_dir``
        if self.already_saved or (stage != "fit" and not trainer.loggers):  # validate/test/predict: no run folder
            return
        if self.save_to_log_dir:
            log_dir = str(trainer.strategy.broadcast(run_folder(trainer) if trainer.is_global_zero else None))
            path = os.path.join(log_dir, self.config_filename)
            fs = get_filesystem(path)
            # Refused, not written elsewhere: the earlier run's checkpoints/ are in the same folder and this
            # run's would mix with them, so a config.yaml moved out of the way would hide a real collision.
            # A run resumed from its own folder (``--ckpt_path last``) is the same run: its config is replaced.
            ckpt_path = self.config.get("ckpt_path") if stage == "fit" else None
            resumed_here = bool(ckpt_path) and os.path.dirname(os.path.realpath(str(ckpt_path))) == os.path.realpath(
                os.path.join(log_dir, "checkpoints"))
            if not (self.overwrite or resumed_here) and trainer.strategy.broadcast(trainer.is_global_zero and fs.isfile(path)):
                raise ConfigError(
                    f"{path} exists: an earlier run wrote its config (and checkpoints) into {log_dir}, which"
                    f" {'`--trainer.logger false` makes' if trainer.logger is None else 'is'} this run's log dir too:"
                    " give this run its own folder with `--trainer.default_root_dir DIR`, or delete that run's files"
                )
            if trainer.is_global_zero:
                fs.makedirs(log_dir, exist_ok=True)  # before the logger writes anything there
                self.parser.save(self.config, path, skip_none=False, overwrite=self.overwrite or resumed_here,
                                 multifile=self.multifile)
        if trainer.is_global_zero:
            self.save_config(trainer, pl_module, stage)
            self.already_saved = True
        self.already_saved = trainer.strategy.broadcast(self.already_saved)  # every rank skips the next setup

    def save_config(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        text = self.parser.dump(self.config, skip_none=False)  # the YAML that config.yaml holds
        config: dict[str, Any] = yaml.safe_load(text)
        metrics = {name: float("nan") for c in trainer.callbacks if isinstance(c, SampleEvaluation)
                   for name in c.hparam_names()} if stage == "fit" else {}  # fit logs them, test does not
        metrics = {"hp_metric": float("nan"), **metrics} if metrics else {}
        for logger in trainer.loggers:
            if metrics and isinstance(logger, TensorBoardLogger):
                logger.log_hyperparams(config, metrics=metrics)
            else:
                logger.log_hyperparams(config)
        for writer in tensorboard_writers(trainer):
            # indented: a Markdown code block, so TensorBoard keeps the YAML's layout
            writer.add_text("config", "\n".join("    " + line for line in text.splitlines()), global_step=0)
