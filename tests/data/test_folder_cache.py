"""The cache of decoded images (issue 39): the same tensors and order as decoding every read, a file
changed, added or removed read again, a corrupt one named in one line, the disk file reused by a second
data module and built once by two at a time, and a cache folder that cannot be written kept in memory."""

import os
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lit_gan.data import ImageFolderDataModule
from lit_gan.data.cache import ImageCache, threads
from lit_gan.data.decoded import Decoder
from lit_gan.data.folder import ImageFileError
from tests.data.formats import write_image_folder


@pytest.fixture
def folder(tmp_path) -> Path:
    """12 PNGs in cats/ and dogs/, and 4 JPEGs of noise at the top (label 0)."""
    root = tmp_path / "imgs"
    write_image_folder(root, n_per_class=6)
    rng = np.random.default_rng(1)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)).save(root / f"top_{i}.jpg")
    return root


@pytest.fixture
def decodes(monkeypatch) -> list[Path]:
    """The files the decoder decodes, in every thread."""
    seen, lock, decode = [], threading.Lock(), Decoder.__call__

    def counted(self: Decoder, path: Path) -> torch.Tensor:
        with lock:
            seen.append(path)
        return decode(self, path)

    monkeypatch.setattr(Decoder, "__call__", counted)
    return seen


def make(root: Path, cache: str, **kwargs) -> ImageFolderDataModule:
    dm = ImageFolderDataModule(root=str(root), image_size=16, batch_size=4, held_out_fraction=0.25, cache=cache,
                               **kwargs)
    dm.setup()
    return dm


def batches(loader) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(images.clone(), labels.clone()) for images, labels in loader]


def assert_same_batches(a, b) -> None:
    assert len(a) == len(b) > 0
    for (images, labels), (images_b, labels_b) in zip(a, b):
        assert images.dtype == images_b.dtype == torch.uint8
        assert torch.equal(images, images_b) and torch.equal(labels, labels_b)


@pytest.mark.parametrize("cache", ["disk", "memory"])
@pytest.mark.parametrize("channels", [1, 3])
def test_the_cache_gives_the_tensors_and_order_of_decoding_every_read(folder, cache, channels):
    plain, cached = make(folder, "none", channels=channels), make(folder, cache, channels=channels)
    for split in ("train_set", "held_out_set"):
        ours, theirs = getattr(cached, split), getattr(plain, split)
        assert ours.paths == theirs.paths
        for i in range(len(ours)):
            assert torch.equal(ours[i][0], theirs[i][0]) and ours[i][1] == theirs[i][1]
    for _ in range(2):  # two epochs: two permutations
        assert_same_batches(batches(cached.train_dataloader()), batches(plain.train_dataloader()))
    assert_same_batches(batches(cached.val_dataloader()), batches(plain.val_dataloader()))
    assert [p.name for p in (folder / ".lit-gan-cache").glob("*.images")] == ([] if cache == "memory" else
                                                                             [cached.train_set.cache.file.name])


def test_a_resumed_order_is_the_same_with_the_cache(folder):
    state = {"seed": 3, "epoch": 1, "samples": 4, "into": 4, "loop_epoch": 0}  # 4 positions into permutation 1
    loaders = []
    for cache in ("none", "disk"):
        dm = make(folder, cache)
        dm.load_state_dict({"order": dict(state)})
        loaders.append(batches(dm.train_dataloader()))
    assert_same_batches(*loaders)
    uninterrupted = make(folder, "disk")
    uninterrupted.load_state_dict({"order": {**state, "samples": 0, "into": 0}})
    assert_same_batches(loaders[1], batches(uninterrupted.train_dataloader())[1:])  # one batch of 4 later


def test_the_disk_cache_is_read_by_a_second_module_and_a_changed_added_or_removed_file_read_again(folder, decodes):
    first = make(folder, "disk")
    first.train_dataloader()
    assert len(decodes) == 16 == len(set(decodes))
    file = first.train_set.cache.file
    stamp = file.stat().st_mtime_ns, file.stat().st_ino

    second = make(folder, "disk")
    second.train_dataloader()
    assert len(decodes) == 16 and (file.stat().st_mtime_ns, file.stat().st_ino) == stamp  # read, not written again
    assert isinstance(second.train_set.cache.images(), np.memmap)

    changed = folder / "cats" / "2.png"
    Image.new("RGB", (40, 30), (250, 10, 10)).save(changed)  # new content, size and time
    touched = folder / "top_1.jpg"
    t = touched.stat().st_mtime_ns
    os.utime(touched, ns=(t, t + 10**9))  # the same bytes, a new time
    third = make(folder, "disk")
    third.val_dataloader()
    assert sorted(decodes[16:]) == [changed, touched]
    data = third.train_set if changed in third.train_set.paths else third.held_out_set
    red = data[data.paths.index(changed)][0]
    assert red[0].min() >= 245 and red[1].max() <= 15  # the new image, not the cached one

    Image.new("RGB", (40, 30), (0, 0, 255)).save(folder / "dogs" / "new.png")
    (folder / "cats" / "0.png").unlink()
    fourth = make(folder, "disk")
    fourth.train_dataloader()
    assert decodes[18:] == [folder / "dogs" / "new.png"]
    assert len(fourth.train_set.cache.images()) == 16
    plain = make(folder, "none")
    assert_same_batches(batches(fourth.train_dataloader()), batches(plain.train_dataloader()))
    assert sorted(p.name for p in file.parent.iterdir()) == sorted([file.name, file.stem + ".lock"])  # no leftovers


