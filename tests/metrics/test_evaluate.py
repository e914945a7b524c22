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
    (["--samples", "{fake}", "--real", "{mixed}"], "Expected the images of a folder to be of one size, got (24, 24) and (32, 32)"),
    (["--checkpoint", "{foreign}", "--real", "{real}"],
     "names 'antigravity.Fly', outside lit_gan, torch.optim and torch.nn: evaluate builds no other code"),
    (["--checkpoint", "{callable}", "--real", "{real}"],  # a trusted class, given a function to import and call
     "names 'antigravity.geohash', outside lit_gan, torch.optim and torch.nn: evaluate builds no other code"),
])
def test_bad_input_is_one_line(tmp_path, folders, digits_classifier, capsys, args, message):
    import sys

    import torch
    from PIL import Image

    real, fake = folders
    mixed = write_folder(tmp_path / "mixed", 3, 2)
    Image.new("RGB", (32, 32)).save(mixed / "big.png")
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
