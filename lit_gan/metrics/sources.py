"""Where the images that the metrics score come from, for ``ImageQuality`` and ``lit-gan evaluate`` alike:
the held-out images of a data module, a generator's samples from fixed latents, and training images with
the samples' class counts. Each yields ``(images, labels)`` batches (labels None where there are none) and
takes, of n items, the contiguous share of one process of several (:func:`shard`).

How a raw batch becomes what the model sees (uint8 -> [-1, 1], resizing, the device) is the caller's
``convert``: Lightning's hooks within a run, the data module's own in ``lit-gan evaluate``.
"""

from typing import Any, Callable, Iterable, Iterator, Optional

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from lit_gan.data.classes import class_counts as data_class_counts
from lit_gan.errors import ConfigError
from lit_gan.tensors import fixed_latents, real_images

Batch = tuple[Tensor, Optional[Tensor]]  # images (B, ...), labels (B,) or None


def shard(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """The contiguous range [lo, hi) of n items that ``rank`` of ``world_size`` takes."""
    return n * rank // world_size, n * (rank + 1) // world_size


def check_num_real(num_real: Optional[int], available: int, datamodule: Any) -> None:
    """Refuse more held-out images than ``datamodule`` holds (``available``), rather than fewer silently."""
    if num_real is not None and num_real > available:
        raise ConfigError(f"Expected argument `num_real` ({num_real}) to be at most the {available} held-out images"
                          f" of {type(datamodule).__name__}")


def batch_labels(batch: Any) -> Optional[Tensor]:
    """The labels of a batch ``[images, labels]``; None for a batch of images alone."""
    labels = batch[1] if isinstance(batch, (list, tuple)) and len(batch) > 1 else None
    return labels if isinstance(labels, Tensor) else None


def held_out_batches(loader: Iterable[Any], n: int, convert: Callable[[Any], Any], rank: int = 0,
                     world_size: int = 1) -> Iterator[Batch]:
    """This process's share of the first ``n`` images of ``loader`` (a held-out split), converted by
    ``convert``; only the batches of the share are converted."""
    lo, hi = shard(n, rank, world_size)
    offset = 0
    for batch in loader:
        size = len(real_images(batch))
        if offset + size > lo:
            batch = convert(batch)
            rows = slice(max(lo - offset, 0), hi - offset)
            labels = batch_labels(batch)
            yield real_images(batch)[rows], None if labels is None else labels[rows]
        offset += size
        if offset >= hi:
            break


def sample_labels(model: Any, n: int) -> Optional[Tensor]:
    """The classes of ``n`` samples drawn from fixed latents (the model's rule: i mod K), None if unconditional."""
    labels_for = getattr(model, "labels_for", None)
    return None if labels_for is None else labels_for(n, None, drawn=False)


def generated_batches(model: Any, n: int, batch_size: int, seed: int, rank: int = 0,
                      world_size: int = 1) -> Iterator[Batch]:
    """This process's share of ``n`` samples of ``model`` (``sample(n, z, labels)``, eval mode, no grad) from
    latents of ``seed``, by ``batch_size``, and their classes (:func:`sample_labels`)."""
    latents = fixed_latents(n, model.latent_dim, seed)  # (n, latent_dim), the same for every process
    labels = sample_labels(model, n)
    lo, hi = shard(n, rank, world_size)
    for start in range(lo, hi, batch_size):
        rows = slice(start, min(start + batch_size, hi))
        batch = None if labels is None else labels[rows]
        if batch is None:
            yield model.sample(rows.stop - start, z=latents[rows]), None
        else:
            yield model.sample(rows.stop - start, z=latents[rows], labels=batch), batch


def class_counts(model: Any, n: int) -> Optional[list[int]]:
    """How many of ``n`` samples :func:`generated_batches` draws of each class; None if unconditional."""
    labels = sample_labels(model, n)
    return None if labels is None else torch.bincount(labels.cpu(), minlength=model.num_classes).tolist()


def training_like(dataset: Optional[Dataset], counts: list[int], batch_size: int,
                  convert: Callable[[Any], Any]) -> Batch:
    """The first ``counts[c]`` images of each class c of ``dataset`` (a training set), in its order, converted:
    real images with the samples' class counts (a real-vs-real floor at their sizes). One line when the data
    module has no training set, no labels, or too few images of a class."""
    if dataset is None:
        raise ConfigError("Expected a data module with a `train_set` for the training images of the class metrics")
    need, images, labels = list(counts), [], []
    for batch in DataLoader(dataset, batch_size=batch_size):
        batch = convert(batch)
        classes = batch_labels(batch)
        if classes is None:
            raise ConfigError("Expected the training set to have labels for the class metrics, got images alone")
        take = []
        for i, c in enumerate(classes.tolist()):
            if 0 <= c < len(need) and need[c] > 0:
                need[c] -= 1
                take.append(i)
        if take:
            rows = torch.tensor(take, device=classes.device)
            images.append(real_images(batch)[rows])
            labels.append(classes[rows])
        if not any(need):
            break
    check_training_counts([n - left for n, left in zip(counts, need)], counts)  # a class short: refused
    return torch.cat(images), torch.cat(labels)


def dataset_class_counts(dataset: Optional[Dataset], num_classes: int) -> Optional[list[int]]:
    """The images of each class of ``dataset`` where it says so without reading them (a ``TensorDataset``'s labels,
    ``targets``); None where it does not (:func:`lit_gan.data.classes.class_counts`)."""
    counts = None if dataset is None else data_class_counts(dataset, num_classes)
    return None if counts is None else counts.long().tolist()


def check_training_counts(available: Optional[list[int]], counts: list[int]) -> None:
    """Refuse a training set with fewer images of a class than the samples of it (None: not known)."""
    for c, (have, want) in enumerate(zip(available or (), counts)):
        if have < want:
            raise ConfigError(f"Expected at least {want} training images of class {c}, as many as the samples of it"
                              f" (the class metrics' real-vs-real values), got {have}: lower `num_samples`")

