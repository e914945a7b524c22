"""File checksums, read in 1 MiB chunks (data sets and weights are large)."""

import hashlib
from pathlib import Path


def file_digest(path: Path, algorithm: str) -> str:
    """The hex digest of ``path`` with ``algorithm`` ("md5", "sha256", ...)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
