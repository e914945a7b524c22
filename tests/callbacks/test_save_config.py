"""The run's whole config reaches TensorBoard (HPARAMS and TEXT), and the progress bar shows
d_loss, g_loss and the family's distance estimate. The shipped quickstart config, end to end."""

import math

import pytest
from tensorboard.plugins.hparams import plugin_data_pb2

from lit_gan import FGAN, GAN, WGAN, WGANGP
from lit_gan.callbacks import CriticLandscape, GradientDiagnostics, ProgressBar, SaveConfigToLogger
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
    assert hparams["model/init_args/g_scheduler/class_path"].string_value == "lit_gan.objectives.LinearToZero"
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
    model = family(n_critic=2, **tiny_networks())
    trainer.fit(model, RingOfGaussians(batch_size=8, n_train=64))
    assert {"d_loss", "g_loss", estimate} <= set(trainer.progress_bar_metrics)  # Lightning's bars: at log steps (each here)
    bar = ProgressBar().get_metrics(trainer, model)  # read when the bar redraws
    assert {"d_loss", "g_loss", estimate} <= set(bar)
    assert all(math.isfinite(bar[k]) for k in ("d_loss", "g_loss", estimate))
    # the progress bar's keys stay out of TensorBoard, which gets them as train/...
    tags = set(read_events(logger).Tags()["scalars"])
    assert {"train/d_loss", "train/g_loss", f"train/{estimate}"} <= tags and "d_loss" not in tags


def test_the_last_sample_quality_values_are_the_runs_hparams_metrics(tmp_path, monkeypatch, digits_classifier):
    import yaml

    from lit_gan.callbacks import ImageQuality

    monkeypatch.chdir(tmp_path)
    networks = {"generator": {"class_path": "lit_gan.networks.DCGANGenerator", "init_args": {"base_channels": 8}},
                "critic": {"class_path": "lit_gan.networks.DCGANCritic", "init_args": {"base_channels": 8}}}
    quality = {"class_path": "lit_gan.callbacks.ImageQuality", "init_args": {
        "feature_extractor": {"class_path": "lit_gan.metrics.ClassifierFeatures",
                              "init_args": {"checkpoint_path": str(digits_classifier)}},
        "num_samples": 40, "batch_size": 20, "every_n_steps": 2, "is_splits": 2, "kid_subsets": 3, "kid_subset_size": 20}}
    config = {"seed_everything": 0,
              "trainer": {"accelerator": "cpu", "max_steps": 4, "enable_progress_bar": False, "limit_val_batches": 0,
                          "callbacks": [quality]},
              "model": {"class_path": "lit_gan.GAN", "init_args": {"latent_dim": 8, **networks}},
              "data": {"class_path": "tests.metrics.helpers.DigitsImages", "init_args": {"batch_size": 16}}}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    cli = run_cli(["fit", "--config", str(tmp_path / "run.yaml")])
    callback = next(c for c in cli.trainer.callbacks if isinstance(c, ImageQuality))
    events = read_events(cli.trainer.logger)

    # the HPARAMS tab's columns: the first experiment summary the run wrote (SaveConfigToLogger's)
    content = events.SummaryMetadata("_hparams_/experiment").plugin_data.content
    columns = [m.name.tag for m in plugin_data_pb2.HParamsPluginData.FromString(content).experiment.metric_infos]
    names = ["fid", "is", "is_std", "kid", "kid_std", "precision", "recall", "density", "coverage"]
    assert columns == ["hp_metric"] + [f"hp/{n}" for n in names]
    # their values: the last evaluation's (step 4), which the tab shows; hp_metric is FID, not Lightning's -1
    logged = scalars(events, "hp")
    assert [s for s, _ in logged["hp/fid"]] == [0, 2, 4] and math.isnan(logged["hp/fid"][0][1])  # declared at step 0
    for name in names:
        step, value = logged[f"hp/{name}"][-1]
        assert step == 4 and value == pytest.approx(float(callback.last_values[name]), rel=1e-6), name
    assert logged["hp_metric"][-1] == (4, pytest.approx(float(callback.last_values["fid"]), rel=1e-6))
    assert logged["hp_metric"][-1][1] != -1 and callback.last_values["fid"] > 0
    # every evaluation is in the logs, though log_every_n_steps (50) is not a multiple of every_n_steps
    assert [s for s, _ in scalars(events, "val/fid")["val/fid"]] == [2, 4]
