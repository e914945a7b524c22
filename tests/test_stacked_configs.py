"""Every Stacked MNIST config (configs/stacked_mnist/, issue 40 item 4, and configs/stacked_mnist.yaml) trains
one generator update through the ``lit-gan`` command with a real digit classifier, scores its samples, and is
the setting its header and name say: PacGAN's Table 2 or Table 3 (critic 1/4 or 1/2 of the generator), the
pack of its name."""

import re
from pathlib import Path

import pytest
import yaml
from lightning.pytorch import Trainer
from torch import nn

from lit_gan.callbacks import StackedModes
from lit_gan.cli import run_cli
from lit_gan.data import MNIST5k
from lit_gan.metrics import Classifier
from lit_gan.networks.packing import pack_size
from tests.conftest import REPO

STACKED_DIR = REPO / "configs" / "stacked_mnist"
STACKED = sorted(STACKED_DIR.glob("*.yaml"))
CONFIGS = [*STACKED, REPO / "configs" / "stacked_mnist.yaml"]
OBJECTIVES = {"gan", "pacgan2", "pacgan3", "pacgan4", "wgan_gp", "hinge_sn", "rpgan_r1r2"}
PACKS = {"table2": 64, "table3_quarter": 128, "table3_half": 128}  # packs a batch, PacGAN's batch sizes
CRITIC_SHARE = {"table2": 1, "table3_quarter": 4, "table3_half": 2}  # generator's channels / critic's, layer by layer
ADAM = {"table2": (2e-4, 2e-4, [0.5, 0.999]), "table3_quarter": (1e-4, 2e-4, [0.5, 0.99]),  # PacGAN's code
        "table3_half": (1e-4, 2e-4, [0.5, 0.99])}  # generator lr, critic lr, betas; WGAN-GP: Algorithm 1's


@pytest.fixture(scope="module")
def classifier(tmp_path_factory) -> Path:
    """A digit classifier of 28 x 28 digits as configs/classifier_mnist5k.yaml trains one, after 3 updates."""
    root = tmp_path_factory.mktemp("classifier")
    trainer = Trainer(accelerator="cpu", max_steps=3, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0, default_root_dir=root)
    trainer.fit(Classifier(img_shape=(1, 28, 28), num_classes=10), MNIST5k(batch_size=32))
    trainer.save_checkpoint(root / "classifier_mnist5k.ckpt")
    return root / "classifier_mnist5k.ckpt"


def started(config: Path) -> str:
    """The stem of the config that ``configs/stacked_mnist.yaml`` copies (its header names it), or ``config``'s own."""
    if config.stem != "stacked_mnist":
        return config.stem
    return re.search(r"^# Start here for Stacked MNIST: configs/stacked_mnist/(\w+)\.yaml", config.read_text()).group(1)


def setting(config: Path) -> str:
    stem = started(config)
    return next(s for s in ("table2", "table3_quarter", "table3_half") if stem.startswith(s + "_"))


def test_every_setting_has_every_objective():
    names = {c.stem for c in STACKED}
    assert names == {f"{s}_{o}" for s in PACKS for o in OBJECTIVES}


def measured_kl(config: Path) -> float | None:
    """The mean KL of ``config``'s header figures over seeds 0, 1, 2, or None where it has fewer seeds."""
    found = re.search(r"seeds 0, 1, 2 at 10,000 updates, mean \(min-max\):\n#   [\d.]+ \([\d.-]+\) modes, KL ([\d.]+)",
                      config.read_text())
    return float(found.group(1)) if found else None


