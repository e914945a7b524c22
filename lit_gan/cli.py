"""The ``lit-gan`` command: a LightningCLI over the objective families and data modules.

    lit-gan fit --config configs/wgan_gp.yaml
    lit-gan fit --config configs/quickstart.yaml --trainer.max_steps 500
"""

import sys
import warnings
from pathlib import Path
from typing import Any, Iterator, NoReturn, Optional, Union

from jsonargparse import Namespace
from jsonargparse.typing import NonNegativeFloat
from lightning.pytorch import LightningDataModule, LightningModule, Trainer
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from lightning.pytorch.utilities.exceptions import MisconfigurationException, SIGTERMException

from lit_gan.checkpoint_io import CheckpointSaveError, first_save_error, use_atomic_checkpoints
from lit_gan.checkpoints import SPECIAL, check_fits, open_checkpoint
from lit_gan.compat import config_from_checkpoint, set_typehint
from lit_gan.resume_last import continue_in, latest_last, runs_folder
from lit_gan.shipped_configs import with_shipped_configs
from lit_gan.disk_full import disk_full, disk_full_message, quiet_event_writer_threads
from lit_gan.cli_checks import (check_arguments, checkpoint_checks, check_command_line,
                                check_instantiated, given_img_shape)
from lit_gan.errors import ConfigError, NonFiniteError, worker_message
from lit_gan.interrupt import SIGINT_STATUS, stop_status
from lit_gan.callbacks import FitSummary, SaveConfigToLogger
from lit_gan.callbacks.run_lock import RunLock
from lit_gan.console import HeldLines, ShowHeldLines, quiet_lightning, release_all
from lit_gan.parser import LitGanParser, write_error
from lit_gan.callbacks.progress import use_progress_bar
from lit_gan.callbacks.summary import use_model_summary


def _learning_rates(node: Any, key: str) -> Iterator[tuple[str, Any]]:
    """Every ``...init_args.lr`` under ``node``, with its full key."""
    if isinstance(node, Namespace):
        for name, value in vars(node).items():
            child = f"{key}.{name}"
            if name == "lr" and key.endswith("init_args"):
                yield child, value
            else:
                yield from _learning_rates(value, child)


# Trainer's type for these is Union[float, int, None], which jsonargparse tries in that order: `1`
# became 1.0, which Lightning reads as 100% of the batches, not one batch.
BATCH_COUNTS = ("limit_train_batches", "limit_val_batches", "limit_test_batches", "limit_predict_batches", "overfit_batches")


def count_batches_as_ints(parser: LightningArgumentParser) -> None:
    """Parse the trainer's batch limits as an int first (1: one batch), then a float (0.5: half)."""
    for name in BATCH_COUNTS:
        # not NonNegativeInt: it takes 0.5 as 0
        set_typehint(parser._option_string_actions.get(f"--trainer.{name}"), Union[int, NonNegativeFloat, None])


