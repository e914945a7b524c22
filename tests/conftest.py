"""Shared fixtures: tiny networks, tiny data, a CPU trainer, MNIST files in the IDX format."""

import struct
import subprocess
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from lightning.pytorch import Trainer

from lit_gan.networks import MLPCritic, MLPGenerator

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _own_reference_cache(tmp_path_factory, monkeypatch):
    """Each test its own reference cache (ImageQuality caches held-out features by default): no test
    reads another's entries, and none writes into the user's ~/.cache; subprocesses inherit it."""
    monkeypatch.setenv("LIT_GAN_CACHE_DIR", str(tmp_path_factory.mktemp("reference-cache")))


def tiny_networks() -> dict:
    return dict(
        generator=partial(MLPGenerator, hidden_dims=(16,)),
        critic=partial(MLPCritic, hidden_dims=(16,)),
        latent_dim=2,
        img_shape=(2,),
    )


def cpu_trainer(tmp_path: Path, **kwargs) -> Trainer:
    defaults = dict(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )
    return Trainer(**{**defaults, **kwargs})


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write ``array`` (uint8) in the IDX format that MNIST's raw files use."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def mnist_root(tmp_path: Path) -> Path:
    """A fake MNIST (96 train, 32 test images) in torchvision's raw layout: root/MNIST/raw/*-ubyte."""
    rng = np.random.default_rng(0)
    raw = tmp_path / "mnist" / "MNIST" / "raw"
    for prefix, n in (("train", 96), ("t10k", 32)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, (n,)))
    return tmp_path / "mnist"


@pytest.fixture
def cifar_root(tmp_path: Path, monkeypatch) -> Path:
    """A fake CIFAR-10 (5 x 16 train, 24 test images) as python pickle batches."""
    from lit_gan.data import CIFAR10DataModule
    from tests.data.formats import write_cifar10

    sums = write_cifar10(tmp_path / "cifar")
    # the integrity check stays on: it checks the files against the sums of the files this test wrote
    monkeypatch.setattr(CIFAR10DataModule, "checksums", sums)
    return tmp_path / "cifar"


@pytest.fixture
def celeba_root(tmp_path: Path, monkeypatch) -> Path:
    """A fake CelebA (12 train, 2 valid, 2 test aligned 178 x 218 JPEGs) in torchvision's folder layout."""
    from lit_gan.data import CelebADataModule
    from tests.data.formats import write_celeba

    digest = write_celeba(tmp_path / "faces")
    monkeypatch.setattr(CelebADataModule, "checksums", {"list_eval_partition.txt": digest})
    return tmp_path / "faces"


@pytest.fixture
def folder_root(tmp_path: Path) -> Path:
    """A folder of 20 PNGs in two class sub-folders."""
    from tests.data.formats import write_image_folder

    write_image_folder(tmp_path / "images", n_per_class=10)
    return tmp_path / "images"


@pytest.fixture
def mount_tmpfs(tmp_path):
    """Mounts a tmpfs with the options given (a tiny one fills at once; "ro": read-only, also for root)."""
    mounted = []

    def mount(options: str):
        folder = tmp_path / f"disk{len(mounted)}"
        folder.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {done.stderr.decode().strip()}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=True)
