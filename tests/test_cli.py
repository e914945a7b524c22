"""The ``lit-gan`` command: every shipped config, --print_config, and bad values refused at parse time."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from lit_gan.cli import run_cli as main
from tests.conftest import REPO
from tests.data.test_mnist5k import write_csv

CONFIGS = sorted(c for c in (REPO / "configs").glob("*.yaml") if c.stem != "stacked_mnist")  # needs a classifier:
# tests/test_stacked_configs.py runs it; the toys are run by tests/test_toy_configs.py, the conditional ring here too
CONFIGS.append(REPO / "configs" / "toys" / "conditional_ring.yaml")


def _overrides(config: Path, roots: dict[str, Path]) -> list[str]:
    """Small data for the image configs: the fake files in torchvision's formats, no download, small batches."""
    data = yaml.safe_load(config.read_text())["data"]["class_path"].rsplit(".", 1)[-1]
    args = ["--data.init_args.batch_size", "2"] if data != "RingOfGaussians" else []
    if data == "MNIST5k":  # a CSV of 100 digits in its format instead of the 5,000 packaged ones
        args += ["--data.init_args.path", str(roots[data]), "--data.init_args.num_workers", "0"]
    elif data in roots:
        args += ["--data.init_args.root", str(roots[data]), "--data.init_args.num_workers", "0"]
        args += ["--data.init_args.download", "false"] if data != "ImageFolderDataModule" else []
    return args


def test_every_family_has_a_shipped_config():
    assert {c.stem for c in CONFIGS} >= {"gan", "nsgan", "wgan", "wgan_gp", "fgan", "quickstart"}


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_every_config_fits_with_fast_dev_run(config, mnist_root, cifar_root, celeba_root, folder_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    n_critic = yaml.safe_load(config.read_text())["model"]["init_args"].get("n_critic", 1)
    roots = {"MNISTDataModule": mnist_root, "CIFAR10DataModule": cifar_root, "CelebADataModule": celeba_root,
             "ImageFolderDataModule": folder_root, "MNIST5k": write_csv(tmp_path / "mnist_small.csv.gz")}
    # fast_dev_run counts batches, each a generator iteration: n_critic critic updates and one generator update
    cli = main(["fit", "--config", str(config), "--trainer.fast_dev_run", "1", "--trainer.accelerator", "cpu"]
               + _overrides(config, roots))
    if config.stem.startswith("classifier"):  # the domain classifier of the evaluation, not a GAN
        assert cli.trainer.global_step == 1 and "train/loss" in cli.trainer.callback_metrics
        return
    assert cli.trainer.global_step == 1
    assert cli.model.critic_steps == n_critic
    for key in ("train/d_loss", "train/g_loss"):
        assert key in cli.trainer.callback_metrics


def test_print_config_shows_the_resolved_config(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(REPO / "configs" / "wgan_gp.yaml"), "--print_config"])
    assert exit_info.value.code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    model = printed["model"]
    assert model["class_path"] == "lit_gan.WGANGP"
    assert model["init_args"]["gp_lambda"] == 10.0 and model["init_args"]["n_critic"] == 5
    assert "latent_dim" not in model["init_args"]["generator"]["init_args"]  # written once, on the model
    assert model["init_args"]["d_optimizer"]["class_path"] == "torch.optim.Adam"


BAD = [
    ("quickstart", ["--model.init_args.n_critic", "0"], "model.init_args.n_critic"),
    ("wgan", ["--model.init_args.clip_value", "0"], "model.init_args.clip_value"),
    ("wgan", ["--model.init_args.clip_value=-0.01"], "model.init_args.clip_value"),
    ("quickstart", ["--model.init_args.gp_lambda=-1"], "model.init_args.gp_lambda"),
    ("fgan", ["--model.init_args.divergence", "chi2"], "model.init_args.divergence"),
    ("quickstart", ["--model.init_args.latent_dim", "0"], "model.init_args.latent_dim"),
    ("quickstart", ["--model.init_args.g_optimizer.init_args.lr", "0"], "model.init_args.g_optimizer.init_args.lr"),
    ("quickstart", ["--model.init_args.d_optimizer.init_args.lr=-1e-4"], "model.init_args.d_optimizer.init_args.lr"),
    ("quickstart", ["--model.init_args.g_optimizer.init_args.lr", "1e-4x"], "model.init_args.g_optimizer.init_args.lr"),
    ("quickstart", ["--model.init_args.generator.init_args.hidden_dims", "x"], "model.init_args.generator.init_args.hidden_dims"),
    ("gan", ["--model.init_args.generator_loss", "hinge"], "model.init_args.generator_loss"),
    ("quickstart", ["--model", "lit_gan.NoSuchGAN"], "model"),
    ("quickstart", ["--model.init_args.generator", "lit_gan.networks.NoSuchNet"], "model.init_args.generator"),
    ("quickstart", ["--trainer.max_steps", "many"], "trainer.max_steps"),
    ("quickstart", ["--data.init_args.batch_size", "0"], "data.init_args.batch_size"),
    ("quickstart", ["--config", "no/such/config.yaml"], "config"),
    ("toys/r3gan", ["--model.init_args.r1_gamma=-1"], "model.init_args.r1_gamma"),
    ("toys/r3gan", ["--model.init_args.ema_decay", "1.0"], "model.init_args.ema_decay"),
    ("toys/r3gan", ["--model.init_args.ema_warmup=-5"], "model.init_args.ema_warmup"),
    ("wgan_gp", ["--model.init_args.generator.init_args.upsampling", "bilinear"],
     "model.init_args.generator.init_args.upsampling"),
    ("quickstart_mnist", ["--model.init_args.critic.init_args.extra_layers=-1"], "model.init_args.critic.init_args.extra_layers"),
    ("quickstart_mnist", ["--model.init_args.code_categories=-1"], "model.init_args.code_categories"),
    ("quickstart_mnist", ["--model.init_args.info_weight=-1"], "model.init_args.info_weight"),
    ("quickstart", ["--seed_everything=-1"], "seed_everything"),
    ("quickstart", ["--seed_everything", "4294967296"], "seed_everything"),
    ("quickstart", ["--trainer.check_val_every_n_epoch", "0"], "trainer.check_val_every_n_epoch"),
    ("quickstart", ["--trainer.limit_train_batches", "abc"], "trainer.limit_train_batches"),
    ("quickstart_mnist", ["--trainer.strategy", "ddp_spawn", "--trainer.devices", "1"], "trainer.strategy"),  # SN
]


