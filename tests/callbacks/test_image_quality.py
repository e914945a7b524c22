"""The evaluation callbacks: in a short fit, in test, and under 2-process CPU DDP (the same values as 1 process)."""

import math
import os
import re
import subprocess
import sys
from functools import partial

import pytest
import torch
from lightning.pytorch import Callback, seed_everything
from lightning.pytorch.demos.boring_classes import BoringDataModule, BoringModel

from lit_gan import GAN
from lit_gan.callbacks.image_quality import ImageQuality, MixtureCoverage, shard, to_model
from lit_gan.data import RingOfGaussians
from lit_gan.metrics import ClassifierFeatures
from lit_gan.networks import DCGANCritic, DCGANGenerator, MLPCritic
from tests.conftest import REPO, cpu_trainer
from tests.metrics.helpers import DigitsImages, MixtureSampler, one_thread

KEYS = ("fid", "is", "is_std", "kid", "kid_std", "precision", "recall", "density", "coverage")


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with one_thread():  # small tensors on shared cores, as in tests/metrics
        yield


def digits_gan() -> GAN:
    return GAN(generator=partial(DCGANGenerator, base_channels=8), critic=partial(DCGANCritic, base_channels=8),
               latent_dim=8, img_shape=(1, 8, 8))


def image_quality(checkpoint, **kwargs) -> ImageQuality:
    args = dict(num_samples=48, batch_size=16, is_splits=2, kid_subsets=5, kid_subset_size=20)
    return ImageQuality(ClassifierFeatures(str(checkpoint)), **{**args, **kwargs})


def test_shards_cover_every_item_once():
    for n, world in ((97, 2), (10, 3), (4, 4)):
        ranges = [shard(n, r, world) for r in range(world)]
        assert ranges[0][0] == 0 and ranges[-1][1] == n
        assert all(a[1] == b[0] and a[1] > a[0] for a, b in zip(ranges, ranges[1:]))


class Plus1Model(BoringModel):
    def on_before_batch_transfer(self, batch, dataloader_idx):
        return batch + 1


class Times2Data(BoringDataModule):
    def on_after_batch_transfer(self, batch, dataloader_idx):
        return batch * 2


class Minus3Data(Times2Data):
    def on_before_batch_transfer(self, batch, dataloader_idx):
        return batch - 3


@pytest.mark.filterwarnings("ignore:You have overridden `on_before_batch_transfer`")  # on purpose
@pytest.mark.parametrize("data", [Times2Data, Minus3Data])
def test_held_out_batches_go_through_the_hooks_lightning_picks(tmp_path, data):
    # each of the three hooks is the data module's when it overrides it, else the model's: as Lightning's own helper
    seen = []

    class Compare(Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            held_out = next(iter(trainer.datamodule.val_dataloader()))
            ours = to_model(held_out, trainer, pl_module)
            theirs = pl_module._apply_batch_transfer_handler(pl_module._on_before_batch_transfer(held_out))
            seen.append((ours, theirs, held_out))

    cpu_trainer(tmp_path, max_steps=1, callbacks=[Compare()]).fit(Plus1Model(), data())
    ours, theirs, raw = seen[0]
    assert torch.equal(ours, theirs)
    assert torch.equal(ours, (raw - 3) * 2 if data is Minus3Data else (raw + 1) * 2)


def test_image_quality_in_a_short_fit(tmp_path, digits_classifier):
    seed_everything(0)
    model, callback = digits_gan(), image_quality(digits_classifier, every_n_steps=2)
    calls = []

    def spy(trainer, pl_module, stage="val"):
        values = ImageQuality.evaluate(callback, trainer, pl_module, stage)
        calls.append((trainer.global_step, pl_module.generator.training))  # the generator is back in train mode
        return values

    callback.evaluate = spy
    trainer = cpu_trainer(tmp_path, max_steps=4, callbacks=[callback])
    trainer.fit(model, DigitsImages(batch_size=16))
    assert calls == [(2, True), (4, True)]
    metrics = trainer.callback_metrics
    assert all(f"val/{k}" in metrics for k in KEYS)
    assert metrics["val/fid"] > 0 and 1 <= metrics["val/is"] <= 10 and math.isfinite(metrics["val/kid"])
    # the real features were extracted once (all 297 held-out images), and kept
    fid = callback.metric.fid
    assert int(fid.real_features_num_samples) == 297 and int(fid.fake_features_num_samples) == 0
    # fixed latents and kept real statistics: scoring the same weights twice gives the same values
    first, second = callback.score(trainer, model), callback.score(trainer, model)
    assert all(torch.equal(first[k], second[k]) for k in KEYS)
    assert first["fid"].dtype == torch.float64


def test_a_second_run_loads_the_held_out_features_from_the_reference_cache(tmp_path, digits_classifier):
    values, hits, passes = [], [], []
    for cache in (True, True, False):
        seed_everything(0)
        model, callback = digits_gan(), image_quality(digits_classifier, reference_cache=cache, cache_dir=str(tmp_path / "c"))
        extractor = callback.feature_extractor
        calls = []
        original = extractor.extract
        extractor.extract = lambda images: calls.append(len(images)) or original(images)
        values.append(cpu_trainer(tmp_path, callbacks=[callback]).test(model, DigitsImages(batch_size=16), verbose=False)[0])
        hits.append(callback.cache_hit), passes.append(sum(calls))
    assert hits == [False, True, None]
    assert passes == [297 + 48, 48, 297 + 48]  # the second run extracted only its generated samples
    assert values[0] == values[1] == values[2]
    assert len(list((tmp_path / "c").glob("*.pt"))) == 1


def test_a_changed_data_file_is_a_cache_miss(tmp_path, digits_classifier):
    import numpy as np
    from PIL import Image

    from lit_gan.data import ImageFolderDataModule

    root = tmp_path / "images"
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(40):
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8), mode="L").save(root / f"{i:02d}.png")

    def run():
        seed_everything(0)
        callback = image_quality(digits_classifier, num_samples=16, batch_size=8, kid_subset_size=8,
                                 cache_dir=str(tmp_path / "cache"))
        data = ImageFolderDataModule(root=str(root), image_size=8, channels=1, held_out_fraction=0.25, batch_size=8)
        values = cpu_trainer(tmp_path, callbacks=[callback]).test(digits_gan(), data, verbose=False)[0]
        return callback.cache_hit, values

    (hit1, first), (hit2, second) = run(), run()
    held_out = ImageFolderDataModule(root=str(root), image_size=8, channels=1, held_out_fraction=0.25, batch_size=8)
    held_out.setup()
    changed = held_out.held_out_set.paths[0]  # a file of the held-out split, rewritten with other pixels
    Image.fromarray(255 - np.asarray(Image.open(changed)), mode="L").save(changed)
    hit3, third = run()
    assert (hit1, hit2, hit3) == (False, True, False)
    assert first == second and third["test/fid"] != first["test/fid"]
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 2


