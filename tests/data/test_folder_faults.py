"""ImageFolderDataModule on folders that used to fool it: 16-bit PNGs (clipped to 255), symlink loops
(2 images became 82, with a phantom class and copies in the held-out split), and too few images for a
training split (a one-image folder trained nothing and exited 0)."""

import os
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lit_gan.data import ImageFolderDataModule
from lit_gan.data.folder import image_paths
from tests.conftest import REPO
from tests.data.formats import write_image_folder
from tests.test_bad_input import refused  # lit-gan's exit 2 and one line on stderr

# a 64 x 64 image of 64 columns, 0 .. 65535: the data module's 64 x 64 leaves the pixels as they are
GRADIENT = np.repeat(np.linspace(0, 65535, 64).round().astype(np.uint16)[None], 64, 0)


def write_png48(path: Path, gray: np.ndarray) -> None:
    """A 16-bit RGB PNG (R = G = B = ``gray``), written by hand: PIL cannot write one."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rgb = np.repeat(gray[..., None], 3, -1).astype(">u2")  # big-endian, as PNG stores samples
    rows = b"".join(b"\x00" + row.tobytes() for row in rgb)  # filter 0 (none) before each row
    header = struct.pack(">IIBBBBB", gray.shape[1], gray.shape[0], 16, 2, 0, 0, 0)  # 16 bits, truecolor
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunks)


@pytest.mark.parametrize("channels", [1, 3])
def test_16_bit_pngs_are_scaled_to_8_bits_not_clipped(tmp_path, channels):
    root = tmp_path / "imgs"
    root.mkdir()
    for i in range(3):
        Image.fromarray(GRADIENT).save(root / f"gray16_{i}.png")
    write_png48(root / "rgb48.png", GRADIENT)
    with Image.open(root / "gray16_0.png") as gray16, Image.open(root / "rgb48.png") as rgb48:
        assert gray16.mode == "I;16" and rgb48.mode == "RGB"  # PIL reads 16-bit RGB as 8-bit RGB itself
    dm = ImageFolderDataModule(root=str(root), channels=channels, batch_size=1)
    dm.setup()
    expected = np.broadcast_to(GRADIENT >> 8, (channels, 64, 64))  # the high byte, as PIL reads 16-bit RGB
    assert expected[0, 0, 0] == 0 and expected[0, 0, -1] == 255 and len(np.unique(expected)) == 64
    for data in (dm.train_set, dm.held_out_set):
        for i in range(len(data)):
            image = data[i][0].numpy()  # (C, 64, 64) uint8
            assert (np.diff(image.astype(int), axis=-1) > 0).all(), data.paths[i]  # increasing, not 0, 255, 255, ...
            np.testing.assert_array_equal(image, expected, err_msg=str(data.paths[i]))


def all_paths(dm: ImageFolderDataModule) -> list[Path]:
    dm.setup()
    return dm.train_set.paths + dm.held_out_set.paths


@pytest.mark.parametrize("link,target", [("cats/loop", "cats"), ("loop", ".")], ids=["to-its-folder", "to-root"])
def test_a_symlink_loop_adds_no_images_and_no_class(tmp_path, link, target):
    root = tmp_path / "images"
    write_image_folder(root, n_per_class=1)
    os.symlink(root / target, root / link)
    paths = all_paths(ImageFolderDataModule(root=str(root), batch_size=1, held_out_fraction=0.5))
    assert sorted(p.relative_to(root).as_posix() for p in paths) == ["cats/0.png", "dogs/0.png"]
    assert len({p.resolve() for p in paths}) == 2  # train + held-out: 2 distinct files, no copy in both


def test_links_out_of_root_are_followed_once_and_duplicates_counted_once(tmp_path):
    """What image_paths documents: a link to a folder outside root is followed (a class of its own), a loop in
    there is not; a link to a folder that holds root, or to a file listed under its own name, adds nothing."""
    root, outside = tmp_path / "images", tmp_path / "outside"
    write_image_folder(root, n_per_class=1)
    outside.mkdir()
    Image.new("RGB", (40, 30)).save(outside / "0.png")
    os.symlink(outside, outside / "again")  # a loop outside root
    os.symlink(outside, root / "more")
    os.symlink(tmp_path, root / "up")  # holds root: a loop through the parent, whose stray.png stays out
    Image.new("RGB", (40, 30)).save(tmp_path / "stray.png")
    os.symlink(root / "cats" / "0.png", root / "dogs" / "alias.png")  # a file already listed as cats/0.png
    expected = ["cats/0.png", "dogs/0.png", "more/0.png"]
    assert [p.relative_to(root).as_posix() for p in image_paths(root)] == expected
    dm = ImageFolderDataModule(root=str(root), batch_size=1, held_out_fraction=0.4)
    assert sorted(p.relative_to(root).as_posix() for p in all_paths(dm)) == expected
    assert sorted(dm.train_set.labels + dm.held_out_set.labels) == [0, 1, 2]  # cats, dogs, more


END = r"(?: \(see: .*--help\))?$"  # the CLI's usual hint, then nothing: the advice is whole




@pytest.mark.parametrize(
    "n,args,expected",
    [
        (1, [], r"Expected at least 67 images under `root`='{root}' for one full training batch \(`batch_size` 64,"
                r" `drop_last: true`\), found 1: the held-out split \(`held_out_fraction` 0.05, at least one image\)"
                r" takes it, which leaves none to train on: add images{end}"),
        (1, ["--data.init_args.drop_last", "false"],  # trained nothing and exited 0
         r"Expected at least 2 images under `root`='{root}', found 1: the held-out split .* takes it, which leaves"
         r" none to train on: add images{end}"),
        (20, ["--data.init_args.held_out_fraction", "0.5", "--data.init_args.batch_size", "12"],
         r"Expected at least 24 images under `root`='{root}' for one full training batch \(`batch_size` 12,"
         r" `drop_last: true`\), found 20: the held-out split \(`held_out_fraction` 0.5, at least one image\) takes 10,"
         r" which leaves 10 to train on: add images, lower `batch_size`, set `drop_last: false`, or lower"
         r" `held_out_fraction`{end}"),
    ],
    ids=["one-image", "one-image-no-drop-last", "batch-larger-than-the-split"],
)
def test_a_folder_with_too_few_images_to_train_is_refused_naming_root_and_the_counts(tmp_path, monkeypatch, capsys,
                                                                                     n, args, expected):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "images"
    write_image_folder(root, n_per_class=n // 2)
    if n % 2:
        Image.new("RGB", (40, 30)).save(root / "only.png")
    line = refused(["fit", "--config", str(REPO / "configs" / "folder_wgan_gp.yaml"), "--data.init_args.root",
                    str(root), "--data.init_args.num_workers", "0", "--trainer.fast_dev_run", "1", *args], capsys)
    assert re.search(expected.format(root=re.escape(str(root)), end=END), line), line
    assert not list(tmp_path.glob("lightning_logs/*/checkpoints/*"))
