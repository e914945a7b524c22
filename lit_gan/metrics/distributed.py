"""Evaluation on several processes (DDP): each rank extracts its share of the images, the metrics' states
are gathered, and their values computed once, on rank 0, then broadcast, so that every rank logs the same
values and the expensive part (FID's matrix square root, KID's subsets, the k-NN radii of precision/recall
and density/coverage, CAS's classifier) runs once, not once per rank.

The reference cache under DDP (:func:`cached_share`) is keyed by the whole held-out set, never by a rank's
share: an entry holds the whole set's features and each rank reads its share, so runs on 1, 2 or 8
processes share it.

The collectives run on torch.distributed's default process group (Lightning's DDP sets it up); without one
(a single process), everything runs as before, with no collective.
"""

import pickle
import warnings
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Sequence

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torchmetrics import Metric

from lit_gan.compat import is_synced, set_sync_switches, sync_switches
from lit_gan.errors import one_line
from lit_gan.metrics.reference import ImagesDigest, ReferenceCache, cached_features, images_key
from lit_gan.metrics.sources import Batch, shard


def world() -> tuple[int, int]:
    """(rank, number of processes) of the default process group; (0, 1) without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _all_gather(obj: Any) -> list[Any]:
    """``obj`` of every rank, in rank order (a collective)."""
    found: list[Any] = [None] * world()[1]
    dist.all_gather_object(found, obj)
    return found


@contextmanager
def gathered(states: Sequence[nn.Module]) -> Iterator[None]:
    """Every torchmetrics state in ``states`` synced (a collective: every rank enters, and gathers every
    rank's states), then computed as it is, without syncing again; on exit each rank has its own states back
    (the metrics keep accumulating, e.g. the real features across evaluations)."""
    metrics = [m for state in states for m in state.modules() if isinstance(m, Metric)]
    switches = [sync_switches(m) for m in metrics]  # torchmetrics' own switches, as its forward sets them
    try:
        for metric in metrics:  # in the same order on every rank
            metric.sync()
            set_sync_switches(metric, False, False)  # compute: the synced states, no second gather
        yield
    finally:
        for metric, (to_sync, should_unsync) in zip(metrics, switches):
            set_sync_switches(metric, to_sync, should_unsync)
            if is_synced(metric):
                metric.unsync()


def _sendable(err: Exception) -> Exception:
    """``err`` as the other ranks can receive it: itself where it pickles, else its type and message."""
    try:
        pickle.loads(pickle.dumps(err))
        return err
    except Exception:
        return RuntimeError(f"{type(err).__name__}: {one_line(err)}")


def computed_once(compute: Callable[[], Mapping[str, Tensor]], device: torch.device) -> dict[str, Tensor]:
    """``compute()`` on rank 0 alone, its values broadcast to every rank (on ``device``, this rank's); an error
    there is raised on every rank (none waits for values that never come)."""
    rank, size = world()
    if size == 1:
        return dict(compute())
    values: Optional[dict[str, Tensor]] = None
    error: Optional[Exception] = None
    if rank == 0:
        try:
            values = dict(compute())
        except Exception as err:  # raised after the broadcast, so that the other ranks raise it too
            error = err
    box = [None if rank else ({k: v.cpu() for k, v in values.items()} if error is None else _sendable(error))]
    dist.broadcast_object_list(box, src=0)
    if error is not None:
        raise error
    if isinstance(box[0], Exception):
        raise box[0]
    return values if rank == 0 else {k: v.to(device) for k, v in box[0].items()}


def share_rows(batches: Iterable[Batch], lo: int, hi: Optional[int]) -> Iterator[Batch]:
    """The rows [lo, hi) (None: to the end) of a stream of (images, labels) batches."""
    offset = 0
    for images, labels in batches:
        size = len(images)
        if offset + size > lo:
            rows = slice(max(lo - offset, 0), None if hi is None else hi - offset)
            yield images[rows], None if labels is None else labels[rows]
        offset += size
        if hi is not None and offset >= hi:
            break


def gather_rows(rows: Tensor, n: int) -> Tensor:
    """Every rank's share of ``n`` rows (``rows``: this rank's, :func:`~lit_gan.metrics.sources.shard`'s
    range), concatenated in rank order: the whole table, on every rank."""
    size = world()[1]
    sizes = [hi - lo for lo, hi in (shard(n, r, size) for r in range(size))]
    padded = rows.new_zeros((max(sizes), *rows.shape[1:]))  # all_gather takes tensors of one shape
    padded[: len(rows)] = rows
    found = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(found, padded)
    return torch.cat([part[:k] for part, k in zip(found, sizes)])


def cached_share(batches: Callable[[], Iterable[Tensor]], extractor: Any, cache: Optional[ReferenceCache],
                 source: dict[str, str], n: Optional[int] = None) -> tuple[Tensor, Optional[bool]]:
    """(features of this rank's share of the images that ``batches()`` yields, whether they came from ``cache``).

    ``batches()`` yields all the images (``n`` of them, where known), on every rank. The key is the whole
    set's, as :func:`~lit_gan.metrics.reference.cached_features` makes it on one process, so that an entry
    serves any number of processes: on a hit each rank reads its share of it; on a miss each extracts its share,
    the shares are gathered and rank 0 stores the whole set's features. The ranks agree on hit or miss (all
    read, or all extract), and nothing is cached where their images differ (rank-dependent transforms) or
    differ from one pass to the next."""
    rank, size = world()
    if size == 1:
        return cached_features(batches, extractor, cache, source)
    key = images_key(batches, extractor, cache, source)  # every rank hashes the whole set
    if key is not None and len(set(_all_gather(key["images_sha256"]))) != 1:
        warnings.warn("reference cache: the held-out images differ between the processes; features not cached",
                      stacklevel=2)
        key = None
    if n is None:
        n = int(key["num_images"]) if key is not None else sum(len(images) for images in batches())
    lo, hi = shard(n, rank, size)
    found = cache.load(key) if key is not None else None
    if key is not None and all(_all_gather(found is not None)):
        return found[lo:hi], True
    digest, rows, offset = ImagesDigest(), [], 0
    for images in batches():
        if key is not None:
            digest.update(images)
        share = images[max(lo - offset, 0): max(hi - offset, 0)]
        if len(share):
            rows.append(extractor.extract(share)[0])  # (b, d)
        offset += len(images)
        if key is None and offset >= hi:
            break
    features = torch.cat(rows)
    if key is not None and not all(_all_gather(digest.hexdigest() == key["images_sha256"])):
        warnings.warn(f"reference cache: the images ({source.get('data', '')} {source.get('split', '')}) differ from"
                      " one pass to the next (a shuffled loader or random transforms?); features not cached",
                      stacklevel=2)
        key = None
    if key is None:
        return features, None
    whole = gather_rows(features, n)
    if rank == 0:
        try:
            cache.save(key, whole)
        except OSError as err:
            warnings.warn(f"reference cache: could not write {cache.path(key)} ({err}); features not cached",
                          stacklevel=2)
    return features, False
