"""The class metrics of a conditional model (issue 38, item 4) through ``ImageQuality`` and ``lit-gan evaluate``:
class accuracy, intra-class FID beside its floor, and CAS beside the same classifier trained on real images,
equal to lit_gan.metrics.conditional's functions called on the same images; their bad inputs in one line."""

import re
from functools import partial

import pytest
import torch
import yaml

from lit_gan import GAN
from lit_gan.callbacks import ImageQuality
from lit_gan.errors import ConfigError
from lit_gan.metrics import (CAS, ClassifierFeatures, ImageQualityMetrics, class_accuracy,
                             classification_accuracy_score, intra_class_fid, intra_class_fid_floor)
from lit_gan.networks import DCGANCritic, DCGANGenerator, Projection
from lit_gan.networks.classifier import ConvClassifier
from lit_gan.tensors import fixed_latents
from tests.callbacks.test_image_quality import digits_gan
from tests.conftest import cpu_trainer
from tests.metrics.helpers import DigitsImages, one_thread

N, BATCH, REAL = 60, 16, 100  # samples (6 a class), per batch, held-out images
BY_CLASS = ("class_accuracy", "intra_fid", "intra_fid_floor", "cas", "cas_real")


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with one_thread():
        yield


class LabelledDigits(DigitsImages):
    """The 8x8 digits that say how many classes they have (a conditional model's data)."""

    num_classes = 10


def conditional_gan() -> GAN:
    torch.manual_seed(0)
    return GAN(generator=partial(DCGANGenerator, base_channels=8),
               critic=partial(Projection, critic=partial(DCGANCritic, base_channels=8)),
               latent_dim=8, img_shape=(1, 8, 8), num_classes=10)


def by_hand(model: GAN, classifier: ClassifierFeatures, batch: int) -> dict[str, float]:
    """The class metrics of ``model``'s N samples (latents of seed 0, sample i of class i mod 10), from the
    functions of lit_gan.metrics.conditional on images prepared here."""
    data = LabelledDigits()
    data.setup()
    z, labels = fixed_latents(N, 8, 0), torch.arange(N) % 10
    fake = torch.cat([model.sample(len(zz), z=zz, labels=yy) for zz, yy in zip(z.split(batch), labels.split(batch))])
    images, classes = data.held_out_set.tensors
    real, real_labels = images[:REAL].float() / 127.5 - 1, classes[:REAL]
    images, classes = data.train_set.tensors  # the first 6 training images of each class, in the set's order
    rows = torch.cat([torch.nonzero(classes == c).flatten()[:6] for c in range(10)]).sort().values
    train, train_labels = images[rows].float() / 127.5 - 1, classes[rows]
    with torch.no_grad():
        (fake_features, logits), (real_features, _), (train_features, _) = map(classifier.extract, (fake, real, train))
    cas = partial(classification_accuracy_score, classifier_factory=lambda: ConvClassifier((1, 8, 8), 10), epochs=1,
                  batch_size=32)
    return {"class_accuracy": float(class_accuracy(logits, labels, 10)["accuracy"]),
            "intra_fid": float(intra_class_fid(fake_features, labels, real_features, real_labels, 10)["intra_fid"]),
            "intra_fid_floor": float(intra_class_fid_floor(train_features, train_labels, real_features, real_labels,
                                                           10)["intra_fid"]),
            "cas": cas(fake, labels, real, real_labels), "cas_real": cas(train, train_labels, real, real_labels),
            "per_class": class_accuracy(logits, labels, 10)["per_class"].tolist()}


def check(values: dict, expected: dict) -> None:
    for key in BY_CLASS:
        assert values[key] == pytest.approx(expected[key], rel=1e-5, abs=1e-9), key
    per_class = [values[f"class_accuracy_{c}"] for c in range(10)]
    assert per_class == pytest.approx(expected["per_class"], abs=1e-9)


def test_class_metrics_in_image_quality_are_the_functions_on_the_same_images(tmp_path, digits_classifier):
    model, classifier = conditional_gan(), ClassifierFeatures(str(digits_classifier))
    callback = ImageQuality(classifier, num_samples=N, batch_size=BATCH, num_real=REAL, reference_cache=False,
                            metrics=["class_accuracy", "intra_fid", CAS(epochs=1, batch_size=32)])
    assert callback.value_names() == ["class_accuracy", "intra_fid", "intra_fid_floor", "cas", "cas_real"]
    trainer = cpu_trainer(tmp_path, callbacks=[callback])
    logged = trainer.test(model, LabelledDigits(batch_size=BATCH), verbose=False)[0]
    first = {k: float(v) for k, v in callback.last_values.items()}
    check(first, by_hand(model, classifier, BATCH))
    assert logged["test/class_accuracy_3"] == pytest.approx(first["class_accuracy_3"])
    line = callback.protocol_line
    assert "class accuracy by classifier" in line and "CAS ConvClassifier, 1 epochs" in line
    # a second evaluation of the same weights: the same samples, the kept real sides, the same values
    assert {k: float(v) for k, v in callback.score(trainer, model).items()} == first