def test_the_config_to_start_from_copies_the_quarter_critic_config_of_lowest_kl():
    start = REPO / "configs" / "stacked_mnist.yaml"
    copied = STACKED_DIR / f"{started(start)}.yaml"
    assert copied.stem.startswith("table3_quarter_")  # the hardest setting's (issue 40, item 4)
    assert yaml.safe_load(start.read_text()) == yaml.safe_load(copied.read_text())
    header = start.read_text().split("\nseed_everything")[0]
    own = copied.read_text().split("\nseed_everything")[0].replace(f"configs/stacked_mnist/{copied.name}", f"configs/{start.name}")
    assert own in header  # the copied config's header (its figures), with its own command
    kls = {c.stem: measured_kl(c) for c in STACKED if c.stem.startswith("table3_quarter_")}
    if None in kls.values():  # a config at critic 1/4 without three seeds: the choice may still change
        assert "Provisional" in header
    else:
        assert kls[copied.stem] == min(kls.values())


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem if c.parent.name == "configs" else c.parent.name + "/" + c.stem
                                                 for c in CONFIGS])
def test_stacked_config_trains_one_update_and_scores_it(config, classifier, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = config.read_text()
    header, values = text.split("\nseed_everything")[0], yaml.safe_load(text)
    assert f"lit-gan fit --config configs/{config.relative_to(REPO / 'configs')}" in header
    assert "configs/classifier_mnist5k.yaml" in header
    data, trainer = values["data"]["init_args"], values["trainer"]
    figures = re.search(r"# Our figures \(BENCHMARKS.md, \"Mode collapse on Stacked MNIST\"\), seeds? [0-2, ]+.*"
                        r"at ([\d,]+) updates.*\n#   [\d.]+ .*modes, KL [\d.]+", header)
    assert "# Our figures: not measured yet." in header or figures
    if figures:  # measured at the config's own length
        assert int(figures.group(1).replace(",", "")) == trainer["max_steps"]
    assert data["source"] == "mnist5k" and data["n_train"] == 128_000
    name = started(config)
    pack = int(m.group(1)) if (m := re.search(r"pacgan(\d)$", name)) else 1
    assert data["batch_size"] == PACKS[setting(config)] * pack  # PacGAN's packs a batch
    g, d = (values["model"]["init_args"][f"{n}_optimizer"]["init_args"] for n in "gd")
    adam = (1e-4, 1e-4, [0.5, 0.9]) if name.endswith("wgan_gp") else ADAM[setting(config)]
    assert (g["lr"], d["lr"], g["betas"]) == adam and d["betas"] == adam[2]
    (callback,) = trainer["callbacks"]
    assert callback["init_args"]["every_n_steps"] * 5 == trainer["max_steps"]  # 5 scorings a run

    cli = run_cli(["fit", "--config", str(config), "--trainer.fast_dev_run", "1",
                   "--trainer.enable_progress_bar", "false",
                   "--trainer.callbacks.init_args.classifier.init_args.checkpoint_path", str(classifier),
                   "--trainer.callbacks.init_args.num_samples", "64", "--trainer.callbacks.init_args.batch_size", "64",
                   "--data.init_args.batch_size", str(4 * pack), "--data.init_args.n_train", "256",  # 4 packs a batch
                   "--data.init_args.n_val", "64", "--trainer.default_root_dir", str(tmp_path)])
    model = cli.model
    assert cli.trainer.global_step == 1 and model.critic_steps == model.n_critic
    assert {"train/d_loss", "train/g_loss", "val/stacked_modes", "val/stacked_kl"} <= set(cli.trainer.callback_metrics)
    (scorer,) = [c for c in cli.trainer.callbacks if isinstance(c, StackedModes)]
    assert scorer.last_step == 1 and 1 <= int(scorer.last_values["stacked_modes"]) <= 64

    # the setting: packs of the name's size, the critic's share of the generator's channels
    assert pack_size(model.critic) == pack and model.critic(model.sample(4 * pack)).shape == (4,)  # one score a pack
    generator_channels = model.generator.net[-2].in_channels  # the generator's last hidden layer, at 14 x 14
    critic_channels = next(m for m in model.critic.modules() if isinstance(m, nn.Conv2d)).out_channels  # 1st layer
    assert generator_channels == CRITIC_SHARE[setting(config)] * critic_channels