@pytest.mark.parametrize("cache", ["disk", "memory"])
def test_a_corrupt_file_is_named_in_one_line_when_the_cache_is_built(folder, cache):
    broken = folder / "dogs" / "3.png"
    broken.write_bytes(broken.read_bytes()[:60])  # the header whole, the data cut
    dm = make(folder, cache, verify=False)
    with pytest.raises(ImageFileError) as info:
        dm.train_dataloader()
    message = str(info.value)
    assert message.startswith(f"cannot read image {broken} (") and message.endswith("): remove or replace it")
    assert "\n" not in message
    assert not list((folder / ".lit-gan-cache").glob("*.images*")) and not list((folder / ".lit-gan-cache").glob(".*"))


def test_two_processes_at_once_build_the_disk_cache_once(folder, decodes):
    """Two builders (as two DDP ranks would start): the lock lets one decode; the other waits and reads its file."""
    dms = [make(folder, "disk") for _ in range(2)]
    start, results = threading.Barrier(2), [None, None]

    def build(k: int) -> None:
        start.wait()
        results[k] = np.array(dms[k].train_set.cache.images())

    workers = [threading.Thread(target=build, args=(k,)) for k in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(decodes) == 16 and np.array_equal(results[0], results[1])
    assert len(list((folder / ".lit-gan-cache").glob("*.images"))) == 1


def test_a_cache_folder_that_cannot_be_written_keeps_the_images_in_memory(folder, tmp_path):
    (tmp_path / "a_file").write_text("")
    with pytest.warns(UserWarning, match=r"image cache: cannot write .*a_file/\w+\.images \(.*a_file is a file, not a"
                                         r" folder\); the decoded images are kept in memory for this run: set"
                                         r" `cache_dir` to a writable folder"):
        dm = make(folder, "disk", cache_dir=str(tmp_path / "a_file"))
        dm.train_dataloader()
    assert_same_batches(batches(dm.train_dataloader()), batches(make(folder, "none").train_dataloader()))


@pytest.mark.parametrize("options,reason", [("size=8k", "No space left on device"), ("ro", "Read-only file system")],
                         ids=["full", "read-only"])
def test_a_full_or_read_only_cache_disk_keeps_the_images_in_memory(folder, mount_tmpfs, options, reason):
    disk = mount_tmpfs(options)  # 8k: the header fits, the 16 images (12 kB) do not
    with pytest.warns(UserWarning, match=rf"cannot write {disk}/\w+\.images \({reason}\); the decoded images are kept"):
        dm = make(folder, "disk", cache_dir=str(disk))
        dm.train_dataloader()
    assert_same_batches(batches(dm.train_dataloader()), batches(make(folder, "none").train_dataloader()))
    assert [p.name for p in disk.iterdir() if not p.name.endswith(".lock")] == []  # nothing half written


def test_a_cache_file_that_cannot_be_used_is_built_again(folder, decodes):
    first = make(folder, "disk")
    first.train_dataloader()
    file = first.train_set.cache.file
    file.write_bytes(file.read_bytes()[:5000])  # truncated
    with pytest.warns(UserWarning, match=r"image cache .*\.images cannot be used \(\d+ bytes, expected \d+\): it is"
                                         " built again"):
        make(folder, "disk").train_dataloader()
    assert len(decodes) == 32
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make(folder, "disk").train_dataloader()  # whole again
    assert len(decodes) == 32


def test_loader_defaults_follow_the_cache_and_the_device(folder):
    assert make(folder, "disk").loader_kwargs == {"num_workers": 0, "pin_memory": False, "persistent_workers": False}
    assert make(folder, "none").loader_kwargs["num_workers"] == min(8, threads() - 1)
    assert make(folder, "none", num_workers=1, pin_memory=True).loader_kwargs["pin_memory"] is True
    dm = ImageFolderDataModule(root=str(folder), batch_size=4)

    class Strategy:  # what setup reads of a trainer: the device it trains on
        root_device = torch.device("cuda", 0)

    dm.trainer = type("Trainer", (), {"strategy": Strategy, "lightning_module": None})()
    dm.setup()
    assert dm.loader_kwargs["pin_memory"] is True
    with pytest.raises(ValueError, match=r"^Expected argument `cache` to be 'disk', 'memory' or 'none', got 'ram'$"):
        ImageFolderDataModule(root=str(folder), cache="ram")


def test_an_image_cache_of_no_files_is_empty(tmp_path):
    cache = ImageCache([], Decoder("RGB", 8, None), (3, 8, 8), {}, tmp_path, tmp_path / "cache")
    assert cache.images().shape == (0, 3, 8, 8)
