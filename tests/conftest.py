"""Shared fixtures: tiny networks, tiny data, a CPU trainer, MNIST files in the IDX format."""

import struct
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from lightning.pytorch import Trainer

from lit_gan.networks import MLPCritic, MLPGenerator

REPO = Path(__file__).resolve().parents[1]


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
