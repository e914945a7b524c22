"""Checkpoints that are whole files but cannot be used as they are: weights only (for fit), edited entries,
NaN or Inf weights, another family. Each is one line (exit 2) before anything is set up or written."""

import math
import os
import re
import shutil

import pytest
import torch

from lit_gan import WGANGP
from lit_gan.cli import run_cli
from lit_gan.data import RingOfGaussians
from lit_gan.errors import ConfigError
from tests.conftest import REPO, cpu_trainer

QUICK = ["--trainer.enable_progress_bar", "false", "--data.init_args.n_train", "1280", "--data.init_args.n_val", "256"]
CONFIG = ["--config", str(REPO / "configs" / "quickstart.yaml"), *QUICK]
# two ModelCheckpoints need different state keys: every_n_train_steps sets the second one apart
WEIGHTS_ONLY = ["--trainer.callbacks+=ModelCheckpoint", "--trainer.callbacks.dirpath=full",
                "--trainer.callbacks+=ModelCheckpoint", "--trainer.callbacks.dirpath=weights",
                "--trainer.callbacks.save_weights_only=true", "--trainer.callbacks.every_n_train_steps=2"]
LAST = ["--trainer.callbacks+=ModelCheckpoint", "--trainer.callbacks.dirpath=ckpt",
        "--trainer.callbacks.save_last=true"]


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    """{"full": a fit's checkpoint at step 2, "weights": that step saved by ModelCheckpoint(save_weights_only=True)}."""
    tmp = tmp_path_factory.mktemp("fit")
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        fit = run_cli(["fit", *CONFIG, "--trainer.max_steps", "2", *WEIGHTS_ONLY])
    finally:
        os.chdir(cwd)
    full, weights = (c.best_model_path for c in fit.trainer.checkpoint_callbacks)
    assert "optimizer_states" in torch.load(full, weights_only=True)
    assert "optimizer_states" not in torch.load(weights, weights_only=True)
    return {"full": full, "weights": weights}


def refused(capsys, subcommand, ckpt, *extra):
    """The one line that `lit-gan <subcommand> --ckpt_path ckpt` ends with (exit 2)."""
    with pytest.raises(SystemExit) as info:
        run_cli([subcommand, *CONFIG, "--ckpt_path", str(ckpt), *extra])
    assert info.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    return err[0]


def edited(ckpts, tmp_path, edit):
    """A copy of the full checkpoint, in tmp_path, changed by ``edit(checkpoint)``."""
    checkpoint = torch.load(ckpts["full"], weights_only=True)
    edit(checkpoint)
    torch.save(checkpoint, tmp_path / "edited.ckpt")
    return tmp_path / "edited.ckpt"


