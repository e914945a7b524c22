"""``lit-gan generate``: PNGs, a grid and an .npz from a checkpoint alone; a seed gives the same image alone or
in a list; truncation, interpolation, classes, 2-D points, run folders; bad input in one line."""

import shutil

import numpy as np
import pytest
import torch
from PIL import Image

import lit_gan
from lit_gan.cli import main
from lit_gan.generate import interpolation, slerp, truncate
from lit_gan.run_folders import checkpoint_in
from lit_gan.tensors import to_uint8
from tests.fits import tiny_fit


@pytest.fixture(scope="module")
def fits(tmp_path_factory):
    """Checkpoints of one update: 8x8 digits (unconditional images), the quickstart's 2-D points, and
    28x28 conditional MNIST digits with an average generator."""
    root = tmp_path_factory.mktemp("fits")
    return {name: tiny_fit(name, root / name) for name in ("digits_wgan_gp", "quickstart", "conditional_mnist")}


def generate(*args) -> None:
    main(["generate", *map(str, args)])


def npz(folder):
    with np.load(folder / "samples.npz") as f:
        return dict(f)


def test_seeds_give_a_png_each_a_grid_and_an_npz_and_say_where(fits, tmp_path, capsys):
    generate("--checkpoint", fits["digits_wgan_gp"], "--seeds", "0-4,9", "--outdir", tmp_path / "out")
    out = tmp_path / "out"
    assert sorted(f.name for f in out.iterdir()) == [
        "grid.png", "samples.npz", "seed0000.png", "seed0001.png", "seed0002.png", "seed0003.png", "seed0004.png",
        "seed0009.png"]
    arrays = npz(out)
    assert arrays["x"].shape == (6, 1, 8, 8) and arrays["z"].shape == (6, 32) and "labels" not in arrays
    assert arrays["seeds"].tolist() == [0, 1, 2, 3, 4, 9]
    png = np.asarray(Image.open(out / "seed0009.png"))  # grayscale, the uint8 of the sample
    assert np.array_equal(png, to_uint8(torch.from_numpy(arrays["x"][5, 0])).numpy())
    assert Image.open(out / "grid.png").size == (2 + 3 * 10, 2 + 2 * 10)  # 6 samples, 3 to a row, 2-pixel padding
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and str(out) in lines[0] and "6 PNGs" in lines[0] and "generator step 1" in lines[1]


def test_a_seed_gives_the_same_image_every_run_alone_or_in_a_list(fits, tmp_path):
    ckpt = fits["conditional_mnist"]
    for name, seeds in (("a", "0-5"), ("b", "0-5"), ("alone", "3")):
        generate("--checkpoint", ckpt, "--seeds", seeds, "--outdir", tmp_path / name)
    a, b, alone = npz(tmp_path / "a"), npz(tmp_path / "b"), npz(tmp_path / "alone")
    assert all(np.array_equal(a[k], b[k]) for k in ("x", "z", "labels"))
    assert (tmp_path / "a" / "seed0003-class4.png").read_bytes() == (tmp_path / "b" / "seed0003-class4.png").read_bytes()
    assert np.array_equal(alone["z"][0], a["z"][3]) and alone["labels"][0] == a["labels"][3]
    assert np.allclose(alone["x"][0], a["x"][3], atol=1e-6)
    # z ~ N(0, I) and the class from the seed's own generator, in that order
    g = torch.Generator().manual_seed(3)
    assert torch.equal(torch.from_numpy(alone["z"]), torch.randn(1, 64, generator=g))
    assert alone["labels"].tolist() == torch.randint(10, (1,), generator=g).tolist() == [4]


def test_num_samples_come_from_one_generator_seeded_seed(fits, tmp_path):
    generate("--checkpoint", fits["digits_wgan_gp"], "--num_samples", 5, "--seed", 7, "--outdir", tmp_path)
    arrays = npz(tmp_path)
    assert torch.equal(torch.from_numpy(arrays["z"]), torch.randn(5, 32, generator=torch.Generator().manual_seed(7)))
    assert arrays["seed"] == 7 and (tmp_path / "sample0004.png").is_file() and not (tmp_path / "sample0005.png").exists()