@pytest.mark.parametrize("config,args,key", BAD, ids=[" ".join(b[1]) for b in BAD])
def test_bad_values_are_refused_in_one_line_naming_the_key(config, args, key, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(REPO / "configs" / f"{config}.yaml"), *args])
    assert exit_info.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    assert f'Parser key "{key}"' in err[0]
    assert not (tmp_path / "lightning_logs").exists()  # refused before anything ran or was written


@pytest.mark.parametrize("value,expected", [("1", 1), ("0.5", 0.5), ("2.0", 2.0), ("0", 0)])
def test_batch_limits_keep_an_int_an_int(value, expected, tmp_path, monkeypatch, capsys):
    """Lightning reads limit_train_batches 1 as one batch and 1.0 as all of them: `1` must stay an int."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "limits.yaml").write_text(f"trainer:\n  limit_val_batches: {value}\n")
    given = {"limit_train_batches": ["--trainer.limit_train_batches", value], "overfit_batches": ["--trainer.overfit_batches", value],
             "limit_val_batches": ["--config", "limits.yaml"]}
    for key, args in given.items():
        with pytest.raises(SystemExit):
            main(["fit", "--config", str(REPO / "configs" / "quickstart.yaml"), *args, "--print_config"])
        parsed = yaml.safe_load(capsys.readouterr().out)["trainer"][key]
        assert parsed == expected and type(parsed) is type(expected), (key, parsed)


@pytest.mark.parametrize(
    "args,expected",
    [(["--trainer.accelerator", "cuda", "--trainer.devices", "64"], "CUDAAccelerator` can not run|devices"),
     (["--trainer.accelerator", "cpu", "--trainer.devices", "0"], "devices='0'")],
    ids=["more-gpus-than-exist", "zero-devices"],
)
def test_devices_that_do_not_exist_are_one_line(args, expected, capsys, tmp_path, monkeypatch):
    import re

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(REPO / "configs" / "quickstart.yaml"), *args])
    assert exit_info.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and re.search(expected, err[0]), err


@pytest.mark.parametrize(
    "config,args,expected",
    [("wgan_gp", ["--model.init_args.critic.init_args.norm", "batch"], ["`critic`", "BatchNorm"]),
     ("quickstart_mnist", ["--model.init_args.code_categories", "1"], ["`code_categories`", "2 to latent_dim - 1 (63)"])],
    ids=["batch-norm-with-a-penalty", "code-of-one-category"],
)
def test_constraint_needing_several_values_is_one_line_too(config, args, expected, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(REPO / "configs" / f"{config}.yaml"), *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and all(part in err[0] for part in expected), err
    assert not (tmp_path / "lightning_logs").exists()


def test_console_script_is_installed_and_exits_cleanly(tmp_path):
    out = subprocess.run([Path(sys.executable).parent / "lit-gan", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "{fit,validate,test,predict,evaluate,generate,export,configs}" in out.stdout
    config = REPO / "configs" / "quickstart.yaml"
    args = ["fit", "--config", str(config), "--trainer.fast_dev_run", "5", "--trainer.enable_progress_bar", "false"]
    out = subprocess.run([Path(sys.executable).parent / "lit-gan", *args], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "LitGanCLI object" not in out.stderr


def test_validate_test_and_predict_from_a_checkpoint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = str(REPO / "configs" / "quickstart.yaml")
    small = ["--trainer.enable_progress_bar", "false", "--data.init_args.n_train", "2560", "--data.init_args.n_val", "512"]
    fit = main(["fit", "--config", config, "--trainer.max_steps", "4", *small])
    ckpt = fit.trainer.checkpoint_callback.best_model_path
    assert Path(ckpt).name == "epoch=1-step=4.ckpt"  # 2 epochs of 10 batches, 20 critic = 4 generator updates
    for subcommand, key in (("validate", "val/wasserstein"), ("test", "test/wasserstein")):
        cli = main([subcommand, "--config", config, "--ckpt_path", ckpt, *small])
        assert key in cli.trainer.callback_metrics
    cli = main(["predict", "--config", config, "--ckpt_path", ckpt, *small])
    samples = torch.cat(cli.trainer.predict_loop.predictions)
    assert samples.shape == (512, 2)
    # the checkpoint loads with weights_only=True and rebuilds the networks from their class_path
    from lit_gan import WGANGP

    model = WGANGP.load_from_checkpoint(ckpt, weights_only=True)
    state = torch.load(ckpt, weights_only=True)["state_dict"]
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    assert model.n_critic == 5 and model.latent_dim == 2


@pytest.mark.parametrize(
    "config,args,expected",
    [
        ("wgan_gp", ["--data.init_args.download", "false"], "MNIST not found under `root`=.*train-images-idx3-ubyte"),
        ("cifar10_wgan_gp", ["--data.init_args.download", "false"], "CIFAR-10 not found under `root`=.*data_batch_1"),
        ("celeba_wgan_gp", ["--data.init_args.download", "false"], "CelebA not found under `root`=.*list_eval_partition.txt"),
        ("folder_wgan_gp", [], "no images"),
        ("digits_wgan_gp", ["--data.init_args.batch_size", "4000"], "`batch_size` \\(4000\\).*1500 training images"),
        ("wgan_gp", ["--data.init_args.image_size", "30"], "`img_shape`.*\\(1, 30, 30\\)"),
    ],
    ids=["mnist-missing", "cifar-missing", "celeba-missing", "folder-empty", "batch-too-large", "size-unproducible"],
)
def test_data_errors_are_one_line_at_setup(config, args, expected, tmp_path, monkeypatch, capsys):
    import re

    monkeypatch.chdir(tmp_path)
    root = ["--data.init_args.root", str(tmp_path / "nothing")] if config != "digits_wgan_gp" else []
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(REPO / "configs" / f"{config}.yaml"), *root, *args])
    assert exit_info.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and re.search(expected, err[0]), err
    assert not list(tmp_path.glob("lightning_logs/*/checkpoints/*"))  # nothing trained, nothing written


@pytest.mark.parametrize(
    "args,expected",
    [
        (["--model.init_args.g_optimizer.init_args.betas", "[0.5,1.5]"], "`g_optimizer`: Invalid beta parameter at index 1: 1.5"),
        (["--model.init_args.d_optimizer.init_args.weight_decay", "-1"], "`d_optimizer`: Invalid weight_decay value: -1.0"),
        (["--model.init_args.g_scheduler", "torch.optim.lr_scheduler.LinearLR",
          "--model.init_args.g_scheduler.init_args.start_factor", "0"], "`g_scheduler`: Starting multiplicative factor"),
        (["--trainer.gradient_clip_val", "1.0"], "gradient clipping .*manual optimization.*gradient_clip_val=1.0"),
        (["--trainer.accumulate_grad_batches", "4"], "accumulation .*manual optimization.*accumulate_grad_batches=4"),
    ],
    ids=["betas", "weight-decay", "scheduler", "gradient-clip", "accumulate"],
)
def test_optimizer_and_trainer_values_torch_refuses_are_one_line(args, expected, tmp_path, monkeypatch, capsys):
    import re

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(REPO / "configs" / "quickstart.yaml"), "--trainer.max_steps", "2",
              "--trainer.enable_progress_bar", "false", *args])
    assert exit_info.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and re.search(expected, err[0]), err


def test_a_gloo_process_group_is_closed_after_a_run(tmp_path):
    import torch.distributed as dist

    from lit_gan.cli import close_process_group

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    assert dist.is_initialized()
    close_process_group()
    assert not dist.is_initialized()
    close_process_group()  # nothing to close: no error


def test_an_error_in_a_data_loader_worker_is_reported_by_its_own_message():
    """torch re-raises it in the main process as "Caught ConfigError in DataLoader worker process 0.
    Original Traceback ...": the CLI's one line is the original message."""
    from torch.utils.data import DataLoader

    from lit_gan.errors import ConfigError, worker_message
    from tests.helpers import Broken

    with pytest.raises(ConfigError) as info:
        next(iter(DataLoader(Broken(), num_workers=1)))
    assert str(info.value).startswith("Caught ConfigError in DataLoader worker process 0")
    assert worker_message(str(info.value)) == "row 0 of `data_file` is broken"
    assert worker_message("no worker here") == "no worker here"


def test_a_precision_whose_package_is_missing_is_one_line(capsys, tmp_path, monkeypatch):
    import importlib.util

    assert importlib.util.find_spec("transformer_engine") is None  # not a dependency: Lightning refuses it
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(REPO / "configs" / "quickstart.yaml"), "--trainer.precision", "transformer-engine"])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert exit_info.value.code == 2 and len(err) == 1 and "ModuleNotFoundError" in err[0] and "transformer_engine" in err[0], err
