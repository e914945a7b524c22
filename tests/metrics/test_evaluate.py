"""``lit-gan evaluate`` (issue 18, item 4): a folder against a folder gives torch-fidelity's
``calculate_metrics`` values (item 7); a checkpoint against a data module gives what ``lit-gan test``
logs for it; the table, the protocol line and the JSON; bad input in one line."""

import json

import pytest
import torch
import torch_fidelity
import yaml

from lit_gan.cli import main, run_cli
from lit_gan.evaluate import main as evaluate
from lit_gan.metrics.features import FeatureExtractor
from tests.metrics.helpers import DigitsImages
from tests.metrics.test_torch_fidelity_protocol import write_folder

FOLDER_ARGS = ["--is_splits", "4", "--kid_subsets", "7", "--kid_subset_size", "12"]
MANIFOLD = ("precision", "recall", "density", "coverage")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    return write_folder(root / "real", 20, 0), write_folder(root / "fake", 16, 1, shift=40)


def inception(weights, whole_batches: bool = True) -> list[str]:
    """Inception with ``weights``; ``whole_batches``: the network on all 64 images of a batch at once, as
    torch-fidelity runs it (values to the last digit), not 4 at a time (the default on the CPU)."""
    return (["--feature_extractor", "lit_gan.metrics.InceptionFeatures", "--feature_extractor.weights_path", str(weights)]
            + (["--feature_extractor.cpu_batch_size", "null"] if whole_batches else []))


@pytest.mark.filterwarnings("ignore:.*not the standard FID weights")
def test_a_folder_against_a_folder_gives_torch_fidelitys_values(tmp_path, folders, inception_weights, capsys):
    real, fake = folders
    theirs = torch_fidelity.calculate_metrics(
        input1=str(fake), input2=str(real), cuda=False, isc=True, fid=True, kid=True, prc=True, verbose=False,
        isc_splits=4, kid_subsets=7, kid_subset_size=12, feature_extractor_weights_path=str(inception_weights),
        feature_extractor="inception-v3-compat", feature_layer_prc="2048",
    )
    out = tmp_path / "metrics.json"
    main(["evaluate", "--samples", str(fake), "--real", str(real), *inception(inception_weights), *FOLDER_ARGS,
          "--output", str(out)])
    printed = capsys.readouterr().out
    result = json.loads(out.read_text())
    ours = result["metrics"]
    assert ours["fid"] == pytest.approx(theirs["frechet_inception_distance"], rel=1e-6, abs=1e-6)
    for key, their_key in (("is", "inception_score_mean"), ("is_std", "inception_score_std"),
                           ("kid", "kernel_inception_distance_mean"), ("kid_std", "kernel_inception_distance_std"),
                           ("precision", "precision"), ("recall", "recall")):
        assert ours[key] == pytest.approx(theirs[their_key], rel=1e-6), key
    assert ours["kid"] > 0 and ours["is_std"] > 0
    # the table and the protocol line, the same as in the JSON
    for key, value in ours.items():
        assert f"{key}" in printed and f"{value:.6g}" in printed
    line = result["protocol_line"]
    assert f"protocol: {line}" in printed
    p = result["protocol"]
    assert p["num_real"] == 20 and p["num_generated"] == 16 and p["reference_cache"] == "miss"
    assert line.startswith(f"inception-v3-compat (weights sha256 {p['weights_sha256'][:8]}), 20 real")
    assert "TF1 bilinear to 299x299, IS 4 splits, KID 7 subsets of 12, draws torch-fidelity (seed 2020)" in line
    assert "torch-fidelity 0.4" in line
    # the second evaluation reads the real features from the reference cache: the same values
    again = evaluate(["--samples", str(fake), "--real", str(real), *inception(inception_weights), *FOLDER_ARGS,
                  "--num_samples", "16"])
    assert again["protocol"]["reference_cache"] == "hit" and again["metrics"] == ours
    # 4 images at a time (the CPU's default, faster): the same values up to floating-point rounding
    chunked = evaluate(["--samples", str(fake), "--real", str(real), *inception(inception_weights, False), *FOLDER_ARGS,
                        "--reference_cache", "false"])["metrics"]
    assert chunked.keys() == ours.keys()
    for key, value in ours.items():  # a k-NN count could flip at a tie: one of 16 or 20 images
        assert chunked[key] == pytest.approx(value, rel=1e-4, abs=1 / 16 if key in MANIFOLD else 1e-6), key