def test_truncation_draws_the_entries_beyond_psi_again_and_keeps_the_others():
    z = torch.randn(500, 16, generator=torch.Generator().manual_seed(0))
    for psi in (0.01, 0.5, 2.0):
        cut = truncate(z, psi, torch.Generator().manual_seed(1))
        assert cut.shape == z.shape and cut.abs().max() <= psi
        within = z.abs() <= psi
        assert torch.equal(cut[within], z[within]) and not torch.equal(cut, z)
        assert torch.equal(cut, truncate(z, psi, torch.Generator().manual_seed(1)))  # the same draw again
    # N(0, 1) conditioned on |z| <= 1: its standard deviation is 0.5396
    cut = truncate(torch.full((20000,), 5.0), 1.0, torch.Generator().manual_seed(2))
    assert abs(cut.std().item() - 0.5396) < 0.01 and abs(cut.mean().item()) < 0.01


def test_truncation_through_the_command(fits, tmp_path):
    for name, extra in (("plain", []), ("cut", ["--truncation", "0.5"])):
        generate("--checkpoint", fits["digits_wgan_gp"], "--seeds", "0-7", "--outdir", tmp_path / name, *extra)
    plain, cut = npz(tmp_path / "plain"), npz(tmp_path / "cut")
    assert cut["x"].shape == (8, 1, 8, 8) and np.abs(cut["z"]).max() <= 0.5
    within = np.abs(plain["z"]) <= 0.5
    assert np.array_equal(cut["z"][within], plain["z"][within])


def test_slerp_ends_at_both_latents_and_keeps_the_norm_of_equal_norm_ones():
    a, b = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 3.0])
    path = slerp(a, b, torch.linspace(0, 1, 5))
    assert torch.allclose(path[0], a) and torch.allclose(path[-1], b, atol=1e-6)
    assert torch.allclose(path.norm(dim=1), torch.full((5,), 3.0))
    assert interpolation(torch.stack([a, b, a]), 3).shape == (2 * 4 + 1, 2)


def test_interpolate_writes_the_frames_and_a_strip(fits, tmp_path):
    generate("--checkpoint", fits["digits_wgan_gp"], "--seeds", "1,5,9", "--interpolate", 4, "--outdir", tmp_path / "walk")
    generate("--checkpoint", fits["digits_wgan_gp"], "--seeds", "1,5,9", "--outdir", tmp_path / "seeds")
    walk, seeds = npz(tmp_path / "walk"), npz(tmp_path / "seeds")
    assert walk["x"].shape == (11, 1, 8, 8) and len(list((tmp_path / "walk").glob("frame*.png"))) == 11
    assert np.array_equal(walk["z"][[0, 5, 10]], seeds["z"])  # the seeds' own latents at the ends
    assert np.allclose(walk["x"][[0, 5, 10]], seeds["x"], atol=1e-6)
    assert Image.open(tmp_path / "walk" / "strip.png").size == (2 + 6 * 10, 2 + 2 * 10)  # a row per pair, 6 frames
    assert not (tmp_path / "walk" / "grid.png").exists()


def test_class_gives_the_class_asked_for_and_the_average_generator(fits, tmp_path):
    ckpt = fits["conditional_mnist"]
    generate("--checkpoint", ckpt, "--seeds", "0-3", "--class", 7, "--outdir", tmp_path / "seven")
    generate("--checkpoint", ckpt, "--seeds", "0-3", "--class", "2,5", "--outdir", tmp_path / "two")
    seven, two = npz(tmp_path / "seven"), npz(tmp_path / "two")
    assert seven["labels"].tolist() == [7] * 4 and (tmp_path / "seven" / "seed0002-class7.png").is_file()
    assert two["labels"].tolist() == [2] * 4 + [5] * 4 and np.array_equal(two["z"][4:], seven["z"])
    assert Image.open(tmp_path / "two" / "grid.png").size == (2 + 4 * 30, 2 + 2 * 30)  # a row per class
    gan = lit_gan.load(str(ckpt))
    z, y = torch.from_numpy(seven["z"]), torch.full((4,), 7)
    with torch.no_grad():
        average, trained = gan.generator_ema.module(z, y), gan.generator(z, y)
    assert np.allclose(seven["x"], average.numpy(), atol=1e-6)
    assert not np.allclose(seven["x"], trained.numpy(), atol=1e-4)  # the run's average, not its last generator


