"""The end-of-fit summary: the final sample-quality values, where the logs and checkpoint are, once, on rank 0."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lit_gan.callbacks import MixtureCoverage
from lit_gan.cli import run_cli as main
from tests.conftest import REPO

SMALL = ["--trainer.enable_progress_bar", "false", "--data.init_args.n_train", "2560", "--data.init_args.n_val", "512",
         "--model.init_args.n_critic", "1"]


def test_fit_prints_the_final_metrics_and_paths_once(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    cli = main(["fit", "--config", str(REPO / "configs" / "quickstart.yaml"), "--trainer.max_steps", "6", *SMALL,
                "--trainer.callbacks+=lit_gan.callbacks.MixtureCoverage", "--trainer.callbacks.every_n_steps", "3"])
    out = capsys.readouterr().out
    assert out.count("Finished at generator step 6.") == 1
    coverages = [c for c in cli.trainer.callbacks if isinstance(c, MixtureCoverage)]
    # the quickstart's (every 500 steps: scored at the run's last step) and the one added (every 3)
    assert [c.last_step for c in coverages] == [6, 6]
    assert out.count("(MixtureCoverage, step 6)") == 2
    values = coverages[-1].last_values
    line = next(line for line in out.splitlines() if "(MixtureCoverage, step 6)" in line)
    assert f"val/modes {int(values['modes'])} " in line
    assert re.search(rf"val/hq_fraction {float(values['hq_fraction']):.4g}\b", line)
    logs = re.search(r"logs: +(\S+)", out).group(1)
    ckpt = re.search(r"last checkpoint: +(\S+)", out).group(1)
    assert logs == "lightning_logs/version_0" and Path(logs).is_dir()
    # a default fit writes last.ckpt (for --ckpt_path last): the summary names it
    assert ckpt == "lightning_logs/version_0/checkpoints/last.ckpt" and Path(ckpt).is_file()
    assert Path(ckpt).resolve() == Path(cli.trainer.checkpoint_callback.last_model_path).resolve()
    assert "tensorboard --logdir lightning_logs" in out


def test_without_logger_or_checkpoints_only_what_exists_is_printed(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    main(["fit", "--config", str(REPO / "configs" / "quickstart.yaml"), "--trainer.max_steps", "2", *SMALL,
          "--trainer.logger", "false", "--trainer.enable_checkpointing", "false", "--trainer.callbacks", "[]"])
    out = capsys.readouterr().out
    assert "Finished at generator step 2." in out
    assert "logs:" not in out and "checkpoint:" not in out and "tensorboard" not in out and "val/" not in out


def test_a_csv_logger_gets_no_tensorboard_advice(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    main(["fit", "--config", str(REPO / "configs" / "quickstart.yaml"), "--trainer.max_steps", "2", *SMALL,
          "--trainer.logger", "lightning.pytorch.loggers.CSVLogger", "--trainer.logger.save_dir", "."])
    out = capsys.readouterr().out
    assert re.search(r"logs: +lightning_logs/version_0", out) and "tensorboard" not in out


@pytest.mark.slow
def test_two_processes_print_the_summary_once(tmp_path):
    config = yaml.safe_load((REPO / "configs" / "quickstart.yaml").read_text())
    config["trainer"].update(devices=2, strategy="ddp", max_steps=4, enable_progress_bar=False,
                             callbacks=[{"class_path": "lit_gan.callbacks.MixtureCoverage",
                                         "init_args": {"every_n_steps": 2, "num_samples": 100, "batch_size": 50}}])
    config["model"]["init_args"]["n_critic"] = 1
    config["data"]["init_args"].update(n_train=2560, n_val=512)
    (tmp_path / "ddp.yaml").write_text(yaml.safe_dump(config))
    proc = subprocess.run([sys.executable, "-m", "lit_gan.cli", "fit", "--config", "ddp.yaml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("Finished at generator step 4.") == 1
    assert proc.stdout.count("(MixtureCoverage, step 4)") == 1


def test_a_classifier_run_counts_steps_not_generator_steps(tmp_path, monkeypatch, capsys):
    from tests.data.test_mnist5k import write_csv

    monkeypatch.chdir(tmp_path)
    csv = write_csv(tmp_path / "digits.csv.gz", n_per_class=20)
    main(["fit", "--config", str(REPO / "configs" / "classifier_mnist5k.yaml"), "--data.init_args.path", str(csv),
          "--data.init_args.batch_size", "16", "--trainer.max_steps", "2", "--trainer.accelerator", "cpu",
          "--trainer.enable_progress_bar", "false"])
    out = capsys.readouterr().out
    assert "Finished at step 2." in out and "generator" not in out
