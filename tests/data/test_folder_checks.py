"""ImageFolderDataModule's setup check: a file that does not verify (with ``verify: full``, decode in
full), or one smaller than ``center_crop``, is named at setup, and in one line when it is first read
in a DataLoader worker."""

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lit_gan.data import ImageFolderDataModule
from lit_gan.data.folder import ImageFileError
from lit_gan.errors import ConfigError
from tests.data.formats import write_image_folder


def write_jpegs(root: Path, n: int = 12, size: tuple[int, int] = (40, 48)) -> Path:
    """``n`` small JPEGs of noise, ``size`` (width, height); the 8th is cut to half its bytes (the headers stay whole,
    the scan data is cut). Returns that one."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(root / f"{i:02d}.jpg")
    truncated = root / "07.jpg"
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with Image.open(truncated) as image:
        image.verify()  # the cheap check passes it: only a full decode finds it
    return truncated


def test_a_truncated_jpeg_is_refused_at_setup_naming_it(tmp_path):
    truncated = write_jpegs(tmp_path / "imgs")
    with pytest.raises(ConfigError, match=r"07\.jpg \(image file is truncated.*1 unreadable.*`skip_corrupt: true`"):
        ImageFolderDataModule(root=str(tmp_path / "imgs"), batch_size=2, verify="full").setup()
    cheap = ImageFolderDataModule(root=str(tmp_path / "imgs"), batch_size=2)  # verify: true reads headers only
    cheap.setup()
    assert len(cheap.train_set.paths + cheap.held_out_set.paths) == 12
    dm = ImageFolderDataModule(root=str(tmp_path / "imgs"), batch_size=2, skip_corrupt=True, num_workers=2, verify="full")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dm.setup()
    assert any("skipped 1 unreadable" in str(w.message) and "07.jpg" in str(w.message) for w in caught)
    kept = dm.train_set.paths + dm.held_out_set.paths
    assert len(kept) == 11 and truncated not in kept
    assert [dm.train_set[i][0].shape for i in range(2)] == [(3, 64, 64)] * 2


@pytest.mark.parametrize("num_workers", [0, 2])
def test_a_file_read_in_training_is_named_in_one_line_even_from_a_worker(tmp_path, num_workers):
    write_jpegs(tmp_path / "imgs")
    dm = ImageFolderDataModule(root=str(tmp_path / "imgs"), batch_size=4, verify=False, num_workers=num_workers)
    dm.setup()
    with pytest.raises(ImageFileError) as info:
        for loader in (dm.train_dataloader(), dm.val_dataloader()):  # 07.jpg is in one of them
            list(loader)
    message = str(info.value)
    assert message.startswith("cannot read image ") and "07.jpg (image file is truncated" in message, message
    assert "\n" not in message and "Caught" not in message and "Traceback" not in message


def test_the_worker_message_is_unwrapped_only_when_torch_wrapped_it():
    plain = "cannot read image Caught.jpg: bad"
    assert str(ImageFileError(plain)) == plain
    wrapped = ("Caught ImageFileError in DataLoader worker process 0.\nOriginal Traceback (most recent call last):\n"
               '  File "x.py", line 1, in f\nOSError: image file is truncated\n\nThe above exception was the direct'
               " cause of the following exception:\n\n"
               "lit_gan.data.folder.ImageFileError: cannot read image a.jpg (x)\n")
    assert str(ImageFileError(wrapped)) == "cannot read image a.jpg (x)"


def test_a_center_crop_larger_than_the_images_is_refused_naming_the_smallest(tmp_path):
    write_image_folder(tmp_path / "imgs", n_per_class=4, size=(40, 30))
    Image.new("RGB", (26, 50)).save(tmp_path / "imgs" / "cats" / "narrow.png")

    def make(crop, **kwargs):
        return ImageFolderDataModule(root=str(tmp_path / "imgs"), batch_size=2, center_crop=crop, **kwargs)

    with pytest.raises(ConfigError, match=r"`center_crop` \(500\).*narrow\.png is 26 x 50.*`center_crop` <= 26"):
        make(500).setup()
    with pytest.raises(ConfigError, match=r"`center_crop` \(27\).*narrow\.png"):
        make(27).setup()
    dm = make(26)  # the largest crop every image holds
    dm.setup()
    assert dm.train_set[0][0].shape == (3, 64, 64)
    # without the setup check, the image is named when it is read, not padded with black
    unchecked = make(500, verify=False)
    unchecked.setup()
    with pytest.raises(ImageFileError, match=r"`center_crop` \(500\).* is 40 x 30"):
        unchecked.train_set[0]


@pytest.mark.filterwarnings("ignore:skipped 1 unreadable image")
def test_the_cli_refuses_bad_files_in_one_line_before_training(tmp_path, monkeypatch, capsys):
    """configs/folder_wgan_gp.yaml as shipped (4 workers); with verify off, a worker finds the file."""
    from lit_gan.cli import run_cli
    from tests.conftest import REPO

    write_jpegs(tmp_path / "imgs")
    monkeypatch.chdir(tmp_path)
    base = ["fit", "--config", str(REPO / "configs" / "folder_wgan_gp.yaml"), "--data.init_args.root", "imgs",
            "--data.init_args.batch_size", "11", "--trainer.fast_dev_run", "true"]
    cases = [(["--data.init_args.verify", "full"], r"cannot read image imgs/07\.jpg \(image file is truncated"),
             (["--data.init_args.verify", "false", "--data.init_args.num_workers", "2"],
              r"cannot read image imgs/07\.jpg \(image file is truncated"),
             (["--data.init_args.skip_corrupt", "true", "--data.init_args.center_crop", "500"],
              r"`center_crop` \(500\) to be at most .* is 40 x 48")]
    for extra, expected in cases:
        with pytest.raises(SystemExit) as exit_info:
            run_cli(base + extra)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        last = err.strip().splitlines()[-1]
        assert re.match(r"\S+( \w+)?: error: ", last) and re.search(expected, last), err
        assert "Traceback" not in err and "Caught" not in err, err
    assert not (tmp_path / "lightning_logs").exists()
