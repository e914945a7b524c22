"""Files: checksums read in 1 MiB chunks (data sets and weights are large), and folders of many files
(samples) written whole, so that a run killed while writing never leaves what passes for a result."""

import contextlib
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Iterator, Optional

# An output being written: the temporary folder it is written into is named UNFINISHED-<random>; the file
# UNFINISHED lies in its target while the finished files are moved there. A run killed at any point leaves one.
UNFINISHED = ".lit-gan-unfinished"


def file_digest(path: Path, algorithm: str) -> str:
    """The hex digest of ``path`` with ``algorithm`` ("md5", "sha256", ...)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def leftovers(target: Path) -> list[Path]:
    """What runs stopped while writing into ``target`` left there (never a result)."""
    return sorted(target.glob(f"{UNFINISHED}*")) if target.is_dir() else []


def unfinished(folder: Path) -> Optional[Path]:
    """The mark of an unfinished output on ``folder`` (one of :func:`written_whole`'s, or a sub-folder of
    one): ``folder`` or its parent is a temporary folder, or holds the mark of a move; None if none."""
    for path in (folder, folder.parent):
        if path.name.startswith(UNFINISHED):
            return path
        if (path / UNFINISHED).exists():
            return path / UNFINISHED
    return None


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _move_into(source: Path, target: Path) -> None:
    """The entries of ``source`` to ``target``, by rename; a folder whose namesake in ``target`` holds other
    files (the user's own) is merged into it, file by file."""
    for entry in sorted(source.iterdir()):
        into = target / entry.name
        if entry.is_dir() and into.is_dir() and any(into.iterdir()):
            _move_into(entry, into)
            entry.rmdir()
        else:
            os.replace(entry, into)  # a file, or a folder onto a missing or empty one: whole, at once


@contextlib.contextmanager
def written_whole(target: Path, replaced: Iterable[Path] = ()) -> Iterator[Path]:
    """A temporary folder inside ``target`` (created) to write an output into; when the block ends, the
    paths ``replaced`` (an earlier output, leftovers of stopped runs) are removed and the new entries moved
    into ``target``. An error before that removes the temporary folder: ``target`` keeps what it held.

    Renames within ``target`` are atomic, also where ``target`` is a mount point; only the few renames at
    the end, under the mark ``target/UNFINISHED``, can leave a mixture, and then the mark says so."""
    mark = target / UNFINISHED
    replaced = [path for path in replaced if path != mark]  # the mark of a stopped run: this run's now
    created = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=f"{UNFINISHED}-", dir=target))
    try:
        yield temp
        mark.touch()
        for path in replaced:
            _remove(path)
        _move_into(temp, target)
        temp.rmdir()
        mark.unlink()
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        if created:
            with contextlib.suppress(OSError):
                target.rmdir()  # only if empty
        raise