def test_fit_refuses_a_weights_only_checkpoint_before_writing_anything(ckpts, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = refused(capsys, "fit", ckpts["weights"], "--trainer.max_steps", "4")
    assert f"`ckpt_path` {ckpts['weights']} holds weights only (no optimizer_states, lr_schedulers" in line
    assert "`fit` cannot resume from it" in line
    assert "pass `lit_gan.WGANGP.load_from_checkpoint(path)` to `Trainer.fit` without `ckpt_path`" in line
    assert list(tmp_path.iterdir()) == []  # no log folder, no config.yaml, no checkpoint


def test_a_weights_only_last_ckpt_and_the_python_api_are_refused_too(ckpts, tmp_path, capsys, monkeypatch):
    # Lightning finds last.ckpt itself, after lit-gan's parse-time checks: the module's on_load_checkpoint refuses it
    monkeypatch.chdir(tmp_path)
    last = tmp_path / "ckpt" / "last.ckpt"
    last.parent.mkdir()
    shutil.copy(ckpts["weights"], last)
    line = refused(capsys, "fit", "last", "--trainer.max_steps", "4", *LAST)
    assert f"`ckpt_path` {last} holds weights only" in line and "cannot resume" in line
    assert sorted(p.name for p in last.parent.iterdir()) == ["last.ckpt"]  # nothing saved over it or beside it
    trainer = cpu_trainer(tmp_path / "api", max_steps=4)
    with pytest.raises(ConfigError, match=r"holds weights only .* `fit` cannot resume"):
        trainer.fit(WGANGP.load_from_checkpoint(ckpts["weights"]), RingOfGaussians(n_train=512),
                    ckpt_path=ckpts["weights"])


@pytest.mark.parametrize("subcommand", ["validate", "test", "predict"])
def test_validate_test_and_predict_take_a_weights_only_checkpoint(ckpts, tmp_path, monkeypatch, subcommand):
    """Only resuming needs the optimizers' state: the refusal above is fit's alone."""
    monkeypatch.chdir(tmp_path)
    cli = run_cli([subcommand, *CONFIG, "--ckpt_path", ckpts["weights"]])
    if subcommand == "predict":
        assert torch.isfinite(torch.cat(cli.trainer.predict_loop.predictions)).all()
    else:
        stage = "val" if subcommand == "validate" else "test"
        assert torch.isfinite(cli.trainer.callback_metrics[f"{stage}/wasserstein"])
    weights = torch.load(ckpts["weights"], weights_only=True)["state_dict"]
    assert torch.equal(cli.model.state_dict()["generator.net.0.weight"], weights["generator.net.0.weight"])


@pytest.mark.parametrize("value, holds", [("abc", "a str ('abc')"), (3, "an int (3)")])
def test_a_state_dict_entry_that_is_not_a_tensor(ckpts, tmp_path, capsys, monkeypatch, value, holds):
    monkeypatch.chdir(tmp_path)
    ckpt = edited(ckpts, tmp_path, lambda c: c["state_dict"].__setitem__("critic.net.1.bias", value))
    for subcommand in ("validate", "fit"):
        line = refused(capsys, subcommand, ckpt, "--trainer.max_steps", "4")
        assert f"`ckpt_path` {ckpt} was edited or is damaged: its state_dict's critic.net.1.bias holds {holds}," \
               " not a tensor" in line
    assert list(tmp_path.iterdir()) == [ckpt]


@pytest.mark.parametrize("step, holds", [("abc", "a str ('abc')"), (2.5, "a float (2.5)"), (-1, "an int (-1)"),
                                         (None, "a NoneType (None)"), (True, "a bool (True)"),
                                         (torch.zeros(2, 2), "a Tensor (tensor([[0., ... [0., 0.]]))")])
def test_a_global_step_that_is_not_a_count(ckpts, tmp_path, capsys, monkeypatch, step, holds):
    monkeypatch.chdir(tmp_path)
    ckpt = edited(ckpts, tmp_path, lambda c: c.__setitem__("global_step", step))
    expected = f"expected its `global_step` to be an int >= 0 (generator updates so far), got {holds}"
    for subcommand in ("fit", "validate"):
        assert f"`ckpt_path` {ckpt}: {expected}" in refused(capsys, subcommand, ckpt, "--trainer.max_steps", "4")
    assert list(tmp_path.iterdir()) == [ckpt]
    # the Python API: through the same door, which names its argument
    with pytest.raises(ConfigError, match="^" + re.escape(f"`checkpoint_path` {ckpt}: {expected}")):
        WGANGP.load_from_checkpoint(ckpt)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_non_finite_weights_are_refused_at_load(ckpts, tmp_path, capsys, monkeypatch, bad):
    monkeypatch.chdir(tmp_path)

    def poison(checkpoint):
        checkpoint["state_dict"]["generator.net.3.weight"][5, 7] = bad
        checkpoint["state_dict"]["critic.net.4.weight"][0, 0] = bad  # a second one, later: the first is named

    ckpt = edited(ckpts, tmp_path, poison)
    what = "NaN" if math.isnan(bad) else "Inf"
    for subcommand in ("fit", "validate"):
        line = refused(capsys, subcommand, ckpt, "--trainer.max_steps", "4")
        assert f"refusing `ckpt_path` {ckpt}: non-finite weights ({what}) in generator.net.3.weight;" in line
    assert list(tmp_path.iterdir()) == [ckpt]
    with pytest.raises(ConfigError, match=rf"^refusing `checkpoint_path` .*: non-finite weights \({what}\) in generator"):
        WGANGP.load_from_checkpoint(ckpt)


def test_the_family_message_names_the_checkpoints_family_first(ckpts, tmp_path, capsys, monkeypatch):
    """`--ckpt_path last` builds the model from the config (here a WGAN), not from the checkpoint (a WGANGP)."""
    monkeypatch.chdir(tmp_path)
    last = tmp_path / "ckpt" / "last.ckpt"
    last.parent.mkdir()
    shutil.copy(ckpts["full"], last)
    line = refused(capsys, "fit", "last", "--trainer.max_steps", "4", *LAST, "--model", "lit_gan.WGAN")
    assert f"`ckpt_path` {last} holds a WGANGP, not a WGAN (the model loading it): give a checkpoint of a WGAN," in line
    assert sorted(p.name for p in last.parent.iterdir()) == ["last.ckpt"]


@pytest.mark.parametrize("hparams, holds", [(["a", "b"], "a list (['a', 'b'])"), ("abc", "a str ('abc')"),
                                            ({1: "x"}, "a dict ({1: 'x'})")])
def test_hyper_parameters_that_are_not_a_mapping_of_names(ckpts, tmp_path, capsys, monkeypatch, hparams, holds):
    monkeypatch.chdir(tmp_path)
    ckpt = edited(ckpts, tmp_path, lambda c: c.__setitem__("hyper_parameters", hparams))
    line = refused(capsys, "validate", ckpt)
    assert f"`ckpt_path` {ckpt} was edited or is damaged: its hyper_parameters are {holds}, not a mapping" in line, line


def test_a_modules_extra_state_is_not_taken_for_an_edit():
    from lit_gan.checkpoints import check_contents

    check_contents({"state_dict": {"critic.net.0.weight": torch.ones(2), "critic.norm._extra_state": {"n": 3}}}, "x.ckpt")
