"""lit-gan predict writes samples: .npz, a grid PNG and a folder of PNGs."""

import numpy as np
import pytest
import torch
from PIL import Image

from lit_gan.cli import run_cli
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
    assert torch.equal(again.draw(cli.model), torch.from_numpy(samples))


def test_toy_points_npz_and_scatter(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    small = ["--data.init_args.n_train", "1024", "--data.init_args.n_val", "256"]
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