def test_evaluation_leaves_training_alone(tmp_path, digits_classifier):
    # its latents come from its own generator: the weights after fit are those of a fit without it
    weights = []
    for callbacks in ([], [image_quality(digits_classifier, every_n_steps=1)]):
        seed_everything(0)
        model = digits_gan()
        cpu_trainer(tmp_path, max_steps=3, callbacks=callbacks).fit(model, DigitsImages(batch_size=16))
        weights.append(model.state_dict())
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def ring_model(only_mode: int = -1) -> GAN:
    return GAN(generator=partial(MixtureSampler, only_mode=only_mode), critic=partial(MLPCritic, hidden_dims=(8,)),
               latent_dim=3, img_shape=(2,))


@pytest.mark.parametrize("only_mode,modes", [(-1, 8), (3, 1)])
def test_mixture_coverage_of_a_generator_that_samples_the_mixture(tmp_path, only_mode, modes):
    callback = MixtureCoverage(num_samples=20000, batch_size=5000)
    data = RingOfGaussians(n_train=256, n_val=64)
    results = cpu_trainer(tmp_path, callbacks=[callback]).test(ring_model(only_mode), data, verbose=False)
    assert results[0]["test/modes"] == modes
    assert results[0]["test/hq_fraction"] == pytest.approx(1 - math.exp(-4.5), abs=0.003)  # 2D: P(chi2_2 <= 9)


def test_mixture_coverage_every_epoch_during_fit(tmp_path):
    callback = MixtureCoverage(num_samples=2000, every_n_epochs=1)
    calls = []

    def spy(trainer, pl_module, stage="val"):
        calls.append(trainer.current_epoch)
        return MixtureCoverage.evaluate(callback, trainer, pl_module, stage)

    callback.evaluate = spy
    trainer = cpu_trainer(tmp_path, max_epochs=2, limit_train_batches=2, callbacks=[callback])
    trainer.fit(ring_model(), RingOfGaussians(n_train=256, batch_size=64))
    assert calls == [0, 1]
    assert trainer.callback_metrics["val/modes"] == 8 and trainer.callback_metrics["val/hq_fraction"] > 0.9