@pytest.mark.filterwarnings("ignore:.*not the standard FID weights")
def test_cached_samples_give_the_same_values_and_a_second_evaluation_extracts_nothing(folders, inception_weights,
                                                                                       monkeypatch):
    from lit_gan.metrics import InceptionFeatures

    real, fake = folders
    args = ["--samples", str(fake), "--real", str(real), *inception(inception_weights), *FOLDER_ARGS]
    plain = evaluate(args)
    extracted = []
    extract = InceptionFeatures.extract
    monkeypatch.setattr(InceptionFeatures, "extract", lambda self, x: extracted.append(len(x)) or extract(self, x))
    first, second = (evaluate([*args, "--cache_samples", "true"]) for _ in range(2))
    assert plain["protocol"]["samples_cache"] == "off"
    assert [r["protocol"]["samples_cache"] for r in (first, second)] == ["miss", "hit"]
    assert [r["protocol"]["reference_cache"] for r in (first, second)] == ["hit", "hit"]
    assert sum(extracted) == 16  # the first run's generated images, once; the second extracted nothing
    assert first["metrics"] == plain["metrics"] and second["metrics"] == plain["metrics"]  # IS's logits included
    # other samples (the first 12 of the folder) are a miss, not a reuse
    other = evaluate([*args, "--cache_samples", "true", "--num_samples", "12", "--metrics", "[fid]"])
    assert other["protocol"]["samples_cache"] == "miss" and sum(extracted) == 28


class Pooled(FeatureExtractor):
    """Features: the images' pixels averaged to 4 x 4 per channel (48); no logits; says who it is."""

    num_features, num_classes = 48, 0

    def extract(self, images):
        features = torch.nn.functional.adaptive_avg_pool2d(images.float(), 4).flatten(1)
        return features, features.new_zeros(len(features), 0)

    def identity(self):
        return {"extractor": "pooled", "features": "48", "weights_sha256": "none", "resize": "area to 4x4"}


class MeanPooled(Pooled):
    """Features: the images' pixels, averaged over the channels, to 4 x 4 (16): of 1- and 3-channel images alike."""

    num_features = 16

    def extract(self, images):
        return super().extract(images.float().mean(dim=1, keepdim=True))


class Anonymous(Pooled):
    def identity(self):
        raise NotImplementedError


def test_cached_samples_of_an_extractor_without_logits_or_without_identity(folders, tmp_path):
    from lit_gan.evaluate import run

    real, fake = folders
    runs = [run(samples=str(fake), real=str(real), feature_extractor=Pooled(), batch_size=5, cache_samples=cached,
                cache_dir=str(tmp_path)) for cached in (False, True, True)]
    assert [r["protocol"]["samples_cache"] for r in runs] == ["off", "miss", "hit"]
    assert runs[1]["metrics"] == runs[0]["metrics"] == runs[2]["metrics"]  # fed by batches of 5: the same sums
    assert "is" not in runs[0]["metrics"] and runs[0]["metrics"]["fid"] > 0
    with pytest.warns(UserWarning, match="samples cache off: Anonymous has no identity"):
        anonymous = run(samples=str(fake), real=str(real), feature_extractor=Anonymous(), batch_size=5,
                        cache_samples=True, cache_dir=str(tmp_path))
    assert anonymous["protocol"]["samples_cache"] == "off" and anonymous["metrics"] == runs[0]["metrics"]


