"""Image data modules on files written in torchvision's on-disk formats, loaded with download=False."""

import warnings

import numpy as np
import pytest
import torch

from lit_gan import WGANGP
from lit_gan.data import CelebADataModule, CIFAR10DataModule, DigitsDataModule, ImageFolderDataModule, MNISTDataModule
from lit_gan.data.cifar import read_batches
from lit_gan.errors import ConfigError, DatasetNotFoundError
from tests.data.formats import write_image_folder


def first_batch(dm):
    dm.setup("fit")
    return dm.on_after_batch_transfer(next(iter(dm.train_dataloader())), 0)


def check_images(images, shape):
    assert images.dtype == torch.float32 and images.shape[1:] == shape
    assert images.min() >= -1 and images.max() <= 1
    assert images.min() < -0.9 and images.max() > 0.9  # the full range is used: scaled, not squashed


def test_mnist_idx_files(mnist_root):
    dm = MNISTDataModule(root=str(mnist_root), download=False, batch_size=16)
    images, labels = first_batch(dm)
    check_images(images, (1, 28, 28))
    assert labels.dtype == torch.long and labels.shape == (16,)
    assert len(dm.train_set) == 96 and len(dm.held_out_set) == 32  # train split / held-out test split
    assert dm.train_set.tensors[0].dtype == torch.uint8  # held in memory as uint8


def test_mnist_resized_on_the_device(mnist_root):
    dm = MNISTDataModule(root=str(mnist_root), download=False, batch_size=8, image_size=32)
    assert dm.img_shape == (1, 32, 32)
    check_images(first_batch(dm)[0], (1, 32, 32))


def test_cifar10_pickles(cifar_root):
    dm = CIFAR10DataModule(root=str(cifar_root), download=False, batch_size=8)
    images, labels = first_batch(dm)
    check_images(images, (3, 32, 32))
    assert len(dm.train_set) == 80 and len(dm.held_out_set) == 24
    # channel planes land where torchvision puts them: row = 1024 R, 1024 G, 1024 B values
    import pickle

    entry = pickle.loads((cifar_root / "cifar-10-batches-py" / "test_batch").read_bytes())
    x, y = read_batches(cifar_root / "cifar-10-batches-py", ["test_batch"])
    assert torch.equal(x[3, 1], torch.from_numpy(entry["data"][3, 1024:2048].reshape(32, 32)))
    assert y.tolist() == entry["labels"]


def test_cifar10_refuses_a_corrupted_file(cifar_root):
    path = cifar_root / "cifar-10-batches-py" / "data_batch_3"
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DatasetNotFoundError, match="data_batch_3 is corrupted"):
        CIFAR10DataModule(root=str(cifar_root), download=False).setup()


def test_cifar10_unpickler_refuses_code(cifar_root, monkeypatch):
    import os
    import pickle

    path = cifar_root / "cifar-10-batches-py" / "test_batch"
    path.write_bytes(pickle.dumps({"data": os.system}, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="posix.system|os.system|nt.system"):
        read_batches(path.parent, ["test_batch"])


def test_celeba_folder(celeba_root):
    dm = CelebADataModule(root=str(celeba_root), download=False, batch_size=4)
    images, _ = first_batch(dm)
    check_images(images, (3, 64, 64))
    assert len(dm.train_set) == 12 and len(dm.held_out_set) == 2  # "train" partition / "valid" partition
    # the usual preprocessing: 178 center crop of the 178 x 218 image, then resize to 64
    raw = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(dm.train_set.paths[0]))
    crop = torch.from_numpy(raw[20:198]).permute(2, 0, 1).float()[None]
    expected = torch.nn.functional.interpolate(crop, size=(64, 64), mode="bilinear", antialias=True)[0]
    assert (dm.train_set[0][0].float() - expected).abs().mean() < 3  # uint8 rounding and resampler details


def test_image_folder_with_classes_and_held_out_split(tmp_path):
    write_image_folder(tmp_path / "imgs", n_per_class=10)
    dm = ImageFolderDataModule(root=str(tmp_path / "imgs"), image_size=16, batch_size=4, held_out_fraction=0.2)
    images, labels = first_batch(dm)
    check_images(images, (3, 16, 16))
    assert len(dm.train_set) == 16 and len(dm.held_out_set) == 4
    assert set(dm.train_set.labels) == {0, 1}
    assert not set(dm.train_set.paths) & set(dm.held_out_set.paths)
    gray = ImageFolderDataModule(root=str(tmp_path / "imgs"), image_size=8, channels=1, batch_size=4)
    assert first_batch(gray)[0].shape[1:] == (1, 8, 8) == gray.img_shape


