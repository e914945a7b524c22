"""``lit-gan evaluate`` of a Stacked MNIST run: the modes and KL of its samples and the floor, the numbers its
StackedModes callback logged for the same latents, with the run's classifier or one given; the refusals."""

import json
from pathlib import Path

import pytest
import yaml
from lightning.pytorch import Trainer

from lit_gan.callbacks import StackedModes
from lit_gan.cli import run_cli
from lit_gan.data import MNIST5k
from lit_gan.data import DigitsDataModule as Digits8
from lit_gan.evaluate import main as evaluate
from lit_gan.metrics import Classifier


@pytest.fixture(scope="module")
def stacked_run(tmp_path_factory):
    """A 2-update Stacked MNIST fit whose StackedModes scored 300 samples at step 2, and its folder."""
    root = tmp_path_factory.mktemp("stacked_run")
    classifier = Classifier(img_shape=(1, 28, 28), num_classes=10)
    Trainer(accelerator="cpu", max_steps=3, logger=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, limit_val_batches=0, default_root_dir=root).fit(classifier, MNIST5k(batch_size=32))
    classifier.trainer.save_checkpoint(root / "classifier.ckpt")
    small = Classifier(img_shape=(1, 8, 8), num_classes=10)
    Trainer(accelerator="cpu", max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, limit_val_batches=0, default_root_dir=root).fit(small, Digits8(batch_size=32))
    small.trainer.save_checkpoint(root / "classifier8.ckpt")
    config = {
        "seed_everything": 0,
        "trainer": {"max_steps": 2, "enable_progress_bar": False, "limit_val_batches": 0, "default_root_dir": str(root),
                    "callbacks": [{"class_path": "lit_gan.callbacks.StackedModes", "init_args": {
                        "num_samples": 300, "batch_size": 100, "every_n_steps": 2, "num_real": 200,
                        "classifier": {"class_path": "lit_gan.metrics.ClassifierFeatures",
                                       "init_args": {"checkpoint_path": str(root / "classifier.ckpt")}}}}]},
        "model": {"class_path": "lit_gan.GAN", "init_args": {
            "latent_dim": 4,
            "generator": {"class_path": "lit_gan.networks.MLPGenerator", "init_args": {"hidden_dims": [16]}},
            "critic": {"class_path": "lit_gan.networks.Packed", "init_args": {
                "pack": 2, "critic": {"class_path": "lit_gan.networks.MLPCritic", "init_args": {"hidden_dims": [16]}}}}}},
        "data": {"class_path": "lit_gan.data.StackedMNIST", "init_args": {"batch_size": 8, "n_train": 64, "n_val": 400}},
    }
    (root / "stacked.yaml").write_text(yaml.safe_dump(config))
    cli = run_cli(["fit", "--config", str(root / "stacked.yaml")])
    (callback,) = [c for c in cli.trainer.callbacks if isinstance(c, StackedModes)]
    return root, Path(cli.trainer.log_dir), {k: float(v) for k, v in callback.last_values.items()}


def test_a_stacked_run_is_scored_by_its_modes_as_its_callback_scored_them(stacked_run, tmp_path, capsys):
    root, run, logged = stacked_run
    out = evaluate(["--checkpoint", str(run), "--num_samples", "300", "--num_real", "200", "--batch_size", "100",
                    "--output", str(tmp_path / "report.json")])
    assert out["metrics"] == pytest.approx(logged, abs=1e-9)  # the same latents, the same weights (step 2)
    assert set(out["metrics"]) == {"stacked_modes", "stacked_kl", "stacked_modes_floor", "stacked_kl_floor",
                                   "stacked_classifier_accuracy"}
    line = capsys.readouterr().out.splitlines()[-1]
    assert line.startswith("protocol: 300 generated (") and "/ 200 real (StackedMNIST val) stacks, modes of 1000" in line
    assert json.loads((tmp_path / "report.json").read_text())["metrics"] == out["metrics"]


def test_the_classifier_can_be_given_and_image_options_are_refused(stacked_run, capsys):
    root, run, logged = stacked_run
    given = ["--feature_extractor.class_path", "lit_gan.metrics.ClassifierFeatures",
             "--feature_extractor.init_args.checkpoint_path", str(root / "classifier.ckpt")]
    out = evaluate(["--checkpoint", str(run), "--num_samples", "300", "--num_real", "200", *given])
    assert out["metrics"]["stacked_modes"] == logged["stacked_modes"]  # batch size apart, the same samples
    with pytest.raises(SystemExit):
        evaluate(["--checkpoint", str(run), "--kid_subsets", "10"])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Expected argument `kid_subsets` to be left out for a checkpoint of stacked digits" in err[0]
    assert "name the metrics (`--metrics [fid, kid]`)" in err[0]
    wrong = ["--feature_extractor.class_path", "lit_gan.metrics.ClassifierFeatures",
             "--feature_extractor.init_args.checkpoint_path", str(root / "classifier8.ckpt")]  # a classifier of 8x8 digits
    with pytest.raises(SystemExit):
        evaluate(["--checkpoint", str(run), *wrong])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Expected argument `feature_extractor` to be a digit classifier of 10 classes on images of" \
        " shape (1, 28, 28)" in err[0], err


def test_naming_metrics_scores_a_stacked_runs_images_by_features(stacked_run, capsys):
    root, run, _ = stacked_run
    given = ["--feature_extractor.class_path", "lit_gan.metrics.ClassifierFeatures",
             "--feature_extractor.init_args.checkpoint_path", str(root / "classifier.ckpt")]
    with pytest.raises(SystemExit):  # the image path: its own checks (a 1-channel classifier, 3-channel stacks)
        evaluate(["--checkpoint", str(run), "--num_samples", "50", "--metrics", "[fid]", *given])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "stacked" not in err[0] and "`feature_extractor`" in err[0], err


def test_without_a_classifier_one_line_says_how_to_give_one(stacked_run, tmp_path, monkeypatch, capsys):
    root, run, _ = stacked_run
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["trainer"]["callbacks"] = []
    moved = tmp_path / "run"
    (moved / "checkpoints").mkdir(parents=True)
    (moved / "config.yaml").write_text(yaml.safe_dump(config))
    (moved / "checkpoints" / "last.ckpt").write_bytes((run / "checkpoints" / "last.ckpt").read_bytes())
    with pytest.raises(SystemExit):
        evaluate(["--checkpoint", str(moved)])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Expected argument `feature_extractor`, the digit classifier that labels each channel" in err[0]
    assert "has no StackedModes callback; give --feature_extractor.class_path lit_gan.metrics.ClassifierFeatures" in err[0]
