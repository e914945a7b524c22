"""Cached reference statistics: the held-out images' features, extracted once and reused.

The real side of FID, KID, precision/recall, density/coverage and MMD is the same in every
evaluation of every run on one data set, but extracting it is the slow part (Inception on 10,000
MNIST test images: 905 s on one CPU). A :class:`ReferenceCache` keeps those features on disk, one
entry per key:

- ``images_sha256``: the sha256 of the held-out images exactly as the extractor receives them
  (every batch's bytes, shape and dtype, in order): the data set's files, the split, the number of
  images and the transforms all show in it, so a changed file is a miss. It is the whole set's, never
  a DDP rank's share: runs on any number of processes share an entry
  (:func:`lit_gan.metrics.distributed.cached_share`);
- the extractor's :meth:`~lit_gan.metrics.FeatureExtractor.identity`: its name, its number of
  features, its weights' sha256 and its resize protocol, so other weights are a miss;
- the lit-gan cache format, and the versions of lit-gan and torch-fidelity (whose code computes
  the features: a fix to it must not meet features of the old code).

The same cache keeps, when asked (``lit-gan evaluate --cache_samples true``), the features and
logits of generated images under the same kind of key (their bytes as the extractor receives
them): a second evaluation of one checkpoint or folder of samples, against another split or with
other metrics or draws, then extracts nothing.

An entry is a plain ``torch.save`` dict of tensors and strings, read back with
``torch.load(weights_only=True)`` (a crafted file cannot run code), with its key and the sha256 of
its features inside: a file whose key or checksum does not match, or that cannot be read, is
recomputed and replaced (with a warning), never trusted. Entries are written as checkpoints are
(``checkpoint_io.write_atomically``: a temporary file, fsync, then ``os.replace``), so a run that
stops mid-write leaves no partial entry.
"""

import hashlib
import io
import json
import os
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Union

import torch
from torch import Tensor

from lit_gan.checkpoint_io import write_atomically
from lit_gan.errors import one_line

FORMAT = "lit-gan-reference-1"
CACHE_ENV = "LIT_GAN_CACHE_DIR"
VERSIONS = {"lit_gan": version("lit-gan"), "torch_fidelity": version("torch-fidelity")}