def fit_config(tmp_path, classifier) -> dict:
    networks = {"generator": {"class_path": "lit_gan.networks.DCGANGenerator", "init_args": {"base_channels": 8}},
                "critic": {"class_path": "lit_gan.networks.DCGANCritic", "init_args": {"base_channels": 8}}}
    quality = {"class_path": "lit_gan.callbacks.ImageQuality", "init_args": {
        "feature_extractor": {"class_path": "lit_gan.metrics.ClassifierFeatures",
                              "init_args": {"checkpoint_path": str(classifier)}},
        "num_samples": 40, "batch_size": 20, "is_splits": 2, "kid_subsets": 3, "kid_subset_size": 20}}
    return {
        "seed_everything": 0,
        "trainer": {"accelerator": "cpu", "max_steps": 3, "logger": False, "enable_progress_bar": False,
                    "limit_val_batches": 0, "default_root_dir": str(tmp_path / "run"), "callbacks": [quality]},
        "model": {"class_path": "lit_gan.WGANGP", "init_args": {"latent_dim": 8, "n_critic": 1, **networks}},
        "data": {"class_path": "tests.metrics.helpers.DigitsImages", "init_args": {"batch_size": 16}},
    }


def test_a_checkpoint_against_a_data_module_gives_what_lit_gan_test_logs(tmp_path, digits_classifier, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "fit.yaml"
    path.write_text(yaml.safe_dump(fit_config(tmp_path, digits_classifier)))
    ckpt = run_cli(["fit", "--config", str(path)]).trainer.checkpoint_callback.best_model_path
    test = run_cli(["test", "--config", str(path), "--ckpt_path", ckpt, "--trainer.default_root_dir", str(tmp_path / "t")])
    logged = test.trainer.callback_metrics
    data = tmp_path / "data.yaml"
    data.write_text(yaml.safe_dump({"data": {"class_path": "tests.metrics.helpers.DigitsImages", "init_args": {"batch_size": 16}}}))
    result = evaluate(["--checkpoint", ckpt, "--config", str(data), "--num_samples", "40", "--batch_size", "20",
                   "--feature_extractor", "lit_gan.metrics.ClassifierFeatures",
                   "--feature_extractor.checkpoint_path", str(digits_classifier),
                   "--is_splits", "2", "--kid_subsets", "3", "--kid_subset_size", "20"])
    assert result["protocol"]["reference_cache"] == "hit"  # the held-out features that lit-gan test stored
    assert result["protocol"]["num_real"] == 297 and result["protocol"]["num_generated"] == 40
    assert "step 3" in result["protocol"]["generated"]
    for key, value in result["metrics"].items():
        assert value == pytest.approx(float(logged[f"test/{key}"]), rel=1e-5, abs=1e-6), key
    # the generated side cached under its images: the same checkpoint and seed again is a hit, another seed a miss
    again = [evaluate(["--checkpoint", ckpt, "--config", str(data), "--num_samples", "40", "--batch_size", "20",
                       "--feature_extractor", "lit_gan.metrics.ClassifierFeatures",
                       "--feature_extractor.checkpoint_path", str(digits_classifier), "--is_splits", "2",
                       "--kid_subsets", "3", "--kid_subset_size", "20", "--cache_samples", "true", "--seed", seed])
             for seed in ("0", "0", "1")]
    assert [r["protocol"]["samples_cache"] for r in again] == ["miss", "hit", "miss"]
    assert again[0]["metrics"] == result["metrics"] and again[1]["metrics"] == result["metrics"]
    assert again[2]["metrics"]["fid"] != result["metrics"]["fid"]


@pytest.mark.parametrize("args,message", [
    ([], "Expected exactly one of the arguments `samples` (a folder) and `checkpoint`, got neither"),
    (["--samples", "{fake}"], "Expected exactly one of the arguments `data` (a data module) and `real` (a folder), got neither"),
    (["--samples", "{fake}", "--real", "{real}", "--num_samples", "17"],
     "Expected argument `num_samples` (17) to be at most the 16 images in"),
    (["--samples", "{real}/000.png", "--real", "{real}"], "`samples` '{real}/000.png' is not a folder of images"),
    (["--samples", "{fake}", "--real", "{real}/none"], "`real` '{real}/none' is not a folder of images"),
    (["--samples", "{fake}", "--real", "{real}", "--num_real", "21"], "Expected argument `num_real` (21) to be at most"),
    (["--checkpoint", "{classifier}", "--real", "{real}"], "is not a checkpoint of a lit-gan GAN fit (it holds no class)"),
    (["--checkpoint", "{real}/notes.txt", "--real", "{real}"], "`checkpoint` {real}/notes.txt"),
    (["--samples", "{fake}", "--real", "{real}", "--device", "cuda:7"], "Expected argument `device` to be a device"),
    (["--samples", "{fake}", "--real", "{real}", "--metrics", "[fid,psnr]"], 'Parser key "metrics"'),
    (["--samples", "{fake}", "--real", "{real}", "--metrics", "[is]", "--is_splits", "17"],
     "Expected argument `is_splits` (17) to be at most the 16 generated images"),
    (["--samples", "{fake}", "--real", "{real}", "--output", "{real}"], "Expected argument `output` to be a file that can be written"),
    (["--samples", "{mixed}", "--real", "{mixed}", "--is_splits", "2"],
     "Expected the images of a folder to be of one size, got (8, 8) and (16, 16)"),
    # the names the user typed, not those of the metrics inside (`splits`, `subsets`, `k`, `sigma`, NumPy's seed)
    (["--samples", "{fake}", "--real", "{real}", "--is_splits", "0"],
     "Expected argument `is_splits` to be an integer >= 1, got 0"),
    (["--samples", "{fake}", "--real", "{real}", "--kid_subsets", "0"],
     "Expected argument `kid_subsets` to be an integer >= 1, got 0"),
    (["--samples", "{fake}", "--real", "{real}", "--precision_k", "0"],
     "Expected argument `precision_k` to be an integer >= 1, got 0"),
    (["--samples", "{fake}", "--real", "{real}", "--density_k", "-1"],
     "Expected argument `density_k` to be an integer >= 1, got -1"),
    (["--samples", "{fake}", "--real", "{real}", "--mmd_sigma", "0"],
     "Expected argument `mmd_sigma` to be > 0, got 0.0"),
    (["--samples", "{fake}", "--real", "{real}", "--draw_seed", "-1"],
     "Expected argument `draw_seed` to be an integer in [0, 2**32 - 1], got -1"),
    (["--samples", "{fake}", "--real", "{real}", "--density_k", "20"],
     "Expected argument `density_k` (20) to be below the 20 real images"),
    (["--samples", "{fake}", "--real", "{real}", "--precision_k", "16"],
     "Expected argument `precision_k` (16) to be below the 16 generated images"),
    # too few images for a value at all (were: a RuntimeError traceback after extracting; KID NaN), before extracting
    (["--samples", "{fake}", "--real", "{real}", "--metrics", "[fid]", "--num_samples", "1"],
     "Expected at least 2 generated images for `fid` (a covariance needs 2), got 1"),
    (["--samples", "{fake}", "--real", "{real}", "--metrics", "[kid]", "--num_real", "1"],
     "Expected at least 2 real images for `kid` (its unbiased estimate needs 2), got 1"),
    (["--samples", "{fake}", "--real", "{real}", "--metrics", "[kid,precision_recall]", "--kid_subset_size", "1"],
     "Expected argument `kid_subset_size` to be an integer >= 2 (KID's unbiased estimate takes pairs of images of a"
     " subset), got 1"),
    # a folder (RGB 24x24, read as grayscale for the 8x8 classifier), or data, of another shape than the extractor's
    (["--samples", "{fake}", "--data", "tests.metrics.helpers.DigitsImages"],
     "Expected the images of `samples` to have shape (1, 8, 8), the shape `feature_extractor` (ClassifierFeatures)"
     " takes, got (1, 24, 24) ({fake}/000.png)"),
    (["--samples", "{fake}", "--real", "{real}"], "Expected the images of `real` to have shape (1, 8, 8)"),
    (["--samples", "{fake}", "--data", "lit_gan.data.MNIST5k"],
     "Expected argument `feature_extractor` to take the images of `data` of shape (1, 28, 28), got a ClassifierFeatures"
     " that takes (1, 8, 8)"),
    (["--checkpoint", "{foreign}", "--real", "{real}"],
     "name 'antigravity.Fly', outside lit_gan, torch.optim and torch.nn, and building the model from them would import"),
    (["--checkpoint", "{callable}", "--real", "{real}"],  # a trusted class, given a function to import and call
     "name 'antigravity.geohash', outside lit_gan, torch.optim and torch.nn, and building the model from them would"),
])
def test_bad_input_is_one_line(tmp_path, folders, digits_classifier, capsys, args, message):
    import sys

    import torch
    from PIL import Image

    real, fake = folders
    mixed = tmp_path / "mixed"  # the classifier's 8x8 images, then one larger
    mixed.mkdir()
    for i in range(6):
        Image.new("L", (8, 8), 40 * i).save(mixed / f"{i:03d}.png")
    Image.new("L", (16, 16)).save(mixed / "big.png")
    foreign = tmp_path / "foreign.ckpt"  # a crafted checkpoint naming a module to import
    torch.save({"state_dict": {}, "hyper_parameters": {"_class_path": "lit_gan.GAN", "generator": {
        "class_path": "antigravity.Fly", "init_args": {}}}}, foreign)
    scheduler = {"class_path": "torch.optim.lr_scheduler.LambdaLR", "init_args": {"lr_lambda": "antigravity.geohash"}}
    torch.save({"state_dict": {}, "hyper_parameters": {"_class_path": "lit_gan.GAN", "g_scheduler": scheduler}},
               tmp_path / "callable.ckpt")
    fill = dict(real=real, fake=fake, classifier=digits_classifier, mixed=mixed, foreign=foreign, callable=tmp_path / "callable.ckpt")
    args = [a.format(**fill) for a in args]
    extractor = ["--feature_extractor", "lit_gan.metrics.ClassifierFeatures", "--feature_extractor.checkpoint_path",
                 str(digits_classifier)]
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", *extractor, "--output", str(tmp_path / "out.json"), *args])
    assert "antigravity" not in sys.modules  # never imported
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1, err
    assert err[0].startswith("lit-gan evaluate: error: ") and message.format(**fill) in err[0], err[0]
    assert not (tmp_path / "out.json").exists()


@pytest.mark.parametrize("extractor,message", [
    ("InceptionFeatures", "Inception v3 weights for FID/IS/KID not found: `weights_path`='{missing}' does not exist."
                          " Expected the file weights-inception-2015-12-05-6726825d.pth"),
    ("CLIPFeatures", "weights for CMMD and FD on CLIP features not found: `weights_path`='{missing}' does not exist"),
    ("DINOv2Features", "weights for FD_DINOv2 not found: `weights_path`='{missing}' does not exist"),
])
def test_missing_weights_are_one_line_naming_the_file(tmp_path, folders, capsys, extractor, message):
    real, fake = folders
    missing = str(tmp_path / "no-weights.pth")
    with pytest.raises(SystemExit) as exit_info:
        evaluate(["--samples", str(fake), "--real", str(real), "--feature_extractor", f"lit_gan.metrics.{extractor}",
                  "--feature_extractor.weights_path", missing])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1 and message.format(missing=missing) in err[0], err


class PredictableDigits(DigitsImages):
    """The 8x8 digits with a predict loader, as lit-gan's data modules have (`lit-gan predict` needs one)."""

    def predict_dataloader(self):
        return torch.utils.data.DataLoader(self.held_out_set, batch_size=self.batch_size)


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory, digits_classifier):
    """(the config of a 2-step fit of a GAN on the 8x8 digits, without callbacks; its checkpoint)."""
    root = tmp_path_factory.mktemp("gan-run")
    config = fit_config(root, digits_classifier)
    config["trainer"].update(max_steps=2, callbacks=[])
    (root / "fit.yaml").write_text(yaml.safe_dump(config))
    return root / "fit.yaml", run_cli(["fit", "--config", str(root / "fit.yaml")]).trainer.checkpoint_callback.best_model_path