def test_image_folder_names_a_corrupt_file_or_skips_it_with_a_count(tmp_path):
    bad = write_image_folder(tmp_path / "imgs", n_per_class=5, corrupt=2)
    with pytest.raises(ConfigError, match="broken_0.png.*2 unreadable"):
        ImageFolderDataModule(root=str(tmp_path / "imgs"), batch_size=2).setup()
    dm = ImageFolderDataModule(root=str(tmp_path / "imgs"), batch_size=2, skip_corrupt=True, held_out_fraction=0.1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dm.setup()
    assert any("skipped 2 unreadable" in str(w.message) for w in caught)
    assert len(dm.train_set) + len(dm.held_out_set) == 10
    assert not set(bad) & set(dm.train_set.paths + dm.held_out_set.paths)
    # without the check, the bad file is named when it is read
    unchecked = ImageFolderDataModule(root=str(tmp_path / "imgs"), batch_size=2, verify=False)
    unchecked.setup()
    i = unchecked.train_set.paths.index(bad[0]) if bad[0] in unchecked.train_set.paths else None
    ds = unchecked.train_set if i is not None else unchecked.held_out_set
    with pytest.raises(ConfigError, match="broken_0.png"):
        ds[ds.paths.index(bad[0])]


def test_digits_from_scikit_learn():
    dm = DigitsDataModule(batch_size=32)
    images, labels = first_batch(dm)
    check_images(images, (1, 8, 8))
    assert len(dm.train_set) + len(dm.held_out_set) == 1797 and len(dm.held_out_set) == 297
    assert set(labels.tolist()) <= set(range(10))


@pytest.mark.parametrize(
    "make,expected",
    [
        (lambda root: MNISTDataModule(root=root, download=False), "train-images-idx3-ubyte"),
        (lambda root: CIFAR10DataModule(root=root, download=False), "cifar-10-batches-py.*data_batch_1"),
        (lambda root: CelebADataModule(root=root, download=False), "img_align_celeba.*list_eval_partition.txt"),
        (lambda root: ImageFolderDataModule(root=root), "no images"),
    ],
    ids=["mnist", "cifar10", "celeba", "folder"],
)
def test_missing_data_says_which_files_where(tmp_path, make, expected):
    with pytest.raises(DatasetNotFoundError, match=expected) as info:
        make(str(tmp_path / "empty")).setup()
    assert str(tmp_path / "empty") in str(info.value)


@pytest.mark.parametrize("make,module", [(MNISTDataModule, "mnist"), (CIFAR10DataModule, "cifar")], ids=["mnist", "cifar10"])
def test_a_failed_download_is_one_error_that_names_root_and_download(tmp_path, monkeypatch, make, module):
    import urllib.error

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    # torchvision's own download code runs (MNIST tries each mirror, then gives up); only the fetch fails
    monkeypatch.setattr(f"torchvision.datasets.{module}.download_and_extract_archive", offline)
    root = str(tmp_path / "data")
    with pytest.raises(DatasetNotFoundError, match="could not be downloaded.*Name or service not known") as info:
        make(root=root, download=True).prepare_data()
    message = str(info.value)
    assert root in message and "`download: false`" in message and "\n" not in message
    if module == "mnist":
        assert "`--data lit_gan.data.MNIST5k`" in message  # how to train offline


def test_batch_larger_than_the_data_with_drop_last(mnist_root):
    with pytest.raises(ConfigError, match="batch_size.*96 training images"):
        MNISTDataModule(root=str(mnist_root), download=False, batch_size=128).setup()
    MNISTDataModule(root=str(mnist_root), download=False, batch_size=128, drop_last=False).setup()


def test_a_size_the_generator_cannot_produce_is_refused_at_setup_with_both_shapes(tmp_path):
    from functools import partial

    from lit_gan.networks import DCGANCritic, DCGANGenerator
    from tests.conftest import cpu_trainer

    model = WGANGP(generator=partial(DCGANGenerator, base_channels=4), critic=partial(DCGANCritic, base_channels=4),
                   latent_dim=4, img_shape=(1, 28, 28))
    with pytest.raises(ConfigError, match=r"\(1, 8, 8\).*\(1, 28, 28\)"):
        cpu_trainer(tmp_path, fast_dev_run=1).fit(model, DigitsDataModule(batch_size=8))
