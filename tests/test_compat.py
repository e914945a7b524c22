"""One test per place where lit-gan reaches into Lightning's private state (lit_gan/compat.py), and the
LightningCLI methods lit-gan overrides: each fails when Lightning changes the touchpoint underneath."""

import inspect
import os
import signal
from typing import Union

import pytest
import torch
from jsonargparse.typing import NonNegativeFloat
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.plugins.io import AsyncCheckpointIO
from lightning.pytorch.utilities.exceptions import SIGTERMException
from torch.utils.data import DataLoader, TensorDataset

from lit_gan import compat
from lit_gan.checkpoint_io import AtomicCheckpointIO, use_atomic_checkpoints
from tests.conftest import cpu_trainer


class Tiny(LightningModule):
    """One weight, manual optimization as lit-gan's loop; logs ``x`` at every batch and records ``seen``."""

    def __init__(self, record=lambda trainer: None):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.automatic_optimization = False
        self.record, self.seen = record, []

    def training_step(self, batch, batch_idx):
        opt = self.optimizers()
        loss = (self.w * batch[0]).sum()
        opt.zero_grad()
        self.manual_backward(loss)
        opt.step()
        self.seen.append(self.record(self.trainer))
        self.log("x", float(self.global_step))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self):
        return DataLoader(TensorDataset(torch.ones(8, 1)), batch_size=1)


def test_is_log_step_is_where_the_logger_writes(tmp_path):
    model = Tiny(compat.is_log_step)
    trainer = cpu_trainer(tmp_path, max_steps=7, log_every_n_steps=3, logger=CSVLogger(tmp_path))
    trainer.fit(model)
    written = [int(line.split(",")[1]) for line in (tmp_path / "lightning_logs" / "version_0" / "metrics.csv").read_text().split()[1:]]
    assert [step for step, log in enumerate(model.seen) if log] == written == [2, 5]  # not 6, the last: max_steps is not a stop


def test_wrapped_checkpoint_io_is_what_an_async_plugin_saves_through():
    from lightning.pytorch.plugins.io import TorchCheckpointIO

    base = TorchCheckpointIO()
    assert compat.wrapped_checkpoint_io(AsyncCheckpointIO(base)) is base
    assert compat.wrapped_checkpoint_io(base) is None


def test_the_default_map_location_keeps_a_cpu_tensor_where_it_is():
    storage = torch.ones(2).untyped_storage()
    assert compat.default_map_location()(storage, "cpu") is None  # None: torch.load's own placement
    assert compat.default_map_location()(storage, "cuda:0") is (None if torch.cuda.is_available() else storage)


def test_ends_training_is_true_at_each_epochs_last_batch_and_at_max_steps(tmp_path):
    model = Tiny(compat.ends_training)  # 8 batches an epoch
    cpu_trainer(tmp_path, max_steps=11).fit(model)
    assert [step for step, last in enumerate(model.seen) if last] == [7, 10]


def test_epoch_progress_counts_the_batches_of_the_epoch(tmp_path):
    model = Tiny(lambda trainer: compat.epoch_progress(trainer).processed)
    cpu_trainer(tmp_path, max_steps=10).fit(model)
    assert model.seen == [0, 1, 2, 3, 4, 5, 6, 7, 0, 1]  # during training_step: the batches processed before it


def test_a_sigterm_notifier_replaces_lightnings_and_mark_sigterm_stops_after_the_batch(tmp_path):
    noted = []

    class Install(Callback):
        def on_fit_start(self, trainer, pl_module):
            assert compat.set_sigterm_notifier(trainer, lambda signum, frame: noted.append(signum))

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if batch_idx == 1:
                os.kill(os.getpid(), signal.SIGTERM)  # Lightning's handler, composed with the notifier
            if batch_idx == 3:
                compat.mark_sigterm(trainer)

    trainer = cpu_trainer(tmp_path, max_steps=8, callbacks=[Install()])
    with pytest.raises(SIGTERMException):
        trainer.fit(Tiny())
    assert noted == [signal.SIGTERM]
    # the notifier replaced Lightning's, which is what sets the flag: only mark_sigterm stopped the run
    assert trainer.global_step == 4


def test_the_base_of_a_wrapping_checkpoint_io_is_replaced(tmp_path):
    trainer = Trainer(accelerator="cpu", logger=False, plugins=[AsyncCheckpointIO()], default_root_dir=tmp_path)
    trainer.strategy.connect(Tiny())
    trainer.strategy.checkpoint_io  # Lightning gives the wrapper its base on first access
    use_atomic_checkpoints(trainer)
    assert isinstance(trainer.strategy.checkpoint_io, AsyncCheckpointIO)
    assert type(trainer.strategy.checkpoint_io.checkpoint_io) is AtomicCheckpointIO


