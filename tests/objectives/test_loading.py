"""``lit_gan.load(path)`` (and ``AdversarialModule.load_from_checkpoint``): the trained GAN of a checkpoint of
any family, without naming the family; the same weights and step, in eval mode; a checkpoint naming another
module refused before it is imported."""

import sys

import pytest
import torch

import lit_gan
from lit_gan.cli import run_cli
from lit_gan.errors import ConfigError
from tests.conftest import REPO

TOYS = ["gan", "nsgan", "wgan", "wgan_gp", "hinge_sn", "lsgan", "r3gan", "fgan_kl", "wgan_gp_ema"]  # every family
QUICK = ["--trainer.max_steps", "1", "--trainer.enable_progress_bar", "false", "--trainer.callbacks", "[]",
         "--trainer.limit_val_batches", "0", "--data.init_args.n_train", "1280", "--data.init_args.n_val", "256"]


@pytest.mark.parametrize("toy", TOYS)
def test_load_returns_the_trained_gan_of_any_family(toy, tmp_path, monkeypatch):
    config = REPO / "configs" / "toys" / f"{toy}.yaml"
    monkeypatch.chdir(tmp_path)
    fit = run_cli(["fit", "--config", str(config), *QUICK])
    path = fit.trainer.checkpoint_callback.best_model_path
    for gan in (lit_gan.load(path), lit_gan.AdversarialModule.load_from_checkpoint(path)):
        assert type(gan) is type(fit.model) and not gan.training and gan.generator_step == 1
        trained = fit.model.state_dict()
        assert all(torch.equal(value, trained[key].cpu()) for key, value in gan.state_dict().items())
        z = torch.randn(4, gan.latent_dim)
        assert torch.equal(gan.sample(4, z), fit.model.sample(4, z).cpu())


def test_load_refuses_a_checkpoint_naming_another_module(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "strange_mod.py").write_text(f"open({str(tmp_path / 'imported')!r}, 'w').close()\ndef f(*a): pass\n")
    torch.save({"state_dict": {}, "hyper_parameters": {"_class_path": "lit_gan.WGANGP", "generator": {
        "class_path": "strange_mod.f"}}}, tmp_path / "foreign.ckpt")
    with pytest.raises(ConfigError, match=r"`checkpoint` .*foreign.ckpt names 'strange_mod.f', outside lit_gan"):
        lit_gan.load(str(tmp_path / "foreign.ckpt"))
    assert not (tmp_path / "imported").exists() and "strange_mod" not in sys.modules


def test_load_refuses_a_classifier_checkpoint(tmp_path):
    from lit_gan.metrics import Classifier

    classifier = Classifier(img_shape=(1, 8, 8), num_classes=10)
    torch.save({"state_dict": classifier.state_dict(), "hyper_parameters": {"_class_path": "lit_gan.metrics.Classifier"}},
               tmp_path / "clf.ckpt")
    with pytest.raises(ConfigError, match=r"is not a checkpoint of a lit-gan GAN fit \(it holds lit_gan.metrics.Classifier"):
        lit_gan.load(str(tmp_path / "clf.ckpt"))
