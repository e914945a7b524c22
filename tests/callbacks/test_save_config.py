"""The run's whole config reaches TensorBoard (HPARAMS and TEXT), and the progress bar shows
d_loss, g_loss and the family's distance estimate. The shipped quickstart config, end to end."""

import math

import pytest
from tensorboard.plugins.hparams import plugin_data_pb2

from lit_gan import FGAN, GAN, WGAN, WGANGP
from lit_gan.callbacks import CriticLandscape, GradientDiagnostics, SaveConfigToLogger
from lit_gan.cli import run_cli
from lit_gan.data import RingOfGaussians
from tests.callbacks.conftest import read_events, scalars, tensorboard
from tests.conftest import REPO, cpu_trainer, tiny_networks


def test_quickstart_logs_its_config_landscape_and_diagnostics(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cli = run_cli([
        "fit", "--config", str(REPO / "configs" / "quickstart.yaml"),
        "--trainer.max_steps", "4", "--trainer.log_every_n_steps", "2", "--trainer.enable_progress_bar", "false",
        "--data.init_args.n_train", "2560", "--data.init_args.n_val", "256",
        "--model.init_args.generator.init_args.hidden_dims", "[32]",
        "--model.init_args.critic.init_args.hidden_dims", "[32]",
    ])
    assert any(isinstance(cb, SaveConfigToLogger) for cb in cli.trainer.callbacks)
    assert {type(cb) for cb in cli.trainer.callbacks} >= {CriticLandscape, GradientDiagnostics}  # from the YAML
    events = read_events(cli.trainer.logger)
    assert (tmp_path / "lightning_logs" / "version_0" / "config.yaml").is_file()  # still written

    # HPARAMS: the first set of hyperparameters the run logged is the whole config, flattened
    content = events.SummaryMetadata("_hparams_/session_start_info").plugin_data.content
    hparams = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
    assert hparams["trainer/max_steps"].number_value == 4
    assert hparams["model/class_path"].string_value == "lit_gan.WGANGP"
    assert hparams["model/init_args/n_critic"].number_value == 5
    assert hparams["model/init_args/gp_lambda"].number_value == 0.1
    assert hparams["model/init_args/g_scheduler/class_path"].string_value == "torch.optim.lr_scheduler.LinearLR"
    assert hparams["data/init_args/n_modes"].number_value == 8
    assert hparams["trainer/callbacks/0/class_path"].string_value == "lit_gan.callbacks.CriticLandscape"
    assert hparams["seed_everything"].number_value == 0
    # TEXT: the YAML
    text = events.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "class_path: lit_gan.WGANGP" in text and "max_steps: 4" in text

    # the callbacks of the shipped config: the final landscape, the diagnostics every 2 steps
    assert [e.step for e in events.Images("critic_landscape")] == [4]
    diagnostics = scalars(events, "diagnostics/")
    assert "diagnostics/critic_input_grad_norm/interpolated" in diagnostics
    assert all([s for s, _ in points] == [2, 4] for points in diagnostics.values())


ESTIMATES = [(GAN, "jsd"), (WGAN, "wasserstein"), (WGANGP, "wasserstein"), (FGAN, "divergence")]


@pytest.mark.parametrize("family,estimate", ESTIMATES)
def test_progress_bar_shows_the_losses_and_the_distance_estimate(tmp_path, family, estimate):
    logger = tensorboard(tmp_path)
    trainer = cpu_trainer(tmp_path, max_steps=2, logger=logger, log_every_n_steps=1)
    trainer.fit(family(n_critic=2, **tiny_networks()), RingOfGaussians(batch_size=8, n_train=64))
    bar = trainer.progress_bar_metrics
    assert {"d_loss", "g_loss", estimate} <= set(bar)
    assert all(math.isfinite(bar[k]) for k in ("d_loss", "g_loss", estimate))
    # the progress bar's keys stay out of TensorBoard, which gets them as train/...
    tags = set(read_events(logger).Tags()["scalars"])
    assert {"train/d_loss", "train/g_loss", f"train/{estimate}"} <= tags and "d_loss" not in tags
