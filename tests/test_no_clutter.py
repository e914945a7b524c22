"""Only training runs make run folders (issue 37, item 7): validate, test and predict log nowhere unless
given a logger, and write no config.yaml; a run refused at setup leaves nothing behind."""

import pytest

from lit_gan.cli import run_cli
from tests.conftest import REPO

QUICK = ["--config", str(REPO / "configs" / "quickstart.yaml"), "--trainer.enable_progress_bar", "false",
         "--trainer.callbacks", "[]", "--data.init_args.n_train", "1280", "--data.init_args.n_val", "256",
         "--model.init_args.generator.init_args.hidden_dims", "[16]", "--model.init_args.critic.init_args.hidden_dims", "[16]"]


def test_only_the_training_run_has_a_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_cli(["fit", *QUICK, "--trainer.max_steps", "2"])
    ckpt = str(tmp_path / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt")
    for subcommand in ("validate", "test", "predict"):
        run_cli([subcommand, *QUICK, "--ckpt_path", ckpt])
    assert sorted(p.name for p in (tmp_path / "lightning_logs").iterdir()) == ["version_0"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lightning_logs"]  # no config.yaml, no lock, no checkpoints/
    given = run_cli(["validate", *QUICK, "--ckpt_path", ckpt, "--trainer.logger", "lightning.pytorch.loggers.CSVLogger",
                     "--trainer.logger.save_dir", str(tmp_path / "eval")])
    assert given.trainer.logger is not None and (tmp_path / "eval").is_dir()  # a logger given is used


def test_a_refused_fit_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        run_cli(["fit", *QUICK, "--data.init_args.n_train", "10"])  # fewer than one batch
    assert exit_.value.code == 2 and list(tmp_path.iterdir()) == []
