"""Bad checkpoints are refused in one line, before anything is restored, and never run code."""

import shutil

import pytest
import torch

from lit_gan.cli import run_cli
from tests.conftest import REPO

QUICK = ["--trainer.enable_progress_bar", "false", "--data.init_args.n_train", "1280", "--data.init_args.n_val", "256"]


@pytest.fixture(scope="module")
def good_ckpt(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fit")
    import os

    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        fit = run_cli(["fit", "--config", str(REPO / "configs" / "quickstart.yaml"), "--trainer.max_steps", "2", *QUICK])
    finally:
        os.chdir(cwd)
    return fit.trainer.checkpoint_callback.best_model_path


def refused(tmp_path, capsys, ckpt, *extra, config="quickstart.yaml", subcommand="validate"):
    with pytest.raises(SystemExit) as info:
        run_cli([subcommand, "--config", str(REPO / "configs" / config), "--ckpt_path", str(ckpt), *QUICK, *extra])
    assert info.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    return err[0]


def test_the_good_checkpoint_loads(good_ckpt, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cli = run_cli(["validate", "--config", str(REPO / "configs" / "quickstart.yaml"), "--ckpt_path", good_ckpt, *QUICK])
    assert "val/wasserstein" in cli.trainer.callback_metrics
    assert torch.load(good_ckpt, weights_only=True)["lit_gan_family"] == "WGANGP"


def test_a_crafted_pickle_is_refused_without_running_code(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    torch.save({"state_dict": {}, "payload": Evil()}, tmp_path / "evil.ckpt")
    line = refused(tmp_path, capsys, tmp_path / "evil.ckpt")
    assert "refusing to load" in line and "system" in line
    assert not marker.exists()


LAMBDA = "torch.optim.lr_scheduler.LambdaLR"
SMUGGLED = {  # where in the hyperparameters, what jsonargparse would import (or read), what the refusal names
    "class_path": ("generator", {"class_path": "strange_mod.f"}, "strange_mod.f"),
    "callable": ("g_scheduler", {"class_path": LAMBDA, "init_args": {"lr_lambda": "strange_mod.f"}}, "strange_mod.f"),
    "yaml_string": ("generator", "{class_path: strange_mod.f}", "strange_mod.f"),
    "yaml_list": ("g_scheduler", {"class_path": LAMBDA, "init_args": {"lr_lambda": "[strange_mod.f]"}}, "strange_mod.f"),
    "through_a_module_attribute": (  # lit_gan.data.order imports os: jsonargparse resolves os.getcwd
        "g_scheduler", {"class_path": LAMBDA, "init_args": {"lr_lambda": "lit_gan.data.order.os.getcwd"}},
        "lit_gan.data.order.os.getcwd"),
    "a_config_file": ("generator", "gen.yaml", "gen.yaml"),  # read as a config naming strange_mod
}
# jsonargparse reads any string as YAML, not only one that starts with { or [: every form that carries a mapping
YAML_FORMS = {
    "block": "class_path: strange_mod.f\ninit_args: {}",
    "comment_first": "# x\n{class_path: strange_mod.f}",
    "document_marker": "--- {class_path: strange_mod.f}",
    "document_end": "class_path: strange_mod.f\n...\n",
    "tag": "!!map {class_path: strange_mod.f}",
    "indented_block": "  class_path: strange_mod.f\n  init_args: {}",
    "anchor": "base: &b {class_path: strange_mod.f}\nclass_path: lit_gan.networks.MLPGenerator\ninit_args: *b",
    "literal_scalar": "class_path: |-\n  strange_mod.f",
    "folded_scalar": "class_path: >-\n  strange_mod.f",
    "quoted_key": "'class_path': \"strange_mod.f\"",
    "json": '{"class_path": "strange_mod.f", "init_args": {}}',
    "json_with_a_tab": '{"class_path":\t"strange_mod.f"}',  # JSON, and YAML to libyaml, not to safe_load
    # jsonargparse's loader is libyaml's, without timestamps: forms yaml.safe_load alone cannot read
    "tab_after_colon": "class_path:\tstrange_mod.f",
    "tab_in_flow": "{class_path:\tstrange_mod.f}",
    "tab_in_init_args": "class_path: strange_mod.f\ninit_args:\t{a: 1}",
    "invalid_timestamp": "{class_path: strange_mod.f, x: 2001-02-03 25:00:00}",
    "invalid_date_in_list": "[{class_path: strange_mod.f}, 2001-02-29]",
    "deeply_nested": "[" * 600 + "{class_path: strange_mod.f}" + "]" * 600,  # safe_load's recursion fails, libyaml's not
    "str_tag": "!!str strange_mod.f",
}
SMUGGLED.update({f"yaml_{name}": ("critic", text, "strange_mod.f") for name, text in YAML_FORMS.items()})
SMUGGLED["yaml_in_init_args"] = ("generator", {"class_path": "lit_gan.networks.MLPGenerator", "init_args": {
    "hidden_dims": YAML_FORMS["block"]}}, "strange_mod.f")
SMUGGLED["yaml_in_a_class_path"] = ("critic", {"class_path": YAML_FORMS["comment_first"]}, YAML_FORMS["comment_first"])


@pytest.mark.parametrize("where", SMUGGLED)
def test_hyperparameters_naming_another_module_are_refused_before_it_is_imported(good_ckpt, tmp_path, capsys, monkeypatch, where):
    """LightningCLI builds the model from the checkpoint's hyperparameters: a class path, a dotted string
    where a callable goes, YAML in a string, a config file's name: each would be imported (its code run) and called."""
    import sys

    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "strange_mod.py").write_text(f"open({str(tmp_path / 'imported')!r}, 'w').close()\ndef f(*a): pass\n")
    (tmp_path / "gen.yaml").write_text("class_path: strange_mod.f\n")
    checkpoint = torch.load(good_ckpt, weights_only=True)
    key, value, named = SMUGGLED[where]
    checkpoint["hyper_parameters"][key] = value
    torch.save(checkpoint, tmp_path / "foreign.ckpt")
    for subcommand in ("fit", "validate"):
        line = refused(tmp_path, capsys, tmp_path / "foreign.ckpt", subcommand=subcommand)
        assert "refusing `ckpt_path`" in line and f"name {named!r}, outside lit_gan, torch.optim and torch.nn" in line
    assert not (tmp_path / "imported").exists() and "strange_mod" not in sys.modules


BOMB = "".join(f"{c}: &{c} [{', '.join([f'*{p}' if p else 'x'] * 9)}]\n" for p, c in zip(["", *"abcdefgh"], "abcdefghi"))
UNCHECKABLE = {  # what the check cannot walk is refused, not passed (the module is named inside each)
    "alias_bomb": ("critic", BOMB + "j: {class_path: strange_mod.f}", "a string among them expands to 490,329,068 values through its YAML aliases"),
    "shared_references": ("generator", "shared", "expand to more than 100,000 values through shared references"),
    "self_alias": ("critic", "&a [*a, {class_path: strange_mod.f}]", "holds an alias inside its own anchor's value"),
}


@pytest.mark.parametrize("where", UNCHECKABLE)
def test_hyperparameters_that_cannot_be_checked_are_refused(good_ckpt, tmp_path, capsys, monkeypatch, where):
    import sys

    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "strange_mod.py").write_text(f"open({str(tmp_path / 'imported')!r}, 'w').close()\ndef f(*a): pass\n")
    checkpoint = torch.load(good_ckpt, weights_only=True)
    key, value, message = UNCHECKABLE[where]
    if value == "shared":  # a pickle's shared references: 10 lists of the same list, 6 deep, then a class path
        value = [{"class_path": "strange_mod.f"}]
        for _ in range(6):
            value = [value] * 10
    checkpoint["hyper_parameters"][key] = value
    torch.save(checkpoint, tmp_path / "foreign.ckpt")
    line = refused(tmp_path, capsys, tmp_path / "foreign.ckpt")
    assert f"refusing `ckpt_path` {tmp_path / 'foreign.ckpt'}: " in line and message in line, line
    assert not (tmp_path / "imported").exists() and "strange_mod" not in sys.modules


def test_hyperparameters_nested_past_the_recursion_limit_are_refused_not_passed():
    from lit_gan.errors import ConfigError
    from lit_gan.specs import untrusted_import

    nested = [{"class_path": "strange_mod.f"}]
    for _ in range(5000):
        nested = [nested]
    with pytest.raises(ConfigError, match=r"refusing `ckpt_path` x.ckpt: its hyperparameters nest their values too"):
        untrusted_import({"generator": nested}, source="`ckpt_path` x.ckpt")


@pytest.mark.parametrize("network", ["class", "function"])
def test_a_class_the_config_names_may_be_in_the_checkpoint(tmp_path, monkeypatch, network):
    """Your own network (a class, or a function that builds one), named in the config: its checkpoint resumes."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "my_nets.py").write_text("from lit_gan.networks import MLPCritic\nclass Critic(MLPCritic): pass\n"
                                         "def critic(img_shape) -> Critic: return Critic(img_shape, hidden_dims=(16,))\n")
    critic = "my_nets.Critic" if network == "class" else "my_nets.critic"
    args = ["--config", str(REPO / "configs" / "quickstart.yaml"), *QUICK, "--model.init_args.critic", critic]
    fit = run_cli(["fit", *args, "--trainer.max_steps", "2"])
    cli = run_cli(["fit", *args, "--trainer.max_steps", "3", "--ckpt_path", fit.trainer.checkpoint_callback.best_model_path])
    assert type(cli.model.critic).__module__ == "my_nets" and cli.trainer.global_step == 3


def test_a_truncated_checkpoint(good_ckpt, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = open(good_ckpt, "rb").read()
    (tmp_path / "cut.ckpt").write_bytes(data[: len(data) // 2])
    assert "truncated, corrupt" in refused(tmp_path, capsys, tmp_path / "cut.ckpt")


@pytest.mark.parametrize("content", [b"", b"seed_everything: 0\ntrainer:\n  max_steps: 2\n"], ids=["empty", "yaml"])
def test_a_file_of_another_kind(tmp_path, capsys, monkeypatch, content):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "other.ckpt").write_bytes(content)
    line = refused(tmp_path, capsys, tmp_path / "other.ckpt", subcommand="fit")
    assert "`ckpt_path`" in line and "not a readable checkpoint" in line


def test_through_the_cli_a_checkpoint_restores_its_own_family(good_ckpt, tmp_path, monkeypatch):
    # LightningCLI builds the model from the checkpoint's hyperparameters: --model is overridden
    monkeypatch.chdir(tmp_path)
    cli = run_cli(["validate", "--config", str(REPO / "configs" / "quickstart.yaml"), "--ckpt_path", good_ckpt, *QUICK,
                   "--model", "lit_gan.WGAN"])
    assert type(cli.model).__name__ == "WGANGP"


def test_values_the_checkpoint_replaces_are_named_in_a_warning(good_ckpt, tmp_path, monkeypatch):
    import warnings

    monkeypatch.chdir(tmp_path)
    args = ["validate", "--config", str(REPO / "configs" / "quickstart.yaml"), "--ckpt_path", good_ckpt, *QUICK]
    with pytest.warns(UserWarning, match=r"not used: model.init_args.gp_lambda=1.0 \(checkpoint: 0.1\)$"):
        cli = run_cli([*args, "--model.init_args.gp_lambda", "1.0"])
    assert cli.model.gp_lambda == 0.1  # the checkpoint's, as the warning says
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_cli(args)  # the config the checkpoint was trained with: nothing replaced, nothing said
    assert not [w for w in caught if "not used" in str(w.message)]


def test_an_image_config_and_its_own_checkpoint_give_no_warning(tmp_path, monkeypatch):
    # img_shape comes from the data (a link applied at instantiation): not a value the checkpoint replaces
    import warnings

    monkeypatch.chdir(tmp_path)
    config = ["--config", str(REPO / "configs" / "digits_wgan_gp.yaml"), "--trainer.enable_progress_bar", "false"]
    fit = run_cli(["fit", *config, "--trainer.max_steps", "1", "--trainer.limit_val_batches", "0"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_cli(["validate", *config, "--ckpt_path", fit.trainer.checkpoint_callback.best_model_path])
    assert not [str(w.message) for w in caught if "not used" in str(w.message)]


def test_a_checkpoint_of_another_family_or_other_networks(good_ckpt, tmp_path):
    from functools import partial

    from lit_gan import WGAN, WGANGP
    from lit_gan.checkpoints import check_fits, open_checkpoint
    from lit_gan.data import RingOfGaussians
    from lit_gan.errors import ConfigError
    from lit_gan.networks import MLPCritic, MLPGenerator
    from tests.conftest import cpu_trainer

    checkpoint = open_checkpoint(good_ckpt)
    nets = dict(generator=partial(MLPGenerator, hidden_dims=(256,) * 3), latent_dim=2, img_shape=(2,))
    with pytest.raises(ConfigError, match="holds a WGANGP, but the config builds a WGAN"):
        check_fits(checkpoint, good_ckpt, WGAN(critic=partial(MLPCritic, hidden_dims=(256,) * 3), **nets))
    with pytest.raises(ConfigError, match=r"does not fit the model: critic.net.1.weight is \(256, 2\) there, \(64, 2\) here"):
        check_fits(checkpoint, good_ckpt, WGANGP(critic=partial(MLPCritic, hidden_dims=(64,) * 3), **nets))
    # the Python API: Lightning restores it into the other family only over lit-gan's objection
    model = WGAN(critic=partial(MLPCritic, hidden_dims=(256,) * 3), **nets)
    with pytest.raises(ConfigError, match="holds a WGANGP, not a WGAN"):
        cpu_trainer(tmp_path, max_steps=3).fit(model, RingOfGaussians(n_train=512), ckpt_path=good_ckpt)


def test_a_missing_checkpoint(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert "does not exist" in refused(tmp_path, capsys, tmp_path / "nope.ckpt", subcommand="fit")


def test_a_non_lightning_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save({"weights": torch.zeros(3)}, tmp_path / "plain.pt")
    assert "not a Lightning checkpoint" in refused(tmp_path, capsys, tmp_path / "plain.pt", subcommand="test")


LAST = ["--trainer.callbacks+=ModelCheckpoint", "--trainer.callbacks.dirpath=ckpt", "--trainer.callbacks.save_last=true",
        "--trainer.callbacks.save_on_exception=true"]


@pytest.mark.parametrize("kind", ["truncated", "crafted", "other_networks"])
def test_ckpt_path_last_on_a_bad_last_ckpt_is_one_line(good_ckpt, tmp_path, capsys, monkeypatch, kind):
    # Lightning finds last.ckpt itself: lit-gan's CheckpointIO checks it as it loads it, as open_checkpoint does a path
    monkeypatch.chdir(tmp_path)
    last = tmp_path / "ckpt" / "last.ckpt"
    last.parent.mkdir()
    marker = tmp_path / "pwned"
    if kind == "truncated":  # a kill or a full disk during a copy, before lit-gan saved atomically
        data = open(good_ckpt, "rb").read()
        last.write_bytes(data[: len(data) // 2])
    elif kind == "crafted":
        class Evil:
            def __reduce__(self):
                import os

                return (os.system, (f"touch {marker}",))

        torch.save({**torch.load(good_ckpt, weights_only=True), "payload": Evil()}, last)
    else:  # the model is built from the config, here with another critic: Lightning's load would list the mismatches
        shutil.copy(good_ckpt, last)
    before = last.read_bytes()
    other = ["--model.init_args.critic.init_args.hidden_dims=[16,16]"] if kind == "other_networks" else []
    line = refused(tmp_path, capsys, "last", *LAST, *other, subcommand="fit")
    if kind == "truncated":
        assert f"`ckpt_path` {last} is not a readable checkpoint (truncated, corrupt" in line
    elif kind == "other_networks":
        assert f"`ckpt_path` {last} does not fit the model: critic.net.1.weight is (256, 2) there, (16, 2) here" in line
    else:
        assert f"refusing to load `ckpt_path` {last}: it holds more than tensors" in line and "GLOBAL posix.system" in line
        assert "weights_only" not in line and not marker.exists()
    assert last.read_bytes() == before and sorted(p.name for p in last.parent.iterdir()) == ["last.ckpt"]  # untouched


def test_max_steps_below_the_checkpoint_step_is_one_line(good_ckpt, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = refused(tmp_path, capsys, good_ckpt, "--trainer.max_steps", "1", subcommand="fit")
    assert "`trainer.max_steps` (1) is below the step of `ckpt_path` (2)" in line and "give more than 2" in line
    cli = run_cli(["fit", "--config", str(REPO / "configs" / "quickstart.yaml"), *QUICK, "--trainer.max_steps", "2",
                   "--ckpt_path", good_ckpt])  # equal: a finished run resumed (a requeued job) ends at once
    assert cli.trainer.global_step == 2


def test_validate_logs_at_the_checkpoint_step(good_ckpt, tmp_path, monkeypatch):
    """validate/test restore no loop: their x axis is the checkpoint's generator step, not 0."""
    import csv

    monkeypatch.chdir(tmp_path)
    run_cli(["validate", "--config", str(REPO / "configs" / "quickstart.yaml"), *QUICK, "--ckpt_path", good_ckpt,
             "--trainer.logger", "lightning.pytorch.loggers.CSVLogger", "--trainer.logger.save_dir", str(tmp_path)])
    (metrics,) = tmp_path.glob("lightning_logs/version_*/metrics.csv")
    rows = list(csv.DictReader(metrics.open()))
    assert rows and all(row["step"] == "2" for row in rows) and rows[0]["val/wasserstein"]


def test_the_python_api_keeps_lightnings_strict_false_and_the_step_after_a_fit(good_ckpt, tmp_path):
    import warnings

    from lit_gan import WGANGP
    from lit_gan.data import RingOfGaussians
    from tests.conftest import cpu_trainer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's note on the missing keys
        model = WGANGP.load_from_checkpoint(good_ckpt, strict=False, ema_decay=0.9)  # the checkpoint has no average
    assert model.generator_step == 2  # no trainer: the checkpoint's
    trainer = cpu_trainer(tmp_path, max_steps=4, limit_val_batches=1)
    data = RingOfGaussians(n_train=512, n_val=64)
    trainer.fit(WGANGP.load_from_checkpoint(good_ckpt), data, ckpt_path=good_ckpt)
    assert trainer.lightning_module.generator_step == 4
    trainer.validate(trainer.lightning_module, data, verbose=False)  # after the fit: its step, not the checkpoint's
    assert trainer.lightning_module.generator_step == 4
