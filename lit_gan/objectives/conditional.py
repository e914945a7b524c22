"""What a class-conditional model (``num_classes`` K > 0) adds around the loop: its networks built
with the labels, the batch's labels, and one-line checks of labels and of the data's classes."""

from typing import Any, Callable

import torch
from torch import Tensor, nn

from lit_gan.errors import ConfigError
from lit_gan.specs import from_spec

CONDITIONAL = {"generator": "LabelConcat, or DCGANGenerator / ResNetGenerator (conditional BatchNorm)",
               "critic": "Projection (any critic), or LabelConcatCritic (the MLP), or `ac_weight` > 0 (AC-GAN's class head)"}


def conditional_network(name: str, factory: Callable[..., nn.Module], num_classes: int, *args: Any,
                        unconditional_ok: bool = False) -> nn.Module:
    """``factory(*args)``, and with ``num_classes=K`` for a conditional model; one line when the network
    does not take labels, or takes them on an unconditional model. ``unconditional_ok``: a network that
    takes no labels is built without them (AC-GAN's critic, whose class head reads its features)."""
    factory = from_spec(factory)
    if not num_classes:
        network = factory(*args)
    else:
        try:
            network = factory(*args, num_classes=num_classes)
        except TypeError as error:
            if "num_classes" not in str(error):
                raise
            if unconditional_ok:
                return factory(*args)
            raise ConfigError(
                f"`{name}` {_named(factory)} takes no labels, and the model is conditional (`num_classes` {num_classes}):"
                f" use {CONDITIONAL[name]}, or set `num_classes: 0`"
            ) from None
    has = int(getattr(network, "num_classes", 0))
    if has != num_classes:
        raise ConfigError(f"`{name}` {type(network).__name__} is built for {has} classes, the model's `num_classes` is"
                          f" {num_classes}: give both the same")
    return network


def _named(factory: Any) -> str:
    inner = getattr(factory, "func", factory)
    return getattr(inner, "__name__", type(inner).__name__)


def batch_labels(batch: Any, num_classes: int) -> Tensor:
    """The class labels of a batch ``[images, labels]``; one line for a batch without them."""
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise ConfigError(f"the model is conditional (`num_classes` {num_classes}) but the training batches hold no"
                          " labels: give data with classes, or set `num_classes: 0`")
    return batch[1]


def check_data_classes(datamodule: Any, num_classes: int) -> None:
    """At setup: a conditional model needs data of as many classes; the data module says how many
    (``num_classes``; 0 or missing: no labels)."""
    if not num_classes or datamodule is None:
        return
    has = int(getattr(datamodule, "num_classes", 0) or 0)
    if not has:
        raise ConfigError(f"the model's `num_classes` is {num_classes}, but {type(datamodule).__name__} has no class"
                          " labels: give data with classes, or set `num_classes: 0`")
    if has != num_classes:
        raise ConfigError(f"the model's `num_classes` ({num_classes}) differs from the {has} classes of"
                          f" {type(datamodule).__name__}: set `model.init_args.num_classes: {has}`")


def check_sample_labels(labels: Any, n: int, num_classes: int) -> Tensor:
    """``sample``'s labels: n class indices of a conditional model, as a LongTensor."""
    if not num_classes:
        raise ValueError("Expected argument `labels` to be None: the model is not conditional (`num_classes` 0)")
    if not isinstance(labels, Tensor) or labels.dtype not in (torch.int64, torch.int32) or labels.shape != (n,):
        got = f"a {labels.dtype} tensor of shape {tuple(labels.shape)}" if isinstance(labels, Tensor) else type(labels).__name__
        raise ValueError(f"Expected argument `labels` to be a LongTensor of {n} class indices, shape ({n},), got {got}")
    if n and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f"Expected argument `labels` to be class indices in 0..{num_classes - 1}, got"
                         f" {int(labels.min())}..{int(labels.max())}")
    return labels.long()


def data_class_frequencies(datamodule: Any, num_classes: int) -> Tensor:
    """The training classes' frequencies (K probabilities) of ``datamodule`` (its ``class_counts``), for
    ``label_frequencies: data``; one line where the data does not know them or a class has no sample."""
    counts = getattr(datamodule, "class_counts", None)
    counts = counts() if callable(counts) else None
    if counts is None:
        raise ConfigError(f"`label_frequencies: data` draws labels with the training classes' frequencies, but"
                          f" {type(datamodule).__name__} cannot count its classes (`class_counts`): use `uniform`")
    counts = torch.as_tensor(counts, dtype=torch.float64)
    if counts.numel() != num_classes or not bool((counts > 0).all()):
        raise ConfigError(f"`label_frequencies: data`: the training data's class counts {counts.long().tolist()} are not"
                          f" {num_classes} classes each with samples: use `uniform`")
    return (counts / counts.sum()).float()
