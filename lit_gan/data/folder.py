"""Image folders, and CelebA: their files listed and checked; each image decoded as ``decoded.py`` does,
once into a cache by default.
"""

import math
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal, Optional, Union

import torch
from jsonargparse.typing import PositiveInt
from PIL import Image
from torchvision.datasets import CelebA

from lit_gan.data.decoded import UNDECODABLE, DecodedImageModule, Decoder, ImageFileError, ImageFiles, check_crop  # noqa: F401
from lit_gan.errors import ConfigError, DatasetNotFoundError, one_line
from lit_gan.files import file_digest

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def checked_size(path: Path, full: bool) -> tuple[int, int]:
    """(width, height) of the file once its data verifies (PNG checksums; cheap), and with ``full``
    once it decodes in full; raises what PIL raises. ``verify`` alone decodes nothing, so it passes a
    truncated JPEG."""
    with Image.open(path) as image:
        image.verify()
        size = image.size  # from the header
    if full:
        with Image.open(path) as image:  # verify leaves the image unusable: open it again
            image.load()
    return size


def size_or_reason(path: Path, full: bool) -> Union[tuple[int, int], str]:
    """``checked_size(path, full)``, or why PIL cannot read the file, in one line."""
    try:
        return checked_size(path, full)
    except UNDECODABLE as err:
        return one_line(err) or type(err).__name__


def image_paths(root: Path) -> list[Path]:
    """Every image file under ``root``, sorted, each real file once; a folder that cannot be listed is named
    (``os.walk`` and ``Path.rglob`` skip it silently, so a root without read permission would look like an
    empty one).

    Links are followed to files and folders outside ``root`` (a folder of links into a photo collection),
    but never into a loop: a link to a folder inside ``root`` (listed under its own name anyway), to one
    already listed, or to one that holds a folder of the walk so far (``root/loop -> root``) is left out.
    A file reached by several paths (a link beside its target) is listed once, by its own path before a
    link's; so no phantom class, and no copy of a training image in the held-out split.
    """
    real_root = os.path.realpath(root)
    seen, found = {real_root}, {}  # real folders walked; real file -> the paths that reach it
    stack = [(root, (real_root,))]  # (folder, real paths of the folders that led to it, itself last)
    while stack:
        folder, chain = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda e: e.name)  # the same walk on every file system
        except OSError as err:
            raise ConfigError(f"cannot list the folder {err.filename} under `root`={str(root)!r} ({err.strerror}):"
                              " give read access to it, or choose another `root`") from err
        for entry in entries:
            link, path = entry.is_symlink(), Path(entry.path)
            real = os.path.realpath(path) if link else os.path.join(chain[-1], entry.name)
            if is_folder(entry):
                if real in seen or (link and (within(real, real_root) or any(within(c, real) for c in chain))):
                    continue
                seen.add(real)
                stack.append((path, chain + (real,)))
            elif path.suffix.lower() in EXTENSIONS:
                found.setdefault(real, []).append((link, path))
    return sorted(min(paths)[1] for paths in found.values())