class LitGanCLI(LightningCLI):
    """Links the data's ``img_shape`` into the model and checks what types cannot."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("data.img_shape", "model.init_args.img_shape", apply_on="instantiate")
        count_batches_as_ints(parser)

    def _refuse(self, message: str) -> NoReturn:
        """Bad input found after parsing: one line under the subcommand's name (``lit-gan fit: error: ...``),
        without the start-up lines of Lightning held back until then (lit_gan/console.py)."""
        self._startup_lines.release(show=False)
        if not self.parser.exit_on_error:
            self.parser.error(message)
        trainer = getattr(self, "trainer", None)
        if trainer is not None and trainer.global_rank != 0:
            # every rank refuses alike (the refusal is broadcast); rank 0 says it, and exits 2. The others exit 0:
            # a non-zero one would make Lightning's DDP launcher SIGKILL rank 0, maybe before its line is written
            raise SystemExit(0)
        subcommand = self.config.get("subcommand") if getattr(self, "config", None) is not None else None
        prog = f"{self.parser.prog} {subcommand}" if subcommand else self.parser.prog
        write_error(prog, message)
        raise SystemExit(2)

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        self._startup_lines = HeldLines()
        try:  # before jsonargparse reads a value as YAML and expands its aliases (a "billion laughs")
            check_command_line(sys.argv[1:] if args is None else args)
        except ConfigError as err:
            parser.error(str(err))
        super().parse_arguments(parser, args)
        self._startup_lines.hold()  # "Seed set to 0" and the devices: printed once the run starts
        subcommand = self.config.get("subcommand")
        if subcommand:  # before Lightning reads a checkpoint (_parse_ckpt_path) or anything is built
            try:
                check_arguments(self.config[subcommand], subcommand)
            except ConfigError as err:
                self._refuse(str(err))
            self._img_shape_given = given_img_shape(self.config[subcommand])  # before a checkpoint's replaces it

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        if self.subcommand in ("validate", "test", "predict") and config.trainer.get("logger") in (None, True):
            config.trainer.logger = False  # only training runs make a run folder; a logger given is used
        for key, lr in _learning_rates(config.get("model"), "model"):
            if lr is not None and not 0 < float(lr) < float("inf"):  # NaN too: every update would be NaN
                self._refuse(f'Parser key "{key}": Expected a learning rate that is a finite number > 0.'
                             f" Got value: {lr}")

    def instantiate_classes(self) -> None:
        # Checks that need more than one value (e.g. an image size the network cannot produce)
        # run in the constructors: report them in one line too.
        # Lightning's Trainer refuses devices and accelerators it cannot use: one line too.
        try:
            super().instantiate_classes()
            if self.subcommand:
                given = getattr(self, "_img_shape_given", None)
                check_instantiated(self.trainer, self.datamodule, given, self.subcommand, self.model)
        except (ValueError, MisconfigurationException) as err:
            self._refuse(str(err))
        except ImportError as err:  # a precision or strategy whose package is not installed
            self._refuse(f"{type(err).__name__}: {err}")

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        # checkpoints replace the old file only when whole, on any filesystem (lit_gan/checkpoint_io.py)
        trainer = super().instantiate_trainer(**kwargs)
        trainer.callbacks.append(ShowHeldLines(self._startup_lines))
        use_atomic_checkpoints(trainer)
        use_progress_bar(trainer)  # plain lines instead of the bar when stdout is a file (a batch job's log)
        use_model_summary(trainer)  # without Lightning's FLOPs column, 0 for every GAN
        checkpoints = trainer.checkpoint_callback
        if checkpoints is not None and checkpoints.save_last is None:  # not set: last.ckpt, for --ckpt_path last
            checkpoints.save_last = True
        continue_in(trainer, getattr(self, "_resume_version", None))
        return trainer

    def _parse_ckpt_path(self) -> None:
        # Lightning reads the checkpoint here to take its hyperparameters: check it first, in one line.
        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        self._checkpoint = None
        if subcommand == "fit" and ckpt_path == "last" and not Path(ckpt_path).is_file():
            try:
                found = latest_last(self.config[subcommand])  # the latest run's, continued in its folder
            except ConfigError as err:
                self._refuse(str(err))
            if found is not None:
                ckpt_path, self._resume_version = found
                self.config[subcommand].ckpt_path = ckpt_path
            elif runs_folder(self.config[subcommand]) is not None:  # looked where the runs are: none yet
                ckpt_path = self.config[subcommand].ckpt_path = None  # (a requeued job's first start)
                rank_zero_info(f"`--ckpt_path last`: no run with a last.ckpt in {runs_folder(self.config[subcommand])}"
                               " yet: a new run starts")
        if ckpt_path and (ckpt_path not in SPECIAL or Path(ckpt_path).is_file()):  # Lightning parses any file
            try:
                self._checkpoint = open_checkpoint(ckpt_path, **checkpoint_checks(self.config[subcommand], subcommand))
            except ConfigError as err:
                self._refuse(str(err))
        before = self._model_values(subcommand)
        if self._checkpoint is not None:  # Lightning's own would read the file again: the data read above
            config_from_checkpoint(self, self._checkpoint)
        # LightningCLI builds the model from the checkpoint's hyperparameters, over the config and the
        # command line: say which values given here it replaced, rather than train silently without them.
        after = self._model_values(subcommand)
        replaced = [f"model.{key}={before[key]!r} (checkpoint: {after[key]!r})" for key in before
                    if before[key] is not None and key in after and after[key] != before[key]]
        if ckpt_path and replaced:  # (NaN != NaN: without a checkpoint nothing is replaced)
            rank_zero_warn(f"`ckpt_path` {ckpt_path}: the model is built from the checkpoint's hyperparameters,"
                           f" so these values of the config are not used: {', '.join(replaced)}")

    def _model_values(self, subcommand: Optional[str]) -> dict[str, Any]:
        model = self.config[subcommand].get("model") if subcommand else None
        values = dict(model.clone().items()) if isinstance(model, Namespace) else {}
        values.pop("init_args.img_shape", None)  # set from the data at instantiation (the link above), not given
        return values

    def _run_subcommand(self, subcommand: str) -> None:
        # Bad input that only shows at setup (missing data, sizes that do not match, trainer flags that
        # manual optimization cannot honour, such as gradient_clip_val): one line, exit 2.
        try:
            if getattr(self, "_checkpoint", None) is not None:
                check_fits(self._checkpoint, self.config_init[subcommand].get("ckpt_path"), self.model)
                self._checkpoint = None
            with warnings.catch_warnings():
                if subcommand != "fit":  # its ModelCheckpoint saves nothing: where the fit's saved is no matter
                    warnings.filterwarnings("ignore", message="The dirpath has changed from")
                if getattr(self, "_resume_version", None) is not None:  # --ckpt_path last: the run's own folder
                    warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not empty")
                super()._run_subcommand(subcommand)
        except (ConfigError, NonFiniteError, MisconfigurationException) as err:
            self._refuse(worker_message(str(err)))
        except CheckpointSaveError as err:  # a full disk: one line, about the first save that failed
            self._refuse(str(first_save_error(err)))
        except SIGTERMException:  # stopped by SIGTERM or Ctrl+C, after saving: not a finished run (docs/cluster.md)
            # rank 0's status; the other ranks exit 0, else Lightning's DDP launcher, seeing a rank end non-zero,
            # SIGKILLs rank 0 (srun reports the largest status of its tasks: 143 too)
            raise SystemExit(stop_status(self.trainer) if self.trainer.global_rank == 0 else 0) from None
        except Exception as err:  # a disk that filled while the logs were written: one line, after saving what can be
            full = disk_full(err)
            if full is None:
                raise
            self._refuse(disk_full_message(self.trainer, full))
        except SystemExit as err:
            if isinstance(err.__context__, KeyboardInterrupt):  # Lightning's exit after a second Ctrl+C
                raise SystemExit(SIGINT_STATUS) from None
            raise
        finally:  # after an error too, once ModelCheckpoint(save_on_exception=True) has saved
            self._startup_lines.release(show=True)  # a traceback, or a run that ended before its loops
            for callback in self.trainer.callbacks:
                if isinstance(callback, RunLock):
                    callback.release()


def run_cli(args: Optional[list[str]] = None) -> LitGanCLI:
    """Parse ``args`` (default: the command line), run the subcommand, return the CLI object. A ``--config``
    that names no file here but a config shipped with lit-gan is that config (lit_gan/shipped_configs.py)."""
    if args is None:
        sys.argv[1:] = with_shipped_configs(sys.argv[1:])
    else:
        args = with_shipped_configs(list(args))
    quiet_event_writer_threads()
    quiet_lightning()
    try:
        return LitGanCLI(
            LightningModule,  # the GAN families, and lit_gan.metrics.Classifier (a domain classifier for FID/IS)
            LightningDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            auto_configure_optimizers=False,  # each family gets one optimizer per network from YAML
            parser_class=LitGanParser,
            save_config_callback=SaveConfigToLogger,  # config.yaml, and the whole config in the logger
            # added to the config's callbacks: final metrics and paths; one fit at a time in a folder
            trainer_defaults={"callbacks": [FitSummary(), RunLock()]},
            args=args,
        )
    finally:
        release_all()


def main(args: Optional[list[str]] = None) -> None:
    """The ``lit-gan`` console script: LightningCLI's subcommands, and lit-gan's own (evaluate, generate,
    export: lit_gan/commands.py), which ``lit-gan --help`` lists too."""
    from lit_gan.commands import every_subcommand_in_help, own_command

    argv = sys.argv[1:] if args is None else args
    own = own_command(argv)  # also --version; no or an unknown subcommand: one line, exit 2
    if own is not None:
        own(argv[1:])
        return
    if argv[:1] in (["-h"], ["--help"]):
        with every_subcommand_in_help():
            run_cli(args)
    run_cli(args)
    close_process_group()


def close_process_group() -> None:
    """After a DDP run that ended normally, close its process group before the interpreter exits.
    Lightning does so for NCCL only; a gloo group left to the interpreter's teardown made the process
    abort now and then after the run ("terminate called without an active exception", status -6)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
