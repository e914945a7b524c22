"""Images/s: lit-gan's in-memory uint8 loaders against torchvision's per-sample PIL path.

    python -m benchmarks.data_loading [--batches 300] [--repeats 5]     (from the repository root)

Both read the same files, written here at full size in torchvision's formats (60,000 MNIST
images as IDX files; 50,000 CIFAR-10 images as python pickle batches), and both deliver float
batches in [-1, 1] of batch size 64 in random order, with num_workers=0. The runs alternate and
the medians are reported. The synthetic CIFAR-10 files cannot pass torchvision's md5 check, so
only here, for the reference path, that check is skipped; lit-gan's own check is given the
files' real sums.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torchvision.datasets.cifar
from torch.utils.data import DataLoader
from torchvision import transforms
from torchvision.datasets import CIFAR10, MNIST

from lit_gan.data import CIFAR10DataModule, MNISTDataModule
from tests.conftest import write_idx
from tests.data.formats import write_cifar10

import numpy as np


def images_per_second(loader, transfer, n_batches: int) -> float:
    it = iter(loader)
    start = time.perf_counter()
    seen = 0
    for _ in range(n_batches):
        images = transfer(next(it))[0]
        seen += images.shape[0]
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp())
    rng = np.random.default_rng(0)
    raw = tmp / "mnist" / "MNIST" / "raw"
    write_idx(raw / "train-images-idx3-ubyte", rng.integers(0, 256, (60000, 28, 28)))
    write_idx(raw / "train-labels-idx1-ubyte", rng.integers(0, 10, (60000,)))
    write_idx(raw / "t10k-images-idx3-ubyte", rng.integers(0, 256, (10000, 28, 28)))
    write_idx(raw / "t10k-labels-idx1-ubyte", rng.integers(0, 10, (10000,)))
    CIFAR10DataModule.checksums = write_cifar10(tmp / "cifar", n_per_batch=10000, n_test=10000)
    torchvision.datasets.cifar.check_integrity = lambda *a, **k: True  # reference path only (see above)

    normalize = lambda c: transforms.Compose([transforms.ToTensor(), transforms.Normalize([0.5] * c, [0.5] * c)])  # noqa: E731
    cases = {
        "MNIST": (
            MNISTDataModule(root=str(tmp / "mnist"), download=False),
            MNIST(str(tmp / "mnist"), train=True, transform=normalize(1)),
        ),
        "CIFAR-10": (
            CIFAR10DataModule(root=str(tmp / "cifar"), download=False),
            CIFAR10(str(tmp / "cifar"), train=True, transform=normalize(3)),
        ),
    }
    print(f"batch 64, {args.batches} batches per run, {args.repeats} alternating runs, median images/s")
    for name, (dm, reference) in cases.items():
        dm.setup()
        ours, theirs = [], []
        for _ in range(args.repeats):
            ours.append(images_per_second(dm.train_dataloader(), lambda b: dm.on_after_batch_transfer(b, 0), args.batches))
            ref_loader = DataLoader(reference, batch_size=64, shuffle=True, drop_last=True)
            theirs.append(images_per_second(ref_loader, lambda b: b, args.batches))
        o, t = statistics.median(ours), statistics.median(theirs)
        print(f"{name:9s} lit-gan in-memory {o:10.0f}   torchvision per-sample {t:8.0f}   ratio {o / t:6.1f}x")


if __name__ == "__main__":
    main()
