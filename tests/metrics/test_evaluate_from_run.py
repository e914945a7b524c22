"""``lit-gan evaluate`` from what the run knows (issue 37, item 2): a checkpoint or its run folder alone takes the
data of the run's config.yaml (a data module of lit_gan only); a checkpoint of 2-D points gets the toy metrics;
``--samples`` on generate's folder reads the samples, not the grid; ``--write_real`` writes the held-out images
as PNGs; bad input in one line."""

import json
import shutil
import sys

import pytest
import torch
import yaml

from lit_gan.cli import main, run_cli
from lit_gan.data import DigitsDataModule
from lit_gan.data.samples import SampleFolder
from lit_gan.evaluate import main as evaluate
from lit_gan.metrics.wasserstein import exact_w1
from lit_gan.tensors import to_uint8
from tests.fits import tiny_fit

POOLED = ["--feature_extractor", "tests.metrics.test_evaluate.MeanPooled", "--reference_cache", "false"]
SMALL = ["--metrics", "[fid,kid]", "--kid_subset_size", "20", "--kid_subsets", "3", "--num_samples", "40"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The checkpoints of one-update fits of configs/digits_wgan_gp.yaml (8x8 images) and configs/quickstart.yaml
    (2-D points); each run's folder is the checkpoint's grandparent, with its config.yaml."""
    root = tmp_path_factory.mktemp("runs")
    return {name: tiny_fit(name, root / name) for name in ("digits_wgan_gp", "quickstart")}


def test_an_image_checkpoint_or_its_run_folder_alone_takes_the_data_of_the_run(runs, capsys):
    ckpt = runs["digits_wgan_gp"]
    run = ckpt.parent.parent
    by_file = evaluate(["--checkpoint", str(ckpt), *POOLED, *SMALL])
    said = capsys.readouterr().out
    assert f"the real side is the held-out split of DigitsDataModule, the run's data ({run / 'config.yaml'})" in said
    by_folder = evaluate(["--checkpoint", str(run), *POOLED, *SMALL])  # its checkpoints/last.ckpt: the same step
    capsys.readouterr()
    given = evaluate(["--checkpoint", str(ckpt), "--data", "lit_gan.data.DigitsDataModule", *POOLED, *SMALL])
    assert "the run's data" not in capsys.readouterr().out  # --data given: not the run's
    assert by_file["protocol"]["real"] == "DigitsDataModule val" and by_file["protocol"]["num_real"] == 297
    assert by_folder["protocol"]["generated"].startswith(str(run / "checkpoints" / "last.ckpt"))
    assert by_file["metrics"]["fid"] > 0 and by_file["metrics"] == given["metrics"] == by_folder["metrics"]


@pytest.mark.filterwarnings("ignore:.*not the standard FID weights")
def test_nothing_but_a_run_folder_and_counts_scores_on_inception_from_torch_hubs_cache(runs, inception_weights,
                                                                                        tmp_path, monkeypatch):
    # what `lit-gan evaluate --checkpoint RUN` does where torch hub's cache holds the weights (random ones here;
    # offline without them: the one line of the missing weights, which names the file and where to put it)
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    shutil.copy(inception_weights, hub / "weights-inception-2015-12-05-6726825d.pth")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    result = evaluate(["--checkpoint", str(runs["digits_wgan_gp"].parent.parent), "--num_samples", "4",
                       "--num_real", "4", "--metrics", "[kid]", "--kid_subset_size", "4"])  # FID: 3 s of eigh
    assert result["protocol"]["extractor"] == "inception-v3-compat"
    assert result["protocol"]["real"] == "DigitsDataModule val" and result["protocol"]["num_real"] == 4
    assert list(result["metrics"]) == ["kid", "kid_std"]


def test_a_toy_checkpoint_alone_gets_mixture_coverages_numbers_and_the_exact_w1(runs, tmp_path, capsys, monkeypatch):
    ckpt = runs["quickstart"]
    out = tmp_path / "toy.json"
    # k 60: some of the samples of one update within 60 std (0.85) of a mode, so hq_fraction is neither 0 nor 1
    result = evaluate(["--checkpoint", str(ckpt.parent.parent), "--mode_k", "60", "--output", str(out)])
    printed = capsys.readouterr().out
    assert list(result["metrics"]) == ["modes", "hq_fraction", "w1"] and json.loads(out.read_text()) == result
    assert 0 < result["metrics"]["hq_fraction"] < 1 and result["metrics"]["w1"] > 0
    line = result["protocol_line"]
    assert f"protocol: {line}" in printed and line.startswith("2500 generated (")
    assert "256 real (RingOfGaussians val)" in line
    assert "within 60 std of the nearest mode" in line and "exact W1 of the first 256 samples and 256 held-out" in line
    # `lit-gan test` with MixtureCoverage of the same settings logs the same numbers
    monkeypatch.chdir(tmp_path)
    test = run_cli(["test", "--config", str(ckpt.parent.parent / "config.yaml"), "--ckpt_path", str(ckpt),
                    "--trainer.callbacks+=lit_gan.callbacks.MixtureCoverage", "--trainer.callbacks.k", "60",
                    "--trainer.logger", "false", "--trainer.default_root_dir", str(tmp_path / "test")])
    logged = test.trainer.callback_metrics
    assert result["metrics"]["modes"] == float(logged["test/modes"])
    assert result["metrics"]["hq_fraction"] == pytest.approx(float(logged["test/hq_fraction"]), abs=1e-7)


def test_the_exact_w1_of_a_translated_set_is_the_translation():
    x = torch.randn(300, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert exact_w1(x, x + torch.tensor([0.3, -0.4], dtype=torch.float64)) == pytest.approx(0.5, abs=1e-9)
    assert exact_w1(x, x.flip(0)) == pytest.approx(0.0, abs=1e-12)  # the same points in another order


def test_samples_of_lit_gan_generate_are_read_without_its_grid(runs, tmp_path):
    main(["generate", "--checkpoint", str(runs["digits_wgan_gp"]), "--seeds", "0-11",
          "--outdir", str(tmp_path / "gen")])
    assert (tmp_path / "gen" / "grid.png").is_file()
    result = evaluate(["--samples", str(tmp_path / "gen"), "--data", "lit_gan.data.DigitsDataModule", *POOLED,
                       "--metrics", "[fid]"])
    assert result["protocol"]["num_generated"] == 12  # the 12 seeds, not grid.png


def test_held_out_images_are_written_as_pngs_that_read_back_as_the_data_gives_them(runs, tmp_path, capsys):
    folder = tmp_path / "real"
    written = evaluate(["--checkpoint", str(runs["digits_wgan_gp"]), "--write_real", str(folder)])
    assert written == {"write_real": str(folder), "num_real": 297, "data": "DigitsDataModule"}
    assert f"wrote the 297 held-out images of DigitsDataModule (1, 8, 8) as 000000.png ... 000296.png to {folder}" \
        in capsys.readouterr().out
    data = DigitsDataModule(batch_size=64)
    data.setup("validate")
    held_out = torch.cat([data.on_after_batch_transfer(batch, 0)[0] for batch in data.val_dataloader()])
    read = SampleFolder(str(folder), channels=1)
    assert len(read) == 297 and all(torch.equal(read[i], to_uint8(held_out[i])) for i in range(297))
    evaluate(["--data", "lit_gan.data.DigitsDataModule", "--num_real", "10", "--write_real", str(folder)])  # replaced
    assert sorted(p.name for p in folder.iterdir()) == [f"{i:06d}.png" for i in range(10)]


@pytest.fixture
def odd_runs(runs, tmp_path, monkeypatch):
    """Run folders that lit-gan fit did not write as they are: without config.yaml, with a config naming a class
    outside lit_gan (whose module marks it if imported), with a nested class; a folder without a checkpoint."""
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "strange_data.py").write_text(f"open({str(tmp_path / 'imported')!r}, 'w').close()\nclass Data: pass\n")
    config = yaml.safe_load((runs["digits_wgan_gp"].parent.parent / "config.yaml").read_text())
    datas = {
        "foreign": {"class_path": "strange_data.Data"},
        "torchs": {"class_path": "lit_gan.data.order.DistributedSampler"},  # torch's class, seen through lit_gan
        "nested": {"class_path": "lit_gan.data.DigitsDataModule",
                   "init_args": {"batch_size": {"class_path": "strange_data.Data"}}},
        "none": None,
    }
    for name, data in datas.items():
        (tmp_path / name / "checkpoints").mkdir(parents=True)
        shutil.copy(runs["digits_wgan_gp"], tmp_path / name / "checkpoints" / "last.ckpt")
        (tmp_path / name / "config.yaml").write_text(yaml.safe_dump({**config, "data": data}))
    (tmp_path / "loose").mkdir()
    shutil.copy(runs["digits_wgan_gp"], tmp_path / "loose" / "gan.ckpt")
    (tmp_path / "empty" / "checkpoints").mkdir(parents=True)
    (tmp_path / "writer" / "png").mkdir(parents=True)  # SampleWriter's dirpath
    (tmp_path / "writer" / "samples.npz").touch()
    (tmp_path / "writer" / "grid.png").touch()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "cat.jpg").touch()
    return tmp_path


@pytest.mark.parametrize("args,message", [
    (["--checkpoint", "{tmp}/empty"], "Expected argument `checkpoint` to be a checkpoint file or a run folder holding"
     " one (checkpoints/last.ckpt, or any .ckpt under it), got the folder '{tmp}/empty', with no .ckpt"),
    (["--checkpoint", "{tmp}/loose/gan.ckpt"], "Expected the run of `checkpoint` {tmp}/loose/gan.ckpt to have its"
     " config.yaml at {tmp}/loose/config.yaml (`lit-gan fit` writes it beside the run's checkpoints/)"),
    (["--checkpoint", "{tmp}/foreign"], "the run's {tmp}/foreign/config.yaml names the data class 'strange_data.Data',"
     " not a data module of lit_gan: lit-gan builds no other code from a run's files; give the data as `--data`"),
    (["--checkpoint", "{tmp}/torchs"], "names the data class 'lit_gan.data.order.DistributedSampler', not a data"
     " module of lit_gan"),
    (["--checkpoint", "{tmp}/nested"], "the run's {tmp}/nested/config.yaml holds data.init_args.batch_size.class_path:"
     " a run's data module takes plain values"),
    (["--checkpoint", "{tmp}/none"], "the run's {tmp}/none/config.yaml names no data module (`data: None`)"),
    (["--checkpoint", "{toy}", "--metrics", "[fid]"], "Expected argument `metrics` to be left out for a checkpoint of"
     " points (img_shape (2,)), which is scored by mode coverage and the exact W1"),
    (["--checkpoint", "{toy}", "--kid_subset_size", "20"], "Expected argument `kid_subset_size` to be left out for a"
     " checkpoint of points"),
    (["--checkpoint", "{toy}", "--data", "lit_gan.data.DigitsDataModule"], "Expected the points of `data` to have the"
     " shape of the checkpoint's samples, (2,), got (1, 8, 8) (DigitsDataModule)"),
    (["--checkpoint", "{toy}", "--w1_points", "10001"], "Expected argument `w1_points` to be at most 10000"),
    (["--checkpoint", "{toy}", "--mode_k", "0"], "Expected argument `mode_k` to be > 0, got 0.0"),
    (["--checkpoint", "{image}", "--mode_k", "2", *POOLED], "Expected argument `mode_k` to be left out: it is an option"
     " of the toy metrics"),
    (["--checkpoint", "{toy}", "--write_real", "{tmp}/out"], "Expected argument `write_real` with data of images, got"
     " RingOfGaussians, whose samples have shape (2,)"),
    (["--checkpoint", "{image}", "--write_real", "{tmp}/mine"], "Expected argument `write_real` to be a new folder, or"
     " one holding only the PNGs of an earlier `--write_real` (replaced), got '{tmp}/mine', which holds other images"
     " (cat.jpg, ...)"),
    (["--samples", "{tmp}/mine", "--write_real", "{tmp}/out"], "Expected argument `samples` to be left out with"
     " `write_real`"),
    (["--write_real", "{tmp}/out"], "Expected `data` or a `checkpoint` (whose run's config says its data) with"
     " `write_real`, got neither"),
    (["--samples", "{tmp}/writer", "--data", "lit_gan.data.DigitsDataModule", *POOLED],
     "`samples` '{tmp}/writer' is the output of SampleWriter, whose images are in its png/ folder"),
])
def test_bad_input_is_one_line(runs, odd_runs, capsys, args, message):
    fill = {"tmp": odd_runs, "toy": runs["quickstart"], "image": runs["digits_wgan_gp"]}
    with pytest.raises(SystemExit) as info:
        evaluate([a.format(**fill) for a in args])
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and len(err) == 1, err
    assert err[0].startswith("lit-gan evaluate: error: ") and message.format(**fill) in err[0], err[0]
    assert not (odd_runs / "imported").exists() and "strange_data" not in sys.modules
    assert not (odd_runs / "out").exists()
