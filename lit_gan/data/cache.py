"""Decoded images of a list of files, kept so that an epoch decodes none (issue 39): in memory, or in one
memory-mapped file on disk that later runs, DDP ranks and DataLoader workers read without decoding.

A file's entry is its path (relative to the folder), its size and its modification time (ns): a file
whose entry changed, or a new one, is decoded again and the other rows are copied; a removed file's row
is dropped. The file on disk holds a header (the decoding parameters and the entries, JSON) and then the
images, uint8 (N, C, H, W). It is written into a temporary file and renamed, under a lock (``flock``)
taken before it is read: a process that starts beside the one building it waits, then reads the
finished file. A cache file that cannot be read (truncated, another format) is rebuilt with a warning;
a folder that cannot be written keeps the images in memory, with a warning.
"""

import hashlib
import json
import math
import os
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np
from lightning.pytorch.utilities import rank_zero_info

try:
    import fcntl
except ImportError:  # Windows: no flock; the rename alone keeps the file whole
    fcntl = None  # type: ignore[assignment]

MAGIC = b"LITGANIC"  # then the header's length (8 bytes, little-endian), the header, zeros up to ALIGN
ALIGN = 4096  # the images start on a page
FORMAT = 1  # a change of the file's layout or of what the decoder does: another key, a new file

Entry = tuple[str, int, int]  # (path relative to the folder, size in bytes, modification time in ns)
Cached = tuple[list[Entry], np.ndarray]  # a cache file's entries and its images, memory-mapped


