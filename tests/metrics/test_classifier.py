"""The domain classifier: trained on the 8x8 digits, reloaded as a feature extractor for FID and IS."""

from functools import partial

import pytest
import torch

from lit_gan.cli import run_cli
from lit_gan.errors import ConfigError
from lit_gan.metrics import Classifier, ClassifierFeatures, FrechetDistance, InceptionScore, PrecomputedFeatures
from lit_gan.metrics.classifier import ClassifierCheckpointNotFoundError
from lit_gan.networks.classifier import ConvClassifier
from tests.conftest import REPO
from tests.metrics.helpers import DigitsImages


@pytest.fixture(scope="module")
def held_out() -> tuple[torch.Tensor, torch.Tensor]:
    data = DigitsImages()
    data.setup()
    images, labels = data.held_out_set.tensors
    return images.float() / 127.5 - 1, labels  # (297, 1, 8, 8) in [-1, 1], (297,)


def test_the_trained_classifier_reloads_from_its_checkpoint_and_classifies(digits_classifier, held_out):
    extractor = ClassifierFeatures(str(digits_classifier))  # weights_only loading: hyperparameters are plain data
    images, labels = held_out
    features, logits = extractor.extract(images)
    assert features.shape == (297, 128) and logits.shape == (297, 10)
    assert extractor.num_features == 128 and extractor.num_classes == 10
    assert (logits.argmax(1) == labels).float().mean() > 0.9
    uint8 = ((images + 1) * 127.5).round().to(torch.uint8)
    torch.testing.assert_close(extractor.extract(uint8)[0], features)  # uint8 images are converted the same way
    assert not extractor.training and not any(p.requires_grad for p in extractor.parameters())


def test_classifier_features_serve_fid_and_is(digits_classifier, held_out):
    extractor = ClassifierFeatures(str(digits_classifier))
    images, _ = held_out
    first, second = extractor.extract(images[:148])[0], extractor.extract(images[148:])[0]
    noise = extractor.extract(torch.rand(148, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1)[0]

    def fcd(real, fake):
        metric = FrechetDistance(PrecomputedFeatures(128))
        metric.update(real, real=True)
        metric.update(fake, real=False)
        return metric.compute().item()

    # two halves of the held-out digits are close; noise is far
    assert fcd(first, second) < 0.2 * fcd(first, noise)
    score = InceptionScore(PrecomputedFeatures(10), splits=1)
    score.update(extractor.extract(images)[1])
    assert score.compute()[0].item() > 6.0  # confident and balanced over the 10 digits: near 10


def test_missing_checkpoint_and_wrong_shape_are_refused(tmp_path, digits_classifier):
    with pytest.raises(ClassifierCheckpointNotFoundError, match="configs/classifier_mnist.yaml"):
        ClassifierFeatures(str(tmp_path / "none.ckpt"))
    with pytest.raises(ValueError, match=r"shape \(B, 1, 8, 8\)"):
        ClassifierFeatures(str(digits_classifier)).extract(torch.zeros(2, 1, 28, 28))
    (tmp_path / "config.yaml").write_text("trainer: {}\n")  # a file of another kind given by mistake
    with pytest.raises(ConfigError, match="`checkpoint_path` .*config.yaml is not a readable checkpoint"):
        ClassifierFeatures(str(tmp_path / "config.yaml"))
    from lit_gan import WGANGP
    from lit_gan.networks import MLPCritic, MLPGenerator

    gan = WGANGP(generator=MLPGenerator, critic=MLPCritic, latent_dim=2, img_shape=(1, 8, 8))
    torch.save({"state_dict": gan.state_dict(), "hyper_parameters": {}}, tmp_path / "gan.ckpt")
    with pytest.raises(ConfigError, match="^`checkpoint_path` .*gan.ckpt holds a GAN, but ClassifierFeatures reads a"
                                          " classifier: give a checkpoint of a Classifier fit$"):
        ClassifierFeatures(str(tmp_path / "gan.ckpt"))


def test_a_crafted_pickle_as_checkpoint_path_is_refused_and_its_code_never_runs(tmp_path, digits_classifier):
    from tests.metrics.test_inception import RunsCode

    marker = tmp_path / "pwned"
    checkpoint = torch.load(digits_classifier, weights_only=True)
    torch.save({**checkpoint, "payload": RunsCode(marker)}, tmp_path / "evil.ckpt")
    with pytest.raises(ConfigError, match="refusing to load `checkpoint_path` .*evil.ckpt: it holds more than tensors") as info:
        ClassifierFeatures(str(tmp_path / "evil.ckpt"))
    assert not marker.exists()
    assert "\n" not in str(info.value) and "GLOBAL posix.system" in str(info.value) and "weights_only" not in str(info.value)


def test_a_checkpoint_naming_another_module_is_refused_before_it_is_imported(tmp_path, digits_classifier, monkeypatch):
    import sys

    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "strange_net.py").write_text(f"open({str(tmp_path / 'imported')!r}, 'w').close()\nclass Net: pass\n")
    checkpoint = torch.load(digits_classifier, weights_only=True)
    checkpoint["hyper_parameters"]["network"] = {"class_path": "strange_net.Net", "init_args": {}}
    torch.save(checkpoint, tmp_path / "foreign.ckpt")
    with pytest.raises(ConfigError, match="refusing `checkpoint_path` .*foreign.ckpt: its hyperparameters name 'strange_net.Net', outside lit_gan"):
        ClassifierFeatures(str(tmp_path / "foreign.ckpt"))
    assert not (tmp_path / "imported").exists() and "strange_net" not in sys.modules
    with pytest.raises(ConfigError, match="is not a checkpoint of a lit_gan Classifier"):  # trusted: built, not a network
        ClassifierFeatures(str(tmp_path / "foreign.ckpt"), trusted_imports=["strange_net.Net"])
    assert (tmp_path / "imported").exists()


def test_classifier_needs_labels_and_a_network_with_features_and_head():
    model = Classifier(img_shape=(1, 8, 8))
    assert isinstance(model.network, ConvClassifier)
    with pytest.raises(ValueError, match="must yield labels"):
        model.training_step([torch.zeros(2, 1, 8, 8)], 0)
    with pytest.raises(ValueError, match="`features` submodule"):
        Classifier(network=lambda img_shape, num_classes: torch.nn.Linear(1, 1), img_shape=(1, 8, 8))
    with pytest.raises(ValueError, match="Expected argument `img_shape`"):
        ConvClassifier((1, 3, 3))
    bad_betas = Classifier(img_shape=(1, 8, 8), optimizer=partial(torch.optim.Adam, betas=(0.5, 1.5)))
    with pytest.raises(ConfigError, match="`optimizer`: Invalid beta parameter at index 1: 1.5"):
        bad_betas.configure_optimizers()


def test_config_fits_through_the_cli(mnist_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cli = run_cli([
        "fit", "--config", str(REPO / "configs" / "classifier_mnist.yaml"), "--trainer.fast_dev_run", "2",
        "--trainer.accelerator", "cpu", "--data.init_args.root", str(mnist_root), "--data.init_args.download", "false",
        "--data.init_args.batch_size", "8",
    ])
    assert isinstance(cli.model, Classifier)
    assert cli.model.img_shape == (1, 28, 28)  # linked from the data
    assert cli.model.network.features[0].out_channels == 32 and cli.model.num_classes == 10
    assert cli.trainer.global_step == 2
    assert {"train/loss", "train/acc", "val/loss", "val/acc"} <= set(cli.trainer.callback_metrics)