def is_folder(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()  # follows a link
    except OSError:  # a link loop (a -> b -> a): a file, which fails to open, named if it looks like an image
        return False


def within(path: str, folder: str) -> bool:
    """Whether the real path ``path`` is ``folder`` or inside it."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_files(paths: list[Path], skip_corrupt: bool, full: bool = False, threads: int = 1) -> dict[Path, tuple[int, int]]:
    """The (width, height) of each file that PIL verifies (and with ``full`` decodes in full); refuse
    (naming it) or skip (counting them) the others. PIL decodes outside the GIL: ``threads`` side by side."""
    with ThreadPoolExecutor(max(1, threads)) as pool:
        outcomes = dict(zip(paths, pool.map(lambda path: size_or_reason(path, full), paths)))
    bad = {path: reason for path, reason in outcomes.items() if isinstance(reason, str)}
    first = next(iter(bad), None)
    if first and not skip_corrupt:
        raise ConfigError(
            f"cannot read image {first} ({bad[first]}; {len(bad)} unreadable file(s) in all):"
            " remove it, or set `skip_corrupt: true`"
        )
    if first:
        warnings.warn(f"skipped {len(bad)} unreadable image file(s), e.g. {first} ({bad[first]})", stacklevel=2)
    return {path: size for path, size in outcomes.items() if not isinstance(size, str)}


def held_out_size(n: int, fraction: float) -> int:
    """The images of the held-out split of ``n``: a fixed share, at least one."""
    return max(1, round(fraction * n))


def check_training_split(root: str, n: int, fraction: float, batch_size: int, drop_last: bool) -> None:
    """Refuse ``n`` images whose training split, what the held-out split leaves, would be empty (a run that
    trains nothing and exits 0), or with ``drop_last`` smaller than a batch; say how many images it takes."""
    needed, held = (batch_size if drop_last else 1), held_out_size(n, fraction)
    if n - held >= needed:
        return
    # m - round(fraction m) >= needed needs m >= (needed - 0.5) / (1 - fraction): counted on from there, at most
    # a million (a fraction near 1 needs billions: then the bound itself, rounded up)
    share = max(1 - fraction, 1e-12)
    start = max(n + 1, int((needed - 0.5) / share) - 1)
    least = next((m for m in range(start, start + 1_000_000) if m - held_out_size(m, fraction) >= needed),
                 math.ceil(needed / share))
    batch = f" for one full training batch (`batch_size` {batch_size}, `drop_last: true`)" if drop_last else ""
    advice = ["add images"]
    advice += ["lower `batch_size`", "set `drop_last: false`"] if n > held else []  # some to train on, not a batch
    advice += ["lower `held_out_fraction`"] if n - 1 >= needed else []  # its smallest split (one image) leaves enough
    advice[-2:] = [(", or " if len(advice) > 2 else " or ").join(advice[-2:])]
    raise ConfigError(
        f"Expected at least {least} images under `root`={root!r}{batch}, found {n}: the held-out split"
        f" (`held_out_fraction` {fraction:g}, at least one image) takes {'it' if n == 1 else held}, which leaves"
        f" {n - held or 'none'} to train on: {', '.join(advice)}"
    )


def check_crop_fits(crop: Optional[int], sizes: dict[Path, tuple[int, int]]) -> None:
    """Refuse a ``center_crop`` larger than the smallest image (by its shorter side)."""
    if crop and sizes:
        path = min(sizes, key=lambda p: min(sizes[p]))
        check_crop(crop, path, sizes[path])


class ImageFolderDataModule(DecodedImageModule):
    """Every image under ``root`` (recursively), e.g. your own photos; labels are the first sub-folder.

    Links to files and folders are followed, each real file taken once and never a loop (``image_paths``).
    Setup refuses a folder whose training split (what the held-out split leaves) would be empty, or with
    ``drop_last`` hold no full batch, naming how many images it takes.

    Args:
        image_size: side of the square images the model sees (default 64).
        center_crop: side of the center crop taken before resizing; None crops to the shorter side.
        channels: 3 (RGB) or 1 (grayscale).
        held_out_fraction: share of the images held out (a fixed random split, ``seed``; at least one image).
        verify: at setup, check every file with PIL's ``verify`` (its header and PNG checksums: about
            45,000 files a second) and that it holds ``center_crop``, so that a bad file is named before
            training starts. ``full``: also decode every file (in ``num_workers`` threads), which finds a
            truncated JPEG too; one core decodes about 10,000 64 x 64 JPEGs a second, 200 to 700 of 1024 x
            768, on every process. A file that fails later is named in one line when it is first read.
        skip_corrupt: with ``verify``, skip unreadable files with one warning that counts them.
        **kwargs: the arguments of :class:`DecodedImageModule` (``cache``, ``cache_dir``, ``num_workers``,
            ``pin_memory``) and :class:`~lit_gan.data.images.ImageDataModule` (``download`` is ignored).
    """

    native_size = 64

    def __init__(
        self,
        image_size: PositiveInt = 64,
        center_crop: Optional[PositiveInt] = None,
        channels: Literal[1, 3] = 3,
        held_out_fraction: float = 0.05,
        verify: Union[bool, Literal["full"]] = True,
        skip_corrupt: bool = False,
        seed: int = 0,
        **kwargs,
    ) -> None:
        super().__init__(image_size=image_size, **kwargs)
        if channels not in (1, 3):
            raise ValueError(f"Expected argument `channels` to be 1 or 3, got {channels}")
        if not 0 < held_out_fraction < 1:
            raise ValueError(f"Expected argument `held_out_fraction` to be in (0, 1), got {held_out_fraction}")
        self.channels, self.center_crop, self.held_out_fraction = channels, center_crop, held_out_fraction
        self.verify, self.skip_corrupt, self.seed = verify, skip_corrupt, seed

    def load(self) -> tuple[ImageFiles, ImageFiles]:
        root = Path(self.root)
        paths = image_paths(root) if root.is_dir() else []
        if not paths:
            raise DatasetNotFoundError(f"no images ({', '.join(EXTENSIONS)}) found under `root`={self.root!r}")
        if self.verify:  # "full": a decode of every file, in num_workers threads (cost: the docstring above)
            full, threads = self.verify == "full", self.loader_kwargs["num_workers"]
            sizes = check_files(paths, self.skip_corrupt, full=full, threads=threads)
            check_crop_fits(self.center_crop, sizes)
            paths = list(sizes)
        classes = sorted({p.relative_to(root).parts[0] for p in paths if len(p.relative_to(root).parts) > 1})
        self.num_classes = len(classes) if len(classes) > 1 else 0  # labelled by sub-folder, when there are several
        labels = [classes.index(p.relative_to(root).parts[0]) if len(p.relative_to(root).parts) > 1 else 0 for p in paths]
        order = torch.randperm(len(paths), generator=torch.Generator().manual_seed(self.seed)).tolist()
        check_training_split(self.root, len(paths), self.held_out_fraction, self.batch_size, self.drop_last)
        n_held = held_out_size(len(paths), self.held_out_fraction)
        decode = Decoder("RGB" if self.channels == 3 else "L", self.image_size, self.center_crop)
        cache = self.image_cache(paths, decode, self.img_shape, root)
        split = lambda idx: ImageFiles([paths[i] for i in idx], [labels[i] for i in idx], decode, cache)  # noqa: E731
        return split(order[n_held:]), split(order[:n_held])


class CelebADataModule(DecodedImageModule):
    """CelebA aligned faces: the "train" partition for training, "valid" held out.

    The usual GAN preprocessing: a 178 x 178 center crop, then a resize to 64 x 64.
    Files: ``root/celeba/img_align_celeba/*.jpg`` and ``root/celeba/list_eval_partition.txt``.
    Arguments: see :class:`DecodedImageModule` (the cache: ``root/celeba/img_align_celeba/.lit-gan-cache``
    by default) and :class:`~lit_gan.data.images.ImageDataModule`, plus ``center_crop`` (178).
    """

    channels, native_size = 3, 64
    checksums = {name: md5 for _, md5, name in CelebA.file_list}

    def __init__(self, center_crop: Optional[PositiveInt] = 178, **kwargs) -> None:
        super().__init__(**kwargs)
        self.center_crop = center_crop

    def _not_found(self, what: str) -> DatasetNotFoundError:
        return DatasetNotFoundError(
            f"CelebA {what} under `root`={self.root!r}: expected {Path(self.root) / 'celeba'}/ with img_align_celeba/"
            " (the aligned JPEGs, from img_align_celeba.zip) and list_eval_partition.txt. Set `download: true`"
            " (needs internet and the gdown package), or get them from the CelebA site and unpack them there."
        )

    def prepare_data(self) -> None:
        if self.download and not (Path(self.root) / "celeba" / "img_align_celeba").is_dir():
            try:
                CelebA(self.root, split="all", download=True)
            except Exception as err:  # gdown missing, no internet, Google Drive quota: all end the same way
                raise self._not_found(f"could not be downloaded ({err})") from err

    def load(self) -> tuple[ImageFiles, ImageFiles]:
        folder = Path(self.root) / "celeba"
        partition, images = folder / "list_eval_partition.txt", folder / "img_align_celeba"
        if not (partition.is_file() and images.is_dir()):
            raise self._not_found("not found")
        if file_digest(partition, "md5") != self.checksums["list_eval_partition.txt"]:
            raise DatasetNotFoundError(f"CelebA file {partition} is corrupted (md5 differs): download it again")
        splits: dict[int, list[Path]] = {0: [], 1: [], 2: []}
        for line in partition.read_text().split("\n"):
            if line.strip():
                name, split = line.split()
                splits[int(split)].append(images / name)
        decode = Decoder("RGB", self.image_size, self.center_crop)
        cache = self.image_cache(splits[0] + splits[1], decode, self.img_shape, images)
        make = lambda paths: ImageFiles(paths, [0] * len(paths), decode, cache)  # noqa: E731
        return make(splits[0]), make(splits[1])
