"""Images/s: lit-gan's in-memory uint8 loaders against torchvision's per-sample PIL path; and an image
folder read from its cache of decoded images against the same folder decoded with PIL on every read.

    python -m benchmarks.data_loading [--batches 300] [--repeats 5] [--cases mnist cifar folder]
    python -m benchmarks.data_loading --cases folder --folder-images 3000      (from the repository root)

Both read the same files, written here at full size in torchvision's formats (60,000 MNIST
images as IDX files; 50,000 CIFAR-10 images as python pickle batches), and both deliver float
batches in [-1, 1] of batch size 64 in random order, with num_workers=0. The runs alternate and
the medians are reported. The synthetic CIFAR-10 files cannot pass torchvision's md5 check, so
only here, for the reference path, that check is skipped; lit-gan's own check is given the
files' real sums.

The folder case writes ``--folder-images`` CelebA-sized JPEGs (178 x 218 RGB, smooth random content
with a little noise, quality 90: about the bytes of a CelebA file) and reads them as CelebA is read, a
178 center crop resized to 64 x 64, through ``ImageFolderDataModule.train_dataloader`` (batch 64, float
batches in [-1, 1]): with ``cache: none`` (PIL on every read, as before the cache; 0 and 2 workers),
and from the cache (``disk``, memory-mapped, and ``memory``; 0 and 2 workers), whole epochs, runs
alternating. The first pass (decoding every file into the disk cache, in threads) is timed once.
"""

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision.datasets.cifar
from PIL import Image
from torch.utils.data import DataLoader
from torchvision import transforms
from torchvision.datasets import CIFAR10, MNIST

from lit_gan.data import CIFAR10DataModule, ImageFolderDataModule, MNISTDataModule
from lit_gan.data.cache import threads
from tests.conftest import write_idx
from tests.data.formats import write_cifar10


def images_per_second(loader, transfer, n_batches: int) -> float:
    it = iter(loader)
    start = time.perf_counter()
    seen = 0
    for _ in range(n_batches):
        images = transfer(next(it))[0]
        seen += images.shape[0]
    return seen / (time.perf_counter() - start)


def write_celeba_sized(root: Path, n: int, seed: int = 0) -> None:
    """``n`` 178 x 218 RGB JPEGs: a smooth random field (an 8 x 10 grid, bicubic) plus a little noise."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    for i in range(n):
        coarse = Image.fromarray(rng.integers(0, 256, (10, 8, 3), dtype=np.uint8)).resize((178, 218), Image.BICUBIC)
        pixels = np.asarray(coarse).astype(np.int16) + rng.integers(-6, 7, (218, 178, 3), dtype=np.int16)
        Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(root / f"{i:06d}.jpg", quality=90)


def epochs_per_second(dm: ImageFolderDataModule, epochs: int) -> float:
    """Images/s over ``epochs`` epochs of the training loader, converted to float as on the device."""
    loader, seen = dm.train_dataloader(), 0
    start = time.perf_counter()
    for _ in range(epochs):
        for batch in loader:
            seen += dm.on_after_batch_transfer(batch, 0)[0].shape[0]
    return seen / (time.perf_counter() - start)


def folder_case(tmp: Path, n: int, repeats: int) -> None:
    root = tmp / "celeba_sized"
    write_celeba_sized(root, n)
    mb = sum(f.stat().st_size for f in root.iterdir()) / 1e6
    make = lambda cache, workers: ImageFolderDataModule(  # noqa: E731
        root=str(root), center_crop=178, image_size=64, batch_size=64, cache=cache, num_workers=workers,
        persistent_workers=workers > 0, verify=False)
    first = make("disk", 0)
    first.setup()
    start = time.perf_counter()
    first.train_dataloader()  # decodes every file into root/.lit-gan-cache, in threads
    build = n / (time.perf_counter() - start)
    cases = {"PIL per read (cache: none), 0 workers": (make("none", 0), 1),
             "PIL per read (cache: none), 2 workers": (make("none", 2), 1),
             "disk cache (memory-mapped), 0 workers": (make("disk", 0), 20),
             "disk cache (memory-mapped), 2 workers": (make("disk", 2), 20),
             "memory cache, 0 workers": (make("memory", 0), 20)}
    for dm, _ in cases.values():
        dm.setup()
        dm.train_dataloader()  # the memory cache decodes here, once, untimed; the disk cache is read
    assert cases["disk cache (memory-mapped), 0 workers"][0].train_set.cache.decoded == 0  # the file was current
    rates = {name: [] for name in cases}
    for _ in range(repeats):
        for name, (dm, epochs) in cases.items():
            rates[name].append(epochs_per_second(dm, epochs))
    load = os.getloadavg()
    print(f"{n} JPEGs of 178 x 218 ({mb / n * 1000:.1f} kB each), 178 crop -> 64 x 64, batch 64, "
          f"{repeats} alternating runs, median images/s; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print("| path | images/s |\n|---|---|")
    print(f"| first pass: decode into the disk cache ({threads()} threads) | {build:,.0f} |")
    base = statistics.median(rates["PIL per read (cache: none), 0 workers"])
    for name, values in rates.items():
        print(f"| {name} | {statistics.median(values):,.0f} ({statistics.median(values) / base:.1f}x) |")
    shutil.rmtree(root)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    cases = ["mnist", "cifar", "folder"]
    parser.add_argument("--cases", nargs="+", choices=cases, default=cases)
    parser.add_argument("--folder-images", type=int, default=3000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp())
    if "folder" in args.cases:
        folder_case(tmp, args.folder_images, args.repeats)
    if not {"mnist", "cifar"} & set(args.cases):
        return
    rng = np.random.default_rng(0)
    raw = tmp / "mnist" / "MNIST" / "raw"
    write_idx(raw / "train-images-idx3-ubyte", rng.integers(0, 256, (60000, 28, 28)))
    write_idx(raw / "train-labels-idx1-ubyte", rng.integers(0, 10, (60000,)))
    write_idx(raw / "t10k-images-idx3-ubyte", rng.integers(0, 256, (10000, 28, 28)))
    write_idx(raw / "t10k-labels-idx1-ubyte", rng.integers(0, 10, (10000,)))
    CIFAR10DataModule.checksums = write_cifar10(tmp / "cifar", n_per_batch=10000, n_test=10000)
    torchvision.datasets.cifar.check_integrity = lambda *a, **k: True  # reference path only (see above)

    normalize = lambda c: transforms.Compose([transforms.ToTensor(), transforms.Normalize([0.5] * c, [0.5] * c)])  # noqa: E731
    cases = {} if "mnist" not in args.cases else {
        "MNIST": (
            MNISTDataModule(root=str(tmp / "mnist"), download=False),
            MNIST(str(tmp / "mnist"), train=True, transform=normalize(1)),
        ),
    }
    cases.update({} if "cifar" not in args.cases else {
        "CIFAR-10": (
            CIFAR10DataModule(root=str(tmp / "cifar"), download=False),
            CIFAR10(str(tmp / "cifar"), train=True, transform=normalize(3)),
        ),
    })
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