@pytest.mark.parametrize("strategy,method", [("ddp_spawn", "spawn"), ("ddp_fork", "fork"), ("ddp", None)])
def test_start_method_of_each_launcher(strategy, method, tmp_path):
    trainer = Trainer(accelerator="cpu", devices=2, strategy=strategy, logger=False, default_root_dir=tmp_path)
    assert compat.start_method(trainer.strategy.launcher) == method


def test_set_typehint_changes_how_an_argument_parses():
    parser = LightningArgumentParser()
    parser.add_lightning_class_args(Trainer, "trainer")
    assert compat.set_typehint(parser._option_string_actions.get("--trainer.limit_train_batches"),
                               Union[int, NonNegativeFloat, None])
    assert parser.parse_args(["--trainer.limit_train_batches", "1"]).trainer.limit_train_batches == 1
    assert parser.parse_args(["--trainer.limit_train_batches", "0.5"]).trainer.limit_train_batches == 0.5
    assert not compat.set_typehint(None, int)


@pytest.mark.parametrize("name,parameters", [("_parse_ckpt_path", ["self"]), ("_run_subcommand", ["self", "subcommand"])])
def test_the_lightning_cli_methods_lit_gan_overrides_are_there(name, parameters):
    # lit_gan/cli.py overrides them to check a checkpoint before Lightning reads it (Lightning 2.6)
    assert list(inspect.signature(getattr(LightningCLI, name)).parameters) == parameters


class Sized(LightningModule):
    def __init__(self, width: int = 2, depth: int = 1):
        super().__init__()
        self.save_hyperparameters()
        self.w = torch.nn.Parameter(torch.zeros(width))


@pytest.mark.parametrize("class_path", [False, True])
def test_config_from_checkpoint_does_what_lightnings_parse_ckpt_path_does(tmp_path, class_path):
    hparams = {"width": 5, "depth": 3, "_instantiator": "lightning.pytorch.cli.instantiate_module"}
    if class_path:
        hparams["_class_path"] = f"{__name__}.Sized"
    checkpoint = {"state_dict": {"w": torch.zeros(5)}, "hyper_parameters": hparams}
    torch.save(checkpoint, tmp_path / "c.ckpt")
    configs = {}

    class Probe(LightningCLI):
        def _parse_ckpt_path(self):
            given = self.config.clone()
            super()._parse_ckpt_path()  # Lightning's: reads the file
            configs["lightning"], self.config = self.config, given
            compat.config_from_checkpoint(self, torch.load(tmp_path / "c.ckpt", weights_only=True))
            configs["lit_gan"] = self.config.clone()  # (the CLI sets its seed in it next)

        def _run_subcommand(self, subcommand):
            pass

    model = ["--model", f"{__name__}.Sized"] if class_path else []  # lit-gan's CLI: a model of any class
    Probe(Sized, args=["validate", *model, "--ckpt_path", str(tmp_path / "c.ckpt")], subclass_mode_model=class_path,
          save_config_kwargs={"overwrite": True}, trainer_defaults={"default_root_dir": str(tmp_path)})
    assert configs["lit_gan"].as_dict() == configs["lightning"].as_dict()
    model = configs["lit_gan"].validate.model
    assert (model.init_args if class_path else model).as_dict() == {"width": 5, "depth": 3}


def test_the_summary_table_loses_its_flops_and_keeps_the_rest():
    from lightning.pytorch.callbacks import ModelSummary
    from lightning.pytorch.utilities.model_summary.model_summary import summarize

    summary = summarize(Tiny(), max_depth=1)
    data = summary._get_summary_data()
    assert [name for name, _ in data][-1] == "FLOPs"  # Lightning 2.6 has the column
    table = compat.summary_table_without_flops(data, summary.total_parameters, summary.trainable_parameters,
                                               summary.model_size, summary.total_training_modes, summary.total_flops)
    assert "FLOPs" not in table and "Total Flops" not in table and "Trainable params" in table and "Params" in table
    assert compat.summary_depth(ModelSummary(max_depth=3)) == 3


def test_a_metrics_sync_switches_make_compute_take_the_states_as_they_are():
    from torchmetrics import SumMetric

    metric = SumMetric()
    metric.update(torch.tensor(2.0))
    assert compat.sync_switches(metric) == (True, True)  # torchmetrics 1.9: compute gathers, then scatters back
    compat.set_sync_switches(metric, False, False)
    assert compat.sync_switches(metric) == (False, False) and float(metric.compute()) == 2.0
    assert not compat.is_synced(metric)
