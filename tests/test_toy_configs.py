"""Every config of configs/toys/ (one per objective family and f-divergence, BENCHMARKS.md "Sample
quality on the toy mixtures") trains through the ``lit-gan`` command, and its header says how to run it."""

import pytest
import yaml

from benchmarks.quality import CONFIGS as BENCHMARKED
from lit_gan.cli import run_cli as main
from tests.conftest import REPO

TOYS = sorted((REPO / "configs" / "toys").glob("*.yaml"))


def test_the_benchmark_runs_every_toy_config():
    assert sorted(BENCHMARKED) == [c.stem for c in TOYS]


@pytest.mark.parametrize("config", TOYS, ids=[c.stem for c in TOYS])
def test_toy_config_trains_two_generator_updates(config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    values = yaml.safe_load(config.read_text())
    assert f"lit-gan fit --config configs/toys/{config.name}" in config.read_text().split("\nseed_everything")[0]
    init = values["model"]["init_args"]
    # both rates decay to zero at max_steps, whatever it is set to (no second number to keep in step)
    assert init["g_scheduler"] == init["d_scheduler"] == {"class_path": "lit_gan.objectives.LinearToZero"}
    n_critic = init.get("n_critic", 1)
    cli = main(["fit", "--config", str(config), "--trainer.max_steps", "2", "--trainer.limit_val_batches", "1",
                "--trainer.callbacks.init_args.every_n_steps", "2",
                "--trainer.enable_progress_bar", "false", "--trainer.logger", "false",
                "--trainer.enable_checkpointing", "false", "--trainer.default_root_dir", str(tmp_path)])
    assert cli.trainer.global_step == 2 and cli.model.critic_steps == 2 * n_critic
    metrics = cli.trainer.callback_metrics
    for key in ("train/d_loss", "train/g_loss", "val/modes", "val/hq_fraction"):  # MixtureCoverage at the end
        assert key in metrics, key
    assert 0 <= metrics["val/modes"] <= len(cli.datamodule.centers)