def default_cache_dir() -> Path:
    """``$LIT_GAN_CACHE_DIR``, else ``$XDG_CACHE_HOME/lit-gan/reference`` (``~/.cache/lit-gan/reference``)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lit-gan" / "reference"


class ImagesDigest:
    """The running sha256 of a sequence of image batches: bytes, shape and dtype of each, in order."""

    def __init__(self) -> None:
        self._hash, self.count = hashlib.sha256(), 0

    def update(self, images: Tensor) -> None:
        x = images.detach().contiguous().cpu()
        self._hash.update(f"{tuple(x.shape)}{x.dtype};".encode())
        self._hash.update(x.view(torch.uint8).numpy().tobytes() if x.numel() else b"")
        self.count += len(x)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def images_digest(batches: Iterable[Tensor]) -> tuple[str, int]:
    """(sha256 of ``batches`` as :class:`ImagesDigest` takes them, number of images)."""
    digest = ImagesDigest()
    for images in batches:
        digest.update(images)
    return digest.hexdigest(), digest.count


def _tensor_sha256(features: Tensor) -> str:
    return hashlib.sha256(features.contiguous().view(torch.uint8).numpy().tobytes()).hexdigest()


def _is_table(x: Any, rows: Optional[int] = None) -> bool:
    """A (N, d) float32 tensor (with ``rows`` rows when given)."""
    return isinstance(x, Tensor) and x.ndim == 2 and x.dtype == torch.float32 and rows in (None, x.shape[0])


class ReferenceCache:
    """Features of reference images on disk, under ``root``, one file per key (see the module).

    ``load(key)`` returns the features (N, d) float32 on the CPU, or None on a miss (no entry, or a
    corrupt one, which is then removed); ``save(key, features)`` writes the entry. With ``logits``
    (N, K) (a key whose ``outputs`` is ``features and logits``: generated images, for IS), ``save``
    stores them beside the features and ``load(key, logits=True)`` returns both, or None.
    """

    def __init__(self, root: Optional[str] = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()

    @staticmethod
    def full_key(key: dict[str, str]) -> dict[str, str]:
        return {"format": FORMAT, **VERSIONS, **{k: str(v) for k, v in key.items()}}

    def path(self, key: dict[str, str]) -> Path:
        name = hashlib.sha256(json.dumps(self.full_key(key), sort_keys=True).encode()).hexdigest()[:32]
        return self.root / f"{name}.pt"

    def load(self, key: dict[str, str], logits: bool = False) -> Union[None, Tensor, tuple[Tensor, Tensor]]:
        path = self.path(key)
        if not path.is_file():
            return None
        why = None
        try:
            entry = torch.load(path, map_location="cpu", weights_only=True)
            features = entry["features"] if isinstance(entry, dict) else None
            if not _is_table(features):
                why = "no (N, d) float32 features"
            elif logits and not _is_table(entry.get("logits"), features.shape[0]):
                why = "no (N, K) float32 logits"
            elif logits and entry.get("logits_sha256") != _tensor_sha256(entry["logits"]):
                why = "its logits do not match their checksum"
            elif entry.get("key") != self.full_key(key):
                why = "its key is not the one asked for"
            elif entry.get("features_sha256") != _tensor_sha256(features):
                why = "its features do not match their checksum"
            elif str(features.shape[0]) != self.full_key(key).get("num_images", str(features.shape[0])):
                why = "it holds another number of images"
            elif str(features.shape[1]) != self.full_key(key).get("features", str(features.shape[1])):
                why = "it holds another number of features"
        except Exception as err:  # truncated, not a zip, an unsafe pickle (refused by weights_only), ...
            why = f"it cannot be read ({type(err).__name__}: {one_line(err)[:200]})"
        if why is not None:
            warnings.warn(f"reference cache entry {path} ignored and recomputed: {why}", stacklevel=2)
            try:
                path.unlink(missing_ok=True)
            except OSError:  # a read-only shared cache: the entry stays, and is never trusted
                pass
            return None
        return (features, entry["logits"]) if logits else features

    def save(self, key: dict[str, str], features: Tensor, logits: Optional[Tensor] = None) -> Path:
        features = features.detach().float().contiguous().cpu()
        entry = {"key": self.full_key(key), "features": features, "features_sha256": _tensor_sha256(features)}
        if logits is not None:
            logits = logits.detach().float().contiguous().cpu()
            entry |= {"logits": logits, "logits_sha256": _tensor_sha256(logits)}
        buffer = io.BytesIO()
        torch.save(entry, buffer)
        path = self.path(key)
        write_atomically(path, buffer.getbuffer())  # the checkpoints' writer: a unique temporary file, fsync, rename
        return path


def cached_features(
    batches: Callable[[], Iterable[Tensor]], extractor: Any, cache: Optional[ReferenceCache], source: dict[str, str],
) -> tuple[Tensor, Optional[bool]]:
    """(features (N, d) of the images that ``batches()`` yields, whether they came from ``cache``).

    ``batches`` is called once to hash the images and, on a miss, once more to extract them (and
    hash them again: images that differ between the passes, from a shuffled loader or random
    transforms, are not cached); the key is their digest, ``source`` (e.g. the data module and
    split, for a reader of the cache) and ``extractor.identity()``. With no cache, or an extractor
    without ``identity`` (then with a warning), the features are extracted and nothing is stored
    (hit: None). A cache that cannot be written (read-only, full) warns and the features are still
    returned.
    """
    features, _, hit = cached_outputs(batches, extractor, cache, source, logits=False)
    return features, hit


def images_key(batches: Callable[[], Iterable[Tensor]], extractor: Any, cache: Optional[ReferenceCache],
               source: dict[str, str], logits: bool = False, what: str = "reference cache") -> Optional[dict[str, str]]:
    """The key of the images of ``batches()`` (one pass to hash them) for ``extractor``: their digest and number,
    ``source`` and ``extractor.identity()``; None where there is no cache, or the extractor has no identity (then
    with a warning)."""
    if cache is None:
        return None
    try:
        identity = extractor.identity()
    except NotImplementedError:
        warnings.warn(f"{what} off: {type(extractor).__name__} has no identity()", stacklevel=4)
        return None
    digest, n = images_digest(batches())
    key = {"images_sha256": digest, "num_images": str(n), **source, **identity}
    return key | {"outputs": "features and logits"} if logits else key


def cached_outputs(
    batches: Callable[[], Iterable[Tensor]], extractor: Any, cache: Optional[ReferenceCache], source: dict[str, str],
    logits: bool = True, what: str = "reference cache",
) -> tuple[Tensor, Optional[Tensor], Optional[bool]]:
    """(features (N, d), logits (N, K) or None, hit): :func:`cached_features`, keeping ``extract``'s
    logits too when ``logits`` (under a key of its own: ``outputs: features and logits``); ``what``
    names the cache in the warnings."""
    key = images_key(batches, extractor, cache, source, logits, what)
    if key is not None:
        found = cache.load(key, logits=logits)
        if found is not None:
            return (*found, True) if logits else (found, None, True)
    digest, features, logit_rows = ImagesDigest(), [], []
    for images in batches():
        digest.update(images)
        outputs = extractor.extract(images)  # (features, logits)
        features.append(outputs[0])
        if logits:
            logit_rows.append(outputs[1])
    features = torch.cat(features)
    kept = torch.cat(logit_rows) if logits else None
    if key is not None and digest.hexdigest() != key["images_sha256"]:  # shuffled, or random transforms
        warnings.warn(f"{what}: the images ({source.get('data', '')} {source.get('split', '')}) differ from"
                      " one pass to the next (a shuffled loader or random transforms?); features not cached", stacklevel=3)
        key = None
    if key is not None:
        try:
            cache.save(key, features, kept)
        except OSError as err:
            warnings.warn(f"{what}: could not write {cache.path(key)} ({err}); features not cached", stacklevel=3)
    return features, kept, None if key is None else False
