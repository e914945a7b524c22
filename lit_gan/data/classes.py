"""How often each class occurs in a training set: for generated labels drawn with the data's class
frequencies (``AdversarialModule(label_frequencies="data")``)."""

from typing import Optional

import torch
from torch import Tensor
from torch.utils.data import Dataset, Subset, TensorDataset


def labels_of(dataset: Dataset) -> Optional[Tensor]:
    """Every label of ``dataset`` without reading its images: a TensorDataset's second tensor, a
    Subset's of its dataset, or a ``targets`` attribute (torchvision's, the image folders'); None if none."""
    if isinstance(dataset, Subset):
        labels = labels_of(dataset.dataset)
        return None if labels is None else labels[torch.as_tensor(dataset.indices)]
    if isinstance(dataset, TensorDataset):
        return dataset.tensors[1] if len(dataset.tensors) > 1 else None
    targets = getattr(dataset, "targets", None)
    return None if targets is None else torch.as_tensor(targets)


def class_counts(dataset: Dataset, num_classes: int) -> Optional[Tensor]:
    """How many samples each of the ``num_classes`` classes has in ``dataset`` (float64; labels outside
    0..num_classes-1 not counted), or None when its labels cannot be read without its images."""
    labels = labels_of(dataset)
    if labels is None:
        return None
    labels = labels.long().reshape(-1)
    return torch.bincount(labels[(labels >= 0) & (labels < num_classes)], minlength=num_classes).double()
