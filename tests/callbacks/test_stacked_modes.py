"""StackedModes: the modes and KL of generator samples during fit, the floor of the held-out stacks
computed once, in callback_metrics, the HPARAMS metrics and the fit summary; through the CLI with a
trained ClassifierFeatures; and the refusals."""

import math
from functools import partial
from pathlib import Path

import pytest
import torch
import yaml
from lightning.pytorch import Trainer

from lit_gan import WGANGP
from lit_gan.callbacks import FitSummary, StackedModes
from lit_gan.cli import run_cli
from lit_gan.data import MNIST5k, StackedMNIST
from lit_gan.errors import ConfigError
from lit_gan.metrics import Classifier, stacked_modes
from lit_gan.networks import MLPCritic, MLPGenerator, Packed
from tests.conftest import cpu_trainer
from tests.metrics.digit_lookup import DigitLookup


@pytest.fixture(scope="module")
def lookup() -> DigitLookup:
    """Labels MNIST5k's held-out digits exactly; anything else (a generated channel) as digit 0."""
    return DigitLookup(*MNIST5k().load()[1].tensors)


def gan(img_shape=(3, 28, 28)) -> WGANGP:
    return WGANGP(generator=partial(MLPGenerator, hidden_dims=(16,)),
                  critic=partial(Packed, pack=2, critic=partial(MLPCritic, hidden_dims=(16,))), latent_dim=4,
                  img_shape=img_shape)


def test_the_scores_and_the_floor_are_logged_summarized_and_the_floor_computed_once(tmp_path, lookup):
    callback = StackedModes(lookup, num_samples=300, batch_size=128, every_n_steps=1, num_real=250)
    trainer = cpu_trainer(tmp_path, max_steps=2, callbacks=[callback])
    data = StackedMNIST(batch_size=8, n_train=64, n_val=400)
    trainer.fit(gan(), data)
    metrics = trainer.callback_metrics
    # the generator's stacks are no digits the lookup knows: all read as 000, one mode, as collapsed as can be
    assert float(metrics["val/stacked_modes"]) == 1
    assert float(metrics["val/stacked_kl"]) == pytest.approx(math.log(1000))
    floor = stacked_modes(data.held_out_set.modes[:250])  # the first num_real held-out stacks, read right
    assert float(metrics["val/stacked_modes_floor"]) == float(floor["stacked_modes"])
    assert float(metrics["val/stacked_kl_floor"]) == pytest.approx(float(floor["stacked_kl"]), abs=1e-6)
    assert float(metrics["val/stacked_classifier_accuracy"]) == 1.0
    assert float(metrics["hp_metric"]) == pytest.approx(math.log(1000)) and "hp/stacked_modes_floor" in metrics
    assert int(callback.metric.real_counts.sum()) == 250  # two evaluations, the real stacks read once
    assert callback.last_step == 2 and set(callback.last_values) == set(callback.value_names())
    line = FitSummary().lines(trainer, trainer.lightning_module)[1]
    assert "val/stacked_modes 1 | val/stacked_kl 6.908 | val/stacked_modes_floor" in line
    assert "(StackedModes, step 2)" in line


def test_through_the_cli_with_a_trained_classifier(tmp_path, monkeypatch):
    """The callback as a config names it: ClassifierFeatures of a Classifier checkpoint of 28 x 28 digits."""
    monkeypatch.chdir(tmp_path)
    classifier = Classifier(img_shape=(1, 28, 28), num_classes=10)
    trainer = Trainer(accelerator="cpu", max_steps=3, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                      default_root_dir=tmp_path)
    trainer.fit(classifier, MNIST5k(batch_size=32))
    trainer.save_checkpoint(tmp_path / "classifier.ckpt")
    config = {
        "seed_everything": 0,
        "trainer": {"max_steps": 2, "enable_progress_bar": False, "limit_val_batches": 0, "logger": False,
                    "enable_checkpointing": False,
                    "callbacks": [{"class_path": "lit_gan.callbacks.StackedModes", "init_args": {
                        "num_samples": 200, "batch_size": 100, "every_n_steps": 1,
                        "classifier": {"class_path": "lit_gan.metrics.ClassifierFeatures",
                                       "init_args": {"checkpoint_path": str(tmp_path / "classifier.ckpt")}}}}]},
        "model": {"class_path": "lit_gan.GAN", "init_args": {
            "latent_dim": 4,
            "generator": {"class_path": "lit_gan.networks.MLPGenerator", "init_args": {"hidden_dims": [16]}},
            "critic": {"class_path": "lit_gan.networks.Packed", "init_args": {
                "pack": 4,
                "critic": {"class_path": "lit_gan.networks.MLPCritic", "init_args": {"hidden_dims": [16]}}}}}},
        "data": {"class_path": "lit_gan.data.StackedMNIST",
                 "init_args": {"batch_size": 8, "n_train": 64, "n_val": 200}},
    }
    Path("stacked.yaml").write_text(yaml.safe_dump(config))
    cli = run_cli(["fit", "--config", "stacked.yaml"])
    (callback,) = [c for c in cli.trainer.callbacks if isinstance(c, StackedModes)]
    assert callback.last_step == 2 and 1 <= int(callback.last_values["stacked_modes"]) <= 200
    assert 0 <= float(callback.last_values["stacked_classifier_accuracy"]) <= 1
    assert cli.model.critic.pack == 4 and cli.model.critic.critic.net[1].in_features == 4 * 3 * 28 * 28


# ----------------------------------------------------------------- refusals, at setup, in one line
def test_data_that_is_not_stacked_digits_is_refused(tmp_path, lookup):
    trainer = cpu_trainer(tmp_path, max_steps=1, callbacks=[StackedModes(lookup, num_samples=100)])
    with pytest.raises(ConfigError, match=r"Expected `data` to be stacked digits \(lit_gan.data.StackedMNIST: .*\) for"
                                          r" StackedModes, got MNIST5k"):
        trainer.fit(gan(img_shape=(1, 28, 28)), MNIST5k(batch_size=8))


def test_a_classifier_of_another_image_size_is_refused(tmp_path, lookup):
    trainer = cpu_trainer(tmp_path, max_steps=1, callbacks=[StackedModes(lookup, num_samples=100)])
    with pytest.raises(ConfigError, match=r"`classifier` to be a digit classifier of 10 classes on images of shape"
                                          r" \(1, 32, 32\).* on images of shape \(1, 28, 28\)"):
        trainer.fit(gan(img_shape=(3, 32, 32)), StackedMNIST(batch_size=8, n_train=64, n_val=200, image_size=32))


def test_a_floor_of_more_stacks_than_held_out_is_refused(tmp_path, lookup):
    trainer = cpu_trainer(tmp_path, max_steps=1, callbacks=[StackedModes(lookup, num_samples=500)])
    with pytest.raises(ConfigError, match=r"`num_real` \(500; None: `num_samples`\) to be at most the 200 held-out"
                                          r" stacks of StackedMNIST: raise its `n_val`"):
        trainer.fit(gan(), StackedMNIST(batch_size=8, n_train=64, n_val=200))


def test_a_classifier_of_another_class_count_is_refused_at_once():
    five = DigitLookup(torch.zeros(1, 1, 28, 28, dtype=torch.uint8), torch.zeros(1, dtype=torch.long), num_classes=5)
    with pytest.raises(ConfigError, match=r"`classifier` to be a digit classifier of 10 classes"):
        StackedModes(five)
