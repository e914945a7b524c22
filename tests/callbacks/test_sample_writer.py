"""lit-gan predict writes samples: .npz, a grid PNG and a folder of PNGs, whole or not at all."""

import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from lit_gan.cli import run_cli
from lit_gan.evaluate import main as evaluate
from lit_gan.files import leftovers
from lit_gan.tensors import to_uint8
from tests.conftest import REPO


def fit_and_predict(tmp_path, config, extra, num_samples):
    fit = run_cli(["fit", "--config", str(REPO / "configs" / config), "--trainer.max_steps", "2",
                   "--trainer.enable_progress_bar", "false", *extra])
    ckpt = fit.trainer.checkpoint_callback.best_model_path
    out = tmp_path / "samples"
    callback = ["--trainer.callbacks+=lit_gan.callbacks.sample_writer.SampleWriter",
                f"--trainer.callbacks.dirpath={out}", f"--trainer.callbacks.num_samples={num_samples}",
                "--trainer.callbacks.batch_size=7"]
    cli = run_cli(["predict", "--config", str(REPO / "configs" / config), "--ckpt_path", ckpt, *extra, *callback])
    return cli, out


def test_images_npz_grid_and_png_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cli, out = fit_and_predict(tmp_path, "digits_wgan_gp.yaml", [], num_samples=20)
    samples = np.load(out / "samples.npz")["samples"]
    assert samples.shape == (20, 1, 8, 8) and samples.dtype == np.float32
    assert samples.min() >= -1 and samples.max() <= 1
    pngs = sorted((out / "png").glob("*.png"))
    assert len(pngs) == 20 and pngs[0].name == "000000.png"
    first = np.asarray(Image.open(pngs[3]))
    assert first.shape == (8, 8) and first.dtype == np.uint8
    assert np.array_equal(first, to_uint8(torch.from_numpy(samples[3, 0])).numpy())
    grid = Image.open(out / "grid.png")
    assert grid.size == (2 + 5 * 10, 2 + 4 * 10)  # 20 samples: 5 per row, 8x8 images, 2-pixel padding
    # the same checkpoint and seed give the same samples
    again = cli.trainer.callbacks[[type(c).__name__ for c in cli.trainer.callbacks].index("SampleWriter")]
    assert torch.equal(again.draw(cli.model)[0], torch.from_numpy(samples))