def test_class_metrics_in_evaluate_are_the_functions_on_the_same_images(tmp_path, digits_classifier, monkeypatch,
                                                                        capsys):
    from PIL import Image

    import lit_gan
    from lit_gan.cli import run_cli
    from lit_gan.evaluate import main as evaluate

    monkeypatch.chdir(tmp_path)
    networks = {"generator": {"class_path": "lit_gan.networks.DCGANGenerator", "init_args": {"base_channels": 8}},
                "critic": {"class_path": "lit_gan.networks.Projection", "init_args": {"critic": {
                    "class_path": "lit_gan.networks.DCGANCritic", "init_args": {"base_channels": 8}}}}}
    data = {"class_path": "tests.callbacks.test_image_quality_by_class.LabelledDigits", "init_args": {"batch_size": 16}}
    config = {"seed_everything": 0, "trainer": {"accelerator": "cpu", "max_steps": 1, "logger": False,
                                                "enable_progress_bar": False, "limit_val_batches": 0, "callbacks": []},
              "model": {"class_path": "lit_gan.GAN", "init_args": {"latent_dim": 8, "num_classes": 10, **networks}},
              "data": data}
    (tmp_path / "fit.yaml").write_text(yaml.safe_dump(config))
    ckpt = run_cli(["fit", "--config", str(tmp_path / "fit.yaml")]).trainer.checkpoint_callback.best_model_path
    (tmp_path / "data.yaml").write_text(yaml.safe_dump({"data": data}))
    extractor = ["--feature_extractor", "lit_gan.metrics.ClassifierFeatures", "--feature_extractor.checkpoint_path",
                 str(digits_classifier)]
    result = evaluate(["--checkpoint", ckpt, "--config", str(tmp_path / "data.yaml"), "--num_samples", str(N),
                       "--num_real", str(REAL), "--batch_size", "20", *extractor, "--reference_cache", "false",
                       "--metrics", "[fid, class_accuracy, intra_fid, {class_path: lit_gan.metrics.CAS, init_args:"
                       " {epochs: 1, batch_size: 32}}]"])
    check(result["metrics"], by_hand(lit_gan.load(ckpt), ClassifierFeatures(str(digits_classifier)), 20))
    p = result["protocol"]
    assert p["metrics"] == ["fid", "class_accuracy", "intra_fid", "cas"] and p["settings"]["cas"]["epochs"] == 1
    assert "intra-class FID floor: training vs held-out images, CAS ConvClassifier" in result["protocol_line"]
    # a folder as the real side has no classes: one line, before anything is drawn or extracted
    (tmp_path / "real").mkdir()
    for i in range(30):
        Image.new("L", (8, 8), 8 * i).save(tmp_path / "real" / f"{i:02d}.png")
    with pytest.raises(SystemExit) as exit_info:
        evaluate(["--checkpoint", ckpt, "--real", str(tmp_path / "real"), "--num_samples", str(N), *extractor,
                  "--metrics", "[intra_fid]"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1, err
    assert err[0].startswith("lit-gan evaluate: error: Expected the real images of `intra_fid` to come with their"
                             " classes, but a folder as `real` has none: give `data`"), err[0]


def test_a_classifier_of_other_classes_or_a_model_without_classes_is_one_line(tmp_path, digits_classifier):
    classifier = ClassifierFeatures(str(digits_classifier))  # 10 classes
    with pytest.raises(ConfigError, match=r"^Expected the classifier of `class_accuracy` \(ClassifierFeatures\) to have"
                                          r" the model's 8 classes, got 10: give `classifier`"):
        ImageQualityMetrics(classifier, metrics=["class_accuracy"], num_classes=8)
    for name in ("class_accuracy", "intra_fid", "cas"):  # an unconditional model: at setup, before training
        callback = ImageQuality(classifier, num_samples=20, metrics=[name])
        trainer = cpu_trainer(tmp_path, max_steps=2, callbacks=[callback])
        with pytest.raises(ConfigError, match=rf"^Expected `{name}` to score a class-conditional model's samples by"
                                              r" class, but the model is unconditional \(`num_classes` 0\)$"):
            trainer.fit(digits_gan(), DigitsImages(batch_size=16))
        assert trainer.global_step == 0


def test_more_samples_of_a_class_than_training_images_or_too_few_are_refused_at_setup(tmp_path, digits_classifier):
    classifier = ClassifierFeatures(str(digits_classifier))
    for metrics, n, message in (
        (["cas"], 2000, "Expected at least 200 training images of class 0, as many as the samples of it (the class"
                        " metrics' real-vs-real values), got 151: lower `num_samples`"),
        (["intra_fid"], 19, "Expected at least 20 generated images for `intra_fid` (2 of each of the 10 classes: a"
                            " covariance needs 2), got 19"),
    ):
        callback = ImageQuality(classifier, num_samples=n, metrics=metrics)
        trainer = cpu_trainer(tmp_path, max_steps=2, callbacks=[callback])
        with pytest.raises(ConfigError, match=re.escape(message)):
            trainer.fit(conditional_gan(), LabelledDigits(batch_size=16))
        assert trainer.global_step == 0