def test_bad_arguments_and_models_are_refused(tmp_path, digits_classifier):
    with pytest.raises(ValueError, match="only one of the arguments `every_n_epochs` and `every_n_steps`"):
        MixtureCoverage(every_n_epochs=1, every_n_steps=10)
    with pytest.raises(ValueError, match="Expected argument `num_samples`"):
        MixtureCoverage(num_samples=0)
    with pytest.raises(ValueError, match="Expected argument `k` to be > 0, got -1"):
        MixtureCoverage(k=-1)
    with pytest.raises(ValueError, match="Expected argument `min_samples`"):
        MixtureCoverage(min_samples=0)
    with pytest.raises(ValueError, match="`is_splits`"):
        image_quality(digits_classifier, num_samples=4, is_splits=10)
    # the names of ImageQuality's arguments, not those of the metrics inside (`splits`, `k`, `sigma`, NumPy's seed)
    for argument, value in (("is_splits", 0), ("kid_subsets", 0), ("precision_k", 0), ("density_k", -1),
                            ("mmd_sigma", 0.0), ("draw_seed", -1), ("draw_seed", 2**32)):
        with pytest.raises(ValueError, match=f"^Expected argument `{argument}` to be "):
            image_quality(digits_classifier, **{argument: value})
    with pytest.raises(ValueError, match="mode `centers` and `std`"):
        cpu_trainer(tmp_path, callbacks=[MixtureCoverage()]).test(digits_gan(), DigitsImages(), verbose=False)


@pytest.mark.slow
def test_two_process_ddp_gives_the_values_of_one_process(tmp_path, digits_classifier):
    from tests.metrics.ddp_script import main

    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, str(REPO / "tests" / "metrics" / "ddp_script.py"), str(tmp_path / "ddp"), "2", str(digits_classifier)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    single_run = main(str(tmp_path / "single"), 1, str(digits_classifier))  # the same script on 1 process, here
    # the held-out features that the 2 processes extracted (each its share) and stored, the whole set's: read here
    assert single_run.cache_hit is True

    load = lambda run, stage, rank: torch.load(tmp_path / run / stage / f"rank{rank}.pt")  # noqa: E731
    rank0, rank1, single = load("ddp", "test", 0), load("ddp", "test", 1), load("single", "test", 0)
    assert rank0["world_size"] == 2 and single["world_size"] == 1
    for key in KEYS + ("mmd",):
        # compute() ran on every rank, on the same synced states: the same float64 value, before logging
        assert torch.equal(rank0["computed"][key], rank1["computed"][key]), key
        assert rank0["computed"][key].item() == pytest.approx(single["computed"][key].item(), rel=1e-5, abs=1e-7), key
        assert rank0["metrics"][f"test/{key}"] == rank1["metrics"][f"test/{key}"]
    assert rank0["computed"]["fid"].item() == pytest.approx(single["computed"]["fid"].item(), rel=1e-6)
    # during fit under DDP too, both ranks log the same values
    fit0, fit1 = load("ddp", "fit", 0), load("ddp", "fit", 1)
    assert all(torch.equal(fit0["computed"][k], fit1["computed"][k]) for k in KEYS)
    assert all(f"val/{k}" in fit0["metrics"] for k in KEYS)
    assert fit0["computed"]["fid"] != rank0["computed"]["fid"]  # trained weights, new samples


def test_callbacks_from_yaml_through_the_cli(tmp_path, monkeypatch, capsys, digits_classifier):
    import yaml

    from lit_gan.cli import run_cli

    monkeypatch.chdir(tmp_path)
    networks = {"generator": {"class_path": "lit_gan.networks.DCGANGenerator", "init_args": {"base_channels": 8}},
                "critic": {"class_path": "lit_gan.networks.DCGANCritic", "init_args": {"base_channels": 8}}}
    config = {
        "seed_everything": 0,
        "trainer": {"accelerator": "cpu", "max_steps": 2, "logger": False, "enable_checkpointing": False,
                    "enable_progress_bar": False, "limit_val_batches": 0, "callbacks": [{
                        "class_path": "lit_gan.callbacks.image_quality.ImageQuality",
                        "init_args": {
                            "feature_extractor": {"class_path": "lit_gan.metrics.ClassifierFeatures",
                                                  "init_args": {"checkpoint_path": str(digits_classifier)}},
                            "num_samples": 40, "batch_size": 20, "every_n_steps": 1, "is_splits": 2,
                            "kid_subsets": 3, "kid_subset_size": 20}}]},
        "model": {"class_path": "lit_gan.GAN", "init_args": {"latent_dim": 8, **networks}},
        "data": {"class_path": "tests.metrics.helpers.DigitsImages", "init_args": {"batch_size": 16}},
    }
    path = tmp_path / "quality.yaml"
    path.write_text(yaml.safe_dump(config))
    cli = run_cli(["fit", "--config", str(path)])
    callback = next(c for c in cli.trainer.callbacks if isinstance(c, ImageQuality))
    assert isinstance(callback.feature_extractor, ClassifierFeatures) and callback.every_n_steps == 1
    assert all(f"val/{k}" in cli.trainer.callback_metrics for k in KEYS)
    # evaluate the checkpoint on demand: `lit-gan test --ckpt_path ...` prints the values in a table
    config["trainer"].update(enable_checkpointing=True, default_root_dir=str(tmp_path / "run"))
    path.write_text(yaml.safe_dump(config))
    ckpt = run_cli(["fit", "--config", str(path)]).trainer.checkpoint_callback.best_model_path
    capsys.readouterr()
    test = run_cli(["test", "--config", str(path), "--ckpt_path", ckpt, "--trainer.default_root_dir", str(tmp_path / "eval")])
    printed = capsys.readouterr().out
    quality = next(c for c in test.trainer.callbacks if isinstance(c, ImageQuality))
    assert quality.cache_hit is True  # the held-out features of the fits, from the reference cache
    for key in KEYS:
        assert f"test/{key}" in printed and torch.isfinite(test.trainer.callback_metrics[f"test/{key}"]), key