def test_toy_points_npz_and_scatter(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    small = ["--data.init_args.n_train", "1280", "--data.init_args.n_val", "256"]
    _, out = fit_and_predict(tmp_path, "quickstart.yaml", small, num_samples=50)
    assert np.load(out / "samples.npz")["samples"].shape == (50, 2)
    assert Image.open(out / "grid.png").size[0] > 100
    assert not (out / "png").exists()


@pytest.mark.parametrize("name", ["num_samples", "batch_size", "grid_size"])
def test_bad_counts(name):
    from lit_gan.callbacks.sample_writer import SampleWriter

    with pytest.raises(ValueError, match=name):
        SampleWriter(**{name: 0})


def test_a_dirpath_of_an_earlier_run_is_refused_or_replaced_whole(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _, out = fit_and_predict(tmp_path, "digits_wgan_gp.yaml", [], num_samples=20)
    (out / "png" / "notes.png").write_bytes(b"the user's own file")
    ckpt = next(tmp_path.glob("lightning_logs/version_0/checkpoints/*.ckpt"))
    predict = ["predict", "--config", str(REPO / "configs" / "digits_wgan_gp.yaml"), "--ckpt_path", str(ckpt),
               "--trainer.callbacks+=lit_gan.callbacks.SampleWriter", f"--trainer.callbacks.dirpath={out}",
               "--trainer.callbacks.num_samples=10", "--trainer.callbacks.seed=1"]
    with pytest.raises(SystemExit) as info:
        run_cli(predict)
    assert info.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "holds the samples of an earlier run (22 files" in err[0] and "overwrite: true" in err[0], err
    assert len(list((out / "png").glob("0*.png"))) == 20  # nothing touched
    run_cli([*predict, "--trainer.callbacks.overwrite=true"])
    assert sorted(p.name for p in (out / "png").iterdir()) == [f"{i:06d}.png" for i in range(10)] + ["notes.png"]
    assert np.load(out / "samples.npz")["samples"].shape == (10, 1, 8, 8)
    (tmp_path / "afile").write_text("")
    with pytest.raises(SystemExit):
        run_cli([*predict[:-3], f"--trainer.callbacks.dirpath={tmp_path / 'afile'}"])
    assert "`dirpath`" in capsys.readouterr().err and (tmp_path / "afile").read_text() == ""


# --- writing whole: a full or read-only disk, a kill while writing, DDP -------------------------------------------

DIGITS = str(REPO / "configs" / "digits_wgan_gp.yaml")


@pytest.fixture(scope="module")
def digits_checkpoint(tmp_path_factory):
    """The checkpoint of a 2-step fit on the 8x8 digits."""
    root = tmp_path_factory.mktemp("fit")
    fit = run_cli(["fit", "--config", DIGITS, "--trainer.max_steps", "2", "--trainer.enable_progress_bar", "false",
                   "--trainer.default_root_dir", str(root)])
    return fit.trainer.checkpoint_callback.best_model_path


def predict(ckpt, out, num_samples=20, *extra):
    return ["predict", "--config", DIGITS, "--ckpt_path", str(ckpt),
            "--trainer.enable_progress_bar", "false", "--trainer.callbacks+=lit_gan.callbacks.SampleWriter",
            f"--trainer.callbacks.dirpath={out}", f"--trainer.callbacks.num_samples={num_samples}", *extra]


def error_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


@pytest.mark.parametrize("options,dirpath,why", [
    ("size=4k", "samples", "No space left on device"),  # full in samples.npz (was left truncated)
    ("size=16k", ".", "No space left on device"),  # full among the PNGs; dirpath the mount point itself
    ("ro,size=1m", "samples", "Read-only file system"),  # before anything is drawn
])
def test_a_full_or_read_only_disk_is_one_line_and_leaves_nothing(tmp_path, monkeypatch, capsys, mount_tmpfs,
                                                                 digits_checkpoint, options, dirpath, why):
    monkeypatch.chdir(tmp_path)
    disk = mount_tmpfs(options)
    out = disk / dirpath
    with pytest.raises(SystemExit) as info:  # was: an OSError traceback
        run_cli(predict(digits_checkpoint, out))
    err = error_lines(capsys)
    assert info.value.code == 2 and len(err) == 1, err
    assert f"cannot write the samples into `dirpath` {out}: {why} (nothing of them was kept)" in err[0], err
    assert list(disk.iterdir()) == []  # no partial samples.npz, no PNGs, no temporary folder


def test_an_overwrite_that_fills_the_disk_keeps_the_earlier_samples(tmp_path, monkeypatch, capsys, mount_tmpfs,
                                                                    digits_checkpoint):
    monkeypatch.chdir(tmp_path)
    out = mount_tmpfs("size=40k") / "samples"
    run_cli(predict(digits_checkpoint, out, 4))
    before = contents(out)
    assert len(before) == 7  # samples.npz, grid.png, png/ and 4 PNGs
    with pytest.raises(SystemExit):
        run_cli(predict(digits_checkpoint, out, 30, "--trainer.callbacks.overwrite=true"))
    assert "No space left on device" in error_lines(capsys)[0]
    assert contents(out) == before  # the earlier run, whole; nothing else


def contents(folder):
    """{path: bytes, or None for a folder} of everything under ``folder``, hidden files included."""
    return {p: None if p.is_dir() else p.read_bytes() for p in folder.rglob("*")}


# `lit-gan predict` SIGKILLed just after the file or folder named by its first argument is written or moved
KILLED_AFTER = """
import os, signal, sys
from pathlib import Path
from PIL import Image
from lit_gan.cli import main

name = sys.argv.pop(1)

def killing(real):
    def call(*args, **kwargs):
        real(*args, **kwargs)
        if any(Path(str(arg)).name == name for arg in args[:2]):
            os.kill(os.getpid(), signal.SIGKILL)
    return call

Image.Image.save, os.replace = killing(Image.Image.save), killing(os.replace)
main(sys.argv[1:])
"""


@pytest.mark.parametrize("killed_after", [
    "000005.png",  # while writing the PNGs (was: png/ with 6 of 20 files, and samples.npz, as a result)
    "png",  # while moving the finished files into dirpath: png/ is there, samples.npz not yet
])
def test_a_predict_killed_while_writing_leaves_no_result(tmp_path, monkeypatch, capsys, digits_checkpoint, killed_after):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "samples"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    killed = subprocess.run([sys.executable, "-c", KILLED_AFTER, killed_after, *predict(digits_checkpoint, out)],
                            env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    left = leftovers(out)
    assert left, "nothing shows that the output is unfinished"
    if killed_after == "000005.png":
        assert sorted(p.name for p in out.iterdir()) == [left[0].name]  # no samples.npz, grid.png nor png/ there
        assert len(list((left[0] / "png").iterdir())) == 6
        samples = left[0] / "png"
    else:
        assert (out / "png").is_dir() and not (out / "samples.npz").exists()
        samples = out / "png"
    # what it left is no result: evaluate refuses it, a new predict into the same dirpath too unless told to replace it
    with pytest.raises(SystemExit) as info:
        evaluate(["--samples", str(samples), "--real", str(samples)])
    err = error_lines(capsys)
    assert info.value.code == 2 and len(err) == 1, err
    assert f"`samples` '{samples}' is in the unfinished output of a `lit-gan predict` stopped while writing" in err[0]
    with pytest.raises(SystemExit):
        run_cli(predict(digits_checkpoint, out))
    err = error_lines(capsys)
    assert len(err) == 1 and "holds the unfinished output of a run stopped while writing" in err[0], err
    assert "overwrite: true" in err[0]
    run_cli(predict(digits_checkpoint, out, 20, "--trainer.callbacks.overwrite=true"))
    assert sorted(p.name for p in out.iterdir()) == ["grid.png", "png", "samples.npz"]
    assert sorted(p.name for p in (out / "png").iterdir()) == [f"{i:06d}.png" for i in range(20)]
    assert evaluate(["--samples", str(out / "png"), "--real", str(out / "png"), "--feature_extractor",
                     "tests.metrics.test_evaluate.MeanPooled", "--metrics", "[fid]",
                     "--reference_cache", "false"])["protocol"]["num_generated"] == 20


@pytest.mark.slow
def test_two_process_ddp_predict_writes_once_or_stops_every_rank_in_one_line(tmp_path, mount_tmpfs, digits_checkpoint):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    ddp = ["--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp"]
    read_only = mount_tmpfs("ro,size=1m")
    runs = [subprocess.run([sys.executable, "-m", "lit_gan.cli", *predict(digits_checkpoint, out, 30), *ddp],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
            for out in (tmp_path / "samples", read_only / "samples")]
    assert runs[0].returncode == 0, runs[0].stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["grid.png", "png", "samples.npz"]
    assert len(list((tmp_path / "samples" / "png").iterdir())) == 30
    assert np.load(tmp_path / "samples" / "samples.npz")["samples"].shape == (30, 1, 8, 8)
    # rank 0 could not write: both ranks stop with its line (rank 1 would wait for rank 0 otherwise)
    assert runs[1].returncode == 2, runs[1].stderr[-2000:]
    lines = [line for line in runs[1].stderr.splitlines() if "error:" in line]
    assert len(lines) == 1 and all("`dirpath` " + str(read_only / "samples") + ": Read-only file system" in line
                                   for line in lines), lines
