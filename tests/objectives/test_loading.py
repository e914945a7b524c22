"""``lit_gan.load(path)`` (and ``AdversarialModule.load_from_checkpoint``): the trained GAN of a checkpoint of
any family, without naming the family; the same weights and step, in eval mode; a checkpoint naming another
module refused before it is imported."""

import io
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
    with pytest.raises(ConfigError, match=r"refusing `checkpoint` .*foreign.ckpt: its hyperparameters name 'strange_mod.f', outside lit_gan"):
        lit_gan.load(str(tmp_path / "foreign.ckpt"))
    assert not (tmp_path / "imported").exists() and "strange_mod" not in sys.modules


def test_load_refuses_a_classifier_checkpoint(tmp_path):
    from lit_gan.metrics import Classifier

    classifier = Classifier(img_shape=(1, 8, 8), num_classes=10)
    torch.save({"state_dict": classifier.state_dict(), "hyper_parameters": {"_class_path": "lit_gan.metrics.Classifier"}},
               tmp_path / "clf.ckpt")
    with pytest.raises(ConfigError, match=r"is not a checkpoint of a lit-gan GAN fit \(it holds lit_gan.metrics.Classifier"):
        lit_gan.load(str(tmp_path / "clf.ckpt"))


def test_a_familys_load_from_checkpoint_refuses_a_module_before_importing_it(tmp_path, monkeypatch):
    """``WGANGP.load_from_checkpoint`` builds the model from the file's hyperparameters too: through the door."""
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "strange_mod.py").write_text(f"open({str(tmp_path / 'imported')!r}, 'w').close()\ndef f(*a, **k): pass\n")
    torch.save({"state_dict": {}, "pytorch-lightning_version": "2.6.6",
                "hyper_parameters": {"generator": {"class_path": "strange_mod.f"},
                                     "critic": {"class_path": "lit_gan.networks.MLPCritic"}}},
               tmp_path / "foreign.ckpt")
    with pytest.raises(ConfigError, match=r"^refusing `checkpoint_path` .*foreign.ckpt: its hyperparameters name"
                                          r" 'strange_mod.f', outside lit_gan.*pass them as `trusted_imports`$"):
        lit_gan.WGANGP.load_from_checkpoint(tmp_path / "foreign.ckpt")
    assert not (tmp_path / "imported").exists() and "strange_mod" not in sys.modules
    with pytest.raises(Exception):  # trusted: past the door, imported, and f builds no network
        lit_gan.WGANGP.load_from_checkpoint(tmp_path / "foreign.ckpt", trusted_imports=["strange_mod.f"])
    assert (tmp_path / "imported").exists()
    del sys.modules["strange_mod"]  # other tests check that it is never imported


def test_every_reader_of_a_checkpoint_file_goes_through_one_door(tmp_path, monkeypatch):
    """``torch.load`` reads a checkpoint file only in ``lit_gan.checkpoints`` (Lightning then reads the vetted
    data from memory): lit_gan.load, load_from_checkpoint of the base and of a family, and ``--ckpt_path``."""
    monkeypatch.chdir(tmp_path)
    fit = run_cli(["fit", "--config", str(REPO / "configs" / "toys" / "wgan_gp.yaml"), *QUICK])
    path = fit.trainer.checkpoint_callback.best_model_path
    readers, load = [], torch.load

    def recording_load(f, *args, **kwargs):
        if not isinstance(f, io.BytesIO):  # a file, not the vetted data in memory
            readers.append(sys._getframe(1).f_code.co_filename)
        return load(f, *args, **kwargs)

    monkeypatch.setattr(torch, "load", recording_load)
    lit_gan.load(path)
    lit_gan.AdversarialModule.load_from_checkpoint(path)
    lit_gan.WGANGP.load_from_checkpoint(path)
    run_cli(["validate", "--config", str(REPO / "configs" / "toys" / "wgan_gp.yaml"), *QUICK[2:], "--ckpt_path", path])
    run_cli(["fit", "--config", str(REPO / "configs" / "toys" / "wgan_gp.yaml"), *QUICK[2:], "--trainer.max_steps", "2",
             "--ckpt_path", "last"])  # the file Lightning finds itself, read through AtomicCheckpointIO
    assert len(readers) >= 6 and {str(REPO / "lit_gan" / "checkpoints.py")} == set(readers), readers


def test_load_from_checkpoint_takes_a_file_object_refuses_hparams_file_and_names_a_bad_url(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fit = run_cli(["fit", "--config", str(REPO / "configs" / "toys" / "wgan_gp.yaml"), *QUICK])
    path = fit.trainer.checkpoint_callback.best_model_path
    with open(path, "rb") as file:  # Lightning takes a file object: so does the door
        gan = lit_gan.WGANGP.load_from_checkpoint(io.BytesIO(file.read()))
    assert all(torch.equal(v, fit.model.state_dict()[k]) for k, v in gan.state_dict().items())
    (tmp_path / "hparams.yaml").write_text("generator: {class_path: strange_mod.f}\n")
    with pytest.raises(ConfigError, match="^Expected argument `hparams_file` to be left out: lit-gan builds"):
        lit_gan.WGANGP.load_from_checkpoint(path, hparams_file=str(tmp_path / "hparams.yaml"))
    with pytest.raises(ConfigError, match=r"^`checkpoint_path` nosuch::proto://x.ckpt cannot be read: "):
        lit_gan.WGANGP.load_from_checkpoint("nosuch::proto://x.ckpt")


def test_the_classifiers_load_from_checkpoint_goes_through_the_door_too(tmp_path, monkeypatch):
    from lit_gan.metrics import Classifier

    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "strange_clf.py").write_text(f"open({str(tmp_path / 'imported')!r}, 'w').close()\nclass Net: pass\n")
    classifier = Classifier(img_shape=(1, 8, 8), num_classes=10)
    torch.save({"state_dict": classifier.state_dict(), "pytorch-lightning_version": "2.6.6",
                "hyper_parameters": {**dict(classifier.hparams), "network": {"class_path": "strange_clf.Net"}}},
               tmp_path / "foreign.ckpt")
    with pytest.raises(ConfigError, match=r"^refusing `checkpoint_path` .*foreign.ckpt: its hyperparameters name"
                                          r" 'strange_clf.Net'"):
        Classifier.load_from_checkpoint(tmp_path / "foreign.ckpt")
    assert not (tmp_path / "imported").exists() and "strange_clf" not in sys.modules