def test_more_real_images_than_held_out_are_refused_at_setup(tmp_path, digits_classifier):
    from lit_gan.errors import ConfigError

    model, trainer = digits_gan(), cpu_trainer(tmp_path, max_steps=2)
    trainer.callbacks.append(image_quality(digits_classifier, num_real=298, every_n_steps=1))
    with pytest.raises(ConfigError, match=r"^Expected argument `num_real` \(298\) to be at most the 297 held-out images"
                                          r" of DigitsImages$"):  # was: capped to 297, silently
        trainer.fit(model, DigitsImages(batch_size=16))
    assert trainer.global_step == 0  # before any training
    exact = image_quality(digits_classifier, num_real=297, num_samples=20, is_splits=2, kid_subset_size=10)
    cpu_trainer(tmp_path, callbacks=[exact]).test(digits_gan(), DigitsImages(batch_size=16), verbose=False)
    assert int(exact.metric.fid.real_features_num_samples) == 297
    # a k-NN size that is not below the images it is taken among: at setup too, named as ImageQuality names it
    for kwargs, message in ((dict(num_real=5, density_k=5), "`density_k` (5) to be below the 5 real images"),
                            (dict(num_samples=3, is_splits=2, precision_k=3), "`precision_k` (3) to be below the 3 generated")):
        with pytest.raises(ConfigError, match=re.escape(message)):  # was `k`, at the first evaluation
            cpu_trainer(tmp_path, callbacks=[image_quality(digits_classifier, **kwargs)]).test(
                digits_gan(), DigitsImages(batch_size=16), verbose=False)


def test_an_extractor_of_another_image_shape_is_one_line_at_setup_before_training(tmp_path, monkeypatch, capsys,
                                                                                   digits_classifier):
    import yaml

    from lit_gan.cli import run_cli

    monkeypatch.chdir(tmp_path)
    networks = {"generator": {"class_path": "lit_gan.networks.DCGANGenerator", "init_args": {"base_channels": 8}},
                "critic": {"class_path": "lit_gan.networks.DCGANCritic", "init_args": {"base_channels": 8}}}
    quality = {"class_path": "lit_gan.callbacks.ImageQuality", "init_args": {
        "feature_extractor": {"class_path": "lit_gan.metrics.ClassifierFeatures",  # trained on 8x8 digits
                              "init_args": {"checkpoint_path": str(digits_classifier)}},
        "num_samples": 20, "batch_size": 10, "every_n_steps": 1, "is_splits": 2, "kid_subset_size": 10}}
    config = {"trainer": {"accelerator": "cpu", "max_steps": 2, "enable_progress_bar": False, "limit_val_batches": 0,
                          "default_root_dir": str(tmp_path / "run"), "callbacks": [quality]},
              "model": {"class_path": "lit_gan.GAN", "init_args": {"latent_dim": 8, **networks}},
              "data": {"class_path": "lit_gan.data.MNIST5k", "init_args": {"batch_size": 16, "image_size": 32}}}
    (tmp_path / "fit.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(SystemExit) as exit_info:
        run_cli(["fit", "--config", str(tmp_path / "fit.yaml")])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1, err  # was a traceback at the first evaluation, mid-training
    assert ("error: Expected argument `feature_extractor` to take the data's images of shape (1, 32, 32), got a"
            " ClassifierFeatures that takes (1, 8, 8)") in err[0], err[0]
    assert not list((tmp_path / "run").rglob("*.ckpt"))  # refused before training: no step, no checkpoint