def threads() -> int:
    """The cores this process may use (its affinity, as a scheduler grants them)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class ImageCache:
    """The images ``decode(path)`` gives for ``paths``, each uint8 of ``shape`` (C, H, W), decoded once.

    Args:
        paths: the files, in the order of the rows.
        decode: a file's image, a uint8 array or tensor of ``shape``; its errors pass through (they name the file).
        shape: (C, H, W) of every image.
        params: what, besides the file, decides the image (mode, size, crop, library versions): its key.
        root: the folder the entries' paths are relative to.
        directory: the folder of the cache file; None keeps the images in memory.
    """

    def __init__(self, paths: Sequence[Path], decode: Callable[[Path], Any], shape: tuple[int, int, int],
                 params: dict, root: Path, directory: Optional[Path]) -> None:
        self.paths, self.decode, self.shape = list(paths), decode, tuple(shape)
        self.root, self.directory = root, directory
        self.index = {path: row for row, path in enumerate(self.paths)}
        self.params = {"format": FORMAT, "shape": list(self.shape), **params}
        key = hashlib.sha256(json.dumps(self.params, sort_keys=True).encode()).hexdigest()[:16]
        self.file = directory / f"{key}.images" if directory is not None else None
        self._images: Optional[np.ndarray] = None
        self.decoded = 0  # files decoded by this instance: 0 when the file on disk was current

    def images(self) -> np.ndarray:
        """(N, C, H, W) uint8, a row per path: decoded now, or read from the cache file."""
        if self._images is None:
            self._images = self._from_disk() if self.file is not None else self._fill(self._empty(), self.entries())
        return self._images

    def entries(self) -> list[Entry]:
        def entry(path: Path) -> Entry:
            try:
                st = os.stat(path)
            except OSError:  # gone or unreadable: decode names it
                return (os.path.relpath(path, self.root), -1, -1)
            return (os.path.relpath(path, self.root), st.st_size, st.st_mtime_ns)
        return [entry(path) for path in self.paths]

    def _empty(self) -> np.ndarray:
        return np.empty((len(self.paths), *self.shape), np.uint8)

    def _fill(self, images: np.ndarray, entries: list[Entry], old: Optional[Cached] = None) -> np.ndarray:
        """``images`` with each row copied from ``old`` where its entry is unchanged, else decoded, in threads
        (PIL decodes outside the GIL). The first file that fails, in the rows' order, stops it."""
        rows = {entry: row for row, entry in enumerate(old[0])} if old else {}
        todo = []
        for row, entry in enumerate(entries):
            if entry in rows:
                images[row] = old[1][rows[entry]]
            else:
                todo.append(row)

        def decode(row: int) -> None:
            images[row] = np.asarray(self.decode(self.paths[row]))

        if len(todo) >= 1000:
            where = f" into {self.file}" if self.file is not None else " in memory"
            rank_zero_info(f"image cache: decoding {len(todo):,} of {len(entries):,} images{where}, once")
        pool = ThreadPoolExecutor(threads())
        try:
            for _ in pool.map(decode, todo):
                pass
        finally:
            pool.shutdown(cancel_futures=True)
        self.decoded += len(todo)
        return images

    def _from_disk(self) -> np.ndarray:
        entries = self.entries()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            lock = os.open(self.directory / f"{self.file.stem}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:  # a read-only folder may still hold a current cache, written by someone else
            old = self._read(warn=False)
            return old[1] if old is not None and old[0] == entries else self._in_memory(err, entries, old)
        try:
            with _locked(lock):
                old = self._read(warn=True)
                if old is not None and old[0] == entries:
                    return old[1]
                try:
                    return self._write(entries, old)
                except OSError as err:  # a full disk, a quota: decoding errors are ImageFileErrors, not OSErrors
                    return self._in_memory(err, entries, old)
        finally:
            os.close(lock)

    def _in_memory(self, err: OSError, entries: list[Entry], old: Optional[Cached]) -> np.ndarray:
        reason = f"{self.directory} is a file, not a folder" if self.directory.is_file() else err.strerror or err
        warnings.warn(f"image cache: cannot write {self.file} ({reason}); the decoded images are kept in"
                      " memory for this run: set `cache_dir` to a writable folder, or `cache: memory`", stacklevel=2)
        return self._fill(self._empty(), entries, old)

    def _read(self, warn: bool) -> Optional[Cached]:
        """(entries, images memory-mapped) of the cache file; None when there is none or it cannot be used."""
        try:
            with open(self.file, "rb") as f:
                if f.read(len(MAGIC)) != MAGIC:
                    raise ValueError("not a lit-gan image cache")
                length = int.from_bytes(f.read(8), "little")
                header = json.loads(f.read(length))
            if header["params"] != self.params:
                raise ValueError("other decoding parameters")
            entries = [tuple(entry) for entry in header["entries"]]
            offset, shape = _offset_of(length), (len(entries), *self.shape)
            if os.path.getsize(self.file) != offset + math.prod(shape):
                raise ValueError(f"{os.path.getsize(self.file)} bytes, expected {offset + math.prod(shape)}")
            images = np.memmap(self.file, np.uint8, "r", offset, shape) if entries else np.empty(shape, np.uint8)
            return entries, images
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as err:
            if warn:
                warnings.warn(f"image cache {self.file} cannot be used ({err}): it is built again", stacklevel=2)
            return None

    def _write(self, entries: list[Entry], old: Optional[Cached]) -> np.ndarray:
        header = json.dumps({"params": self.params, "entries": entries}).encode()
        offset, shape = _offset_of(len(header)), (len(entries), *self.shape)
        for leftover in self.directory.glob(f".{self.file.name}-*"):  # of a build killed (SIGKILL); we hold the lock
            with suppress(OSError):
                leftover.unlink()
        fd, temp = tempfile.mkstemp(prefix=f".{self.file.name}-", dir=self.directory)
        try:
            os.chmod(temp, 0o644)  # mkstemp's 0600 would hide it from the other users of a shared folder
            with os.fdopen(fd, "wb") as f:
                f.write(MAGIC + len(header).to_bytes(8, "little") + header)
                f.flush()
                if hasattr(os, "posix_fallocate"):  # a full disk is an OSError now, not a SIGBUS in the memory map
                    os.posix_fallocate(f.fileno(), 0, offset + math.prod(shape))
                f.truncate(offset + math.prod(shape))
            if entries:
                target = np.memmap(temp, np.uint8, "r+", offset, shape)
                self._fill(target, entries, old)
                target.flush()
                del target
            os.replace(temp, self.file)
        except BaseException:
            with suppress(OSError):
                os.unlink(temp)
            raise
        return self._read(warn=True)[1]


def _offset_of(header_bytes: int) -> int:
    """Where the images start: after the magic, the header's length and the header, on a page."""
    return -(-(len(MAGIC) + 8 + header_bytes) // ALIGN) * ALIGN


@contextmanager
def _locked(fd: int) -> Iterator[None]:
    """``flock`` on ``fd`` while the block runs; a file system without it (some NFS mounts) goes without."""
    locked = False
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            locked = True
        except OSError:
            pass
    try:
        yield
    finally:
        if locked:
            fcntl.flock(fd, fcntl.LOCK_UN)