FOLDERS = ["--samples", "{fake}", "--real", "{real}"]


@pytest.mark.parametrize("inputs,output,message", [
    # the checkpoint being evaluated (was replaced with the JSON report)
    (["--checkpoint", "{ckpt}", "--num_samples", "20", "--real", "{real}"], "{ckpt}",
     "Expected argument `output` to be another file than the `checkpoint` it evaluates, got '{ckpt}'"),
    (["--checkpoint", "{ckpt}", "--num_samples", "20", "--real", "{real}"], "{link}",  # the same file by another name
     "Expected argument `output` to be another file than the `checkpoint` it evaluates"),
    # an image of a folder read, existing or not (a new one would be read as a sample next time)
    (FOLDERS, "{fake}/003.png", "Expected argument `output` to be outside the images of `samples`"),
    (FOLDERS, "{real}/new.png", "Expected argument `output` to be outside the images of `real`"),
    # any other existing file that is not the report of an earlier evaluate
    (FOLDERS, "{ckpt}", "got '{ckpt}', an existing file (not text): choose another `output`"),
    (FOLDERS, "{notes}", "an existing file (not JSON)"),
    (FOLDERS, "{other}", "an existing file (JSON without the keys metrics, protocol, protocol_line)"),
])
def test_an_output_that_is_an_input_or_another_file_is_refused_before_anything_runs(
        tmp_path, folders, gan_run, capsys, inputs, output, message):
    import os
    import shutil

    real, fake = folders
    ckpt = tmp_path / "gan.ckpt"  # a GAN checkpoint, which evaluate scores against the RGB folder on MeanPooled
    shutil.copy(gan_run[1], ckpt)
    os.symlink(ckpt, tmp_path / "link.ckpt")
    (tmp_path / "notes.json").write_text("run 3: lr 2e-4\n")
    (tmp_path / "other.json").write_text('{"fid": 1.0}\n')
    fill = dict(ckpt=ckpt, link=tmp_path / "link.ckpt", real=real, fake=fake, notes=tmp_path / "notes.json",
                other=tmp_path / "other.json")

    def files():
        return {p: p.read_bytes() for folder in (tmp_path, real, fake) for p in folder.iterdir() if p.is_file()}

    before = files()
    with pytest.raises(SystemExit) as exit_info:
        evaluate([*(a.format(**fill) for a in inputs), "--output", output.format(**fill), "--feature_extractor",
                  "tests.metrics.test_evaluate.MeanPooled", "--is_splits", "2", "--reference_cache", "false"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1 and message.format(**fill) in err[0], err
    assert files() == before  # nothing written, nothing replaced


def test_the_report_of_an_earlier_evaluate_is_replaced_whole_or_not_at_all(folders, tmp_path, monkeypatch):
    import errno

    import lit_gan.checkpoint_io
    from lit_gan.errors import ConfigError
    from lit_gan.evaluate import run

    real, fake = folders
    out = tmp_path / "reports" / "metrics.json"
    first = run(samples=str(fake), real=str(real), feature_extractor=Pooled(), batch_size=5, output=str(out),
                reference_cache=False)
    assert json.loads(out.read_text()) == json.loads(json.dumps(first))
    second = run(samples=str(fake), real=str(real), feature_extractor=Pooled(), batch_size=5, output=str(out),
                 reference_cache=False, metrics=["fid"])  # an earlier report: replaced
    assert json.loads(out.read_text())["metrics"] == second["metrics"] and list(second["metrics"]) == ["fid"]

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(lit_gan.checkpoint_io.os, "fsync", full_disk)  # the disk fills while the report is written
    with pytest.raises(ConfigError, match=f"^cannot write `output` {out}: No space left on device$"):
        run(samples=str(fake), real=str(real), feature_extractor=Pooled(), batch_size=5, output=str(out),
            reference_cache=False)
    assert json.loads(out.read_text())["metrics"] == second["metrics"]  # the earlier report, whole
    assert [p.name for p in out.parent.iterdir()] == ["metrics.json"]  # no temporary file left
    monkeypatch.undo()
    empty = tmp_path / "empty.json"  # made by mktemp, say
    empty.touch()
    run(samples=str(fake), real=str(real), feature_extractor=Pooled(), batch_size=5, output=str(empty),
        reference_cache=False, metrics=["fid"])
    assert list(json.loads(empty.read_text())["metrics"]) == ["fid"]


def test_predicted_grayscale_samples_are_evaluated_with_a_classifier(tmp_path, gan_run, digits_classifier, monkeypatch):
    # the documented workflow: `lit-gan predict` with SampleWriter, then `lit-gan evaluate --samples <folder>`
    import numpy as np
    from PIL import Image

    from lit_gan.data.samples import SampleFolder
    from lit_gan.tensors import to_uint8

    monkeypatch.chdir(tmp_path)
    config, ckpt = gan_run
    run_cli(["predict", "--config", str(config), "--ckpt_path", ckpt, "--trainer.default_root_dir", str(tmp_path),
             "--data", "tests.metrics.test_evaluate.PredictableDigits",
             "--trainer.callbacks+=lit_gan.callbacks.SampleWriter", "--trainer.callbacks.dirpath", "samples",
             "--trainer.callbacks.num_samples", "20"])
    png = tmp_path / "samples" / "png"
    assert {Image.open(p).mode for p in png.glob("*.png")} == {"L"}  # 1-channel PNGs for 1-channel data
    drawn = to_uint8(torch.from_numpy(np.load(tmp_path / "samples" / "samples.npz")["samples"]))
    assert torch.equal(SampleFolder(str(png), channels=1)[3], drawn[3])  # read back as the generator drew them
    result = evaluate(["--samples", str(png), "--data", "tests.metrics.helpers.DigitsImages",
                       "--feature_extractor", "lit_gan.metrics.ClassifierFeatures",
                       "--feature_extractor.checkpoint_path", str(digits_classifier), "--is_splits", "2",
                       "--kid_subsets", "3", "--kid_subset_size", "20", "--reference_cache", "false"])
    assert result["protocol"]["num_generated"] == 20 and result["protocol"]["num_real"] == 297
    assert result["metrics"]["fid"] > 0 and 1 <= result["metrics"]["is"] <= 10
    # SampleWriter's folder itself (was: its grid.png taken as the one sample, then an `is_splits` error)
    from lit_gan.errors import ConfigError
    from lit_gan.data.samples import sample_paths

    with pytest.raises(ConfigError, match=r"`samples` '.*samples' is the output of SampleWriter, whose images are in"
                                          r" its png/ folder .*: give '.*samples/png'"):
        sample_paths(str(tmp_path / "samples"))


def test_fid_of_fewer_images_than_features_is_flagged_in_the_protocol_line_and_the_report(folders, tmp_path, capsys):
    import numpy as np
    from PIL import Image

    real, fake = tmp_path / "real", tmp_path / "fake"
    real.mkdir(), fake.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(real / f"{i}.png")
    for i in range(2):  # two identical images (was: their FID printed and written as any other)
        Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(fake / f"{i}.png")
    out = tmp_path / "metrics.json"
    evaluate(["--samples", str(fake), "--real", str(real), "--feature_extractor", "tests.metrics.test_evaluate.Pooled",
              "--metrics", "[fid,kid]", "--kid_subset_size", "2", "--reference_cache", "false", "--output", str(out)])
    report = json.loads(out.read_text())
    warning = ("FID of 2 generated and 3 real images, fewer than the 48 features: the covariances are singular and the"
               " value biased high, comparable only at the same numbers (published FIDs: 50,000 generated images)")
    assert report["protocol"]["warnings"] == [warning]
    assert report["protocol_line"].endswith(f"; WARNING: {warning}")
    assert f"protocol: {report['protocol_line']}" in capsys.readouterr().out
    # as many images as features (16 generated, 20 real, 16 features): no warning
    enough = evaluate(["--samples", str(folders[1]), "--real", str(folders[0]), "--feature_extractor",
                       "tests.metrics.test_evaluate.MeanPooled", "--metrics", "[fid]", "--reference_cache", "false"])
    assert enough["protocol"]["warnings"] == [] and "WARNING" not in enough["protocol_line"]