def test_points_of_a_toy_are_an_npz_and_a_scatter_plot(fits, tmp_path):
    generate("--checkpoint", fits["quickstart"], "--seeds", "0-9", "--outdir", tmp_path)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["samples.npz", "scatter.png"]
    assert npz(tmp_path)["x"].shape == (10, 2) and Image.open(tmp_path / "scatter.png").size == (500, 500)


def test_a_run_folder_gives_its_last_checkpoint(fits, tmp_path, capsys):
    run = fits["quickstart"].parents[1]  # lightning_logs/version_0
    generate("--checkpoint", run, "--seeds", "0", "--outdir", tmp_path / "out")
    assert f"from {run / 'checkpoints'}" in capsys.readouterr().out  # last.ckpt where fit wrote one
    folder = tmp_path / "run"
    (folder / "checkpoints").mkdir(parents=True)
    for name in ("epoch=0-step=1.ckpt", "epoch=0-step=2.ckpt"):
        shutil.copy(fits["quickstart"], folder / "checkpoints" / name)
    assert checkpoint_in(str(folder)) == str(folder / "checkpoints" / "epoch=0-step=2.ckpt")  # the newest
    shutil.copy(fits["quickstart"], folder / "checkpoints" / "last.ckpt")
    assert checkpoint_in(str(folder)) == str(folder / "checkpoints" / "last.ckpt")


def test_an_earlier_output_is_replaced_whole_and_other_files_kept(fits, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    generate("--checkpoint", fits["digits_wgan_gp"], "--seeds", "0-4", "--outdir", tmp_path)
    generate("--checkpoint", fits["digits_wgan_gp"], "--seeds", "7", "--outdir", tmp_path)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["grid.png", "notes.txt", "samples.npz", "seed0007.png"]


@pytest.mark.parametrize("fit,args,name", [
    ("digits_wgan_gp", ["--seeds", "5-2"], "seeds"),
    ("digits_wgan_gp", ["--seeds", "0-x"], "seeds"),
    ("digits_wgan_gp", ["--seeds", "0-200000"], "seeds"),
    ("digits_wgan_gp", ["--seeds", "0-99", "--num_samples", "4"], "seeds"),
    ("digits_wgan_gp", ["--truncation", "0"], "truncation"),
    ("digits_wgan_gp", ["--truncation", "-1"], "truncation"),
    ("digits_wgan_gp", ["--class", "3"], "class"),
    ("conditional_mnist", ["--class", "10"], "class"),
    ("conditional_mnist", ["--class", "1,2", "--seeds", "0,1", "--interpolate", "2"], "class"),
    ("digits_wgan_gp", ["--seeds", "4", "--interpolate", "2"], "interpolate"),
    ("not-a-checkpoint", [], "checkpoint"),
    ("empty-folder", [], "checkpoint"),
], ids=["range-down", "not-a-seed", "too-many-seeds", "seeds-and-num_samples", "truncation-0", "truncation-negative",
        "class-unconditional", "class-out-of-range", "classes-interpolated", "interpolate-one-seed", "not-a-checkpoint",
        "folder-without-checkpoint"])
def test_bad_input_is_one_line_naming_the_argument(fit, args, name, fits, tmp_path, capsys):
    (tmp_path / "empty-folder").mkdir()
    (tmp_path / "not-a-checkpoint").write_text("seed_everything: 0\n")
    ckpt = fits.get(fit, tmp_path / fit)
    with pytest.raises(SystemExit) as exit_info:
        generate("--checkpoint", ckpt, *args, "--outdir", tmp_path / "out")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lit-gan generate: error: ") and f"`{name}`" in err[0], err
    assert not (tmp_path / "out").exists()


def test_a_hundred_pngs_in_one_command_under_70_characters(fits, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(fits["digits_wgan_gp"], tmp_path / "run.ckpt")
    command = "lit-gan generate --checkpoint run.ckpt --seeds 0-99 --outdir out"
    assert len(command) < 70
    main(command.split()[1:])
    assert len(list((tmp_path / "out").glob("seed*.png"))) == 100
