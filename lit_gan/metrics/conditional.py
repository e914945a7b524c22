"""Metrics of class-conditional samples: is each image of the class it was asked for?

- :func:`class_accuracy`: the share of samples that a classifier puts in the requested class,
  overall and per class, acc_c = #{i : y_i = c, argmax_k logits_ik = c} / #{i : y_i = c}.
- :func:`intra_class_fid`: the FID of each class's generated features against that class's real
  ones, and their mean (Miyato & Koyama 2018, "cGANs with projection discriminator"):

      intra-FID = 1/K sum_c FD(N(mu_c^g, S_c^g), N(mu_c^r, S_c^r))

  with :func:`~lit_gan.metrics.frechet.frechet_distance`. Each class has few samples, so the
  value carries a large bias; :func:`intra_class_fid_floor` measures it between two real sets.
- :func:`classification_accuracy_score`: CAS (Ravuri & Vinyals 2019, "Classification Accuracy
  Score for Conditional Generative Models"): a classifier trained on generated images alone,
  tested on real held-out ones; a model that ignores its labels or drops modes scores low.
"""

from collections.abc import Callable
from contextlib import AbstractContextManager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lit_gan.checks import check_greater_than_zero, check_not_negative_int, check_positive_ints
from lit_gan.metrics.frechet import frechet_distance
from lit_gan.tensors import to_unit_range


def _check_num_classes(num_classes: int) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"Expected argument `num_classes` to be an integer >= 1, got {num_classes!r}")


def _check_labels(name: str, labels: Tensor, n: int, num_classes: int | None) -> None:
    """Refuse labels that are not (n,) integers in [0, num_classes) (None: >= 0)."""
    if not isinstance(labels, Tensor) or labels.shape != (n,) or labels.is_floating_point() or labels.is_complex():
        got = f"{labels.dtype} {tuple(labels.shape)}" if isinstance(labels, Tensor) else type(labels).__name__
        raise ValueError(f"Expected argument `{name}` to be an integer tensor of shape ({n},), got {got}")
    if n and not (0 <= int(labels.min()) and (num_classes is None or int(labels.max()) < num_classes)):
        allowed = "classes >= 0" if num_classes is None else f"classes in [0, {num_classes})"
        raise ValueError(f"Expected argument `{name}` to hold {allowed}, got {int(labels.min())}..{int(labels.max())}")


def _check_features(name: str, features: Tensor) -> None:
    if not isinstance(features, Tensor) or features.ndim != 2:
        got = tuple(features.shape) if isinstance(features, Tensor) else type(features).__name__
        raise ValueError(f"Expected argument `{name}` to be a tensor of shape (N, d), got {got}")


def class_accuracy(logits: Tensor, requested: Tensor, num_classes: int) -> dict[str, Tensor]:
    """How often the argmax class of ``logits`` (N, K) is the ``requested`` class (N,).

    Returns ``accuracy`` (a float64 scalar, over all N samples), ``per_class`` (K,) float64, NaN for
    a class never requested, and ``count`` (K,) int64, the samples requested of each class.
    """
    _check_num_classes(num_classes)
    if not isinstance(logits, Tensor) or logits.ndim != 2 or logits.shape[0] == 0 or logits.shape[1] != num_classes:
        got = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
        raise ValueError(f"Expected argument `logits` to be a tensor of shape (N, {num_classes}) with N >= 1, got {got}")
    _check_labels("requested", requested, logits.shape[0], num_classes)
    requested = requested.long()
    correct = (logits.argmax(dim=1) == requested).double()  # (N,)
    count = torch.bincount(requested, minlength=num_classes)  # (K,)
    hits = torch.zeros(num_classes, dtype=torch.float64, device=logits.device).index_add_(0, requested, correct)
    return {"accuracy": correct.mean(), "per_class": hits / count, "count": count}  # 0 / 0 = NaN


def _moments(x: Tensor) -> tuple[Tensor, Tensor]:
    """Mean (d,) and unbiased covariance (d, d) of x (n, d), in float64, as FrechetDistance's."""
    x = x.double()
    mean = x.mean(dim=0)
    centered = x - mean
    return mean, centered.T @ centered / (x.shape[0] - 1)


def intra_class_fid(
    fake_features: Tensor, fake_labels: Tensor, real_features: Tensor, real_labels: Tensor, num_classes: int
) -> dict[str, Tensor]:
    """Intra-FID: FD of the class-c generated features against the class-c real ones, for each c.

    Features (N, d) and (M, d), labels (N,) and (M,) in [0, num_classes); every class needs 2
    samples on each side (a covariance). Returns ``intra_fid`` (the mean over the K classes) and
    ``per_class`` (K,), float64.
    """
    _check_num_classes(num_classes)
    _check_features("fake_features", fake_features)
    _check_features("real_features", real_features)
    if fake_features.shape[1] != real_features.shape[1]:
        raise ValueError(
            f"Expected fake and real features of one dimension d, got {fake_features.shape[1]} and {real_features.shape[1]}"
        )
    _check_labels("fake_labels", fake_labels, fake_features.shape[0], num_classes)
    _check_labels("real_labels", real_labels, real_features.shape[0], num_classes)
    fake_count = torch.bincount(fake_labels.long(), minlength=num_classes).tolist()
    real_count = torch.bincount(real_labels.long(), minlength=num_classes).tolist()
    for c, (n_fake, n_real) in enumerate(zip(fake_count, real_count)):
        if n_fake < 2 or n_real < 2:
            raise ValueError(
                f"Expected at least 2 fake and 2 real samples of each class (a covariance needs 2), got class {c}"
                f" with {n_fake} fake and {n_real} real"
            )
    per_class = torch.stack([
        frechet_distance(*_moments(fake_features[fake_labels == c]), *_moments(real_features[real_labels == c]))
        for c in range(num_classes)
    ])  # (K,)
    return {"intra_fid": per_class.mean(), "per_class": per_class}


def intra_class_fid_floor(
    real_a: Tensor, labels_a: Tensor, real_b: Tensor, labels_b: Tensor, num_classes: int
) -> dict[str, Tensor]:
    """:func:`intra_class_fid` between two disjoint sets of real features: the value a perfect model
    would score. Give ``real_a`` the per-class counts of the generated set, for its bias is that of
    the sample sizes (it falls as 1/n per class)."""
    return intra_class_fid(real_a, labels_a, real_b, labels_b, num_classes)


def _check_images(name: str, images: Tensor, labels_name: str, labels: Tensor) -> None:
    if not isinstance(images, Tensor) or images.ndim < 2 or images.shape[0] == 0:
        got = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"Expected argument `{name}` to be a batch of images (N, ...) with N >= 1, got {got}")
    _check_labels(labels_name, labels, images.shape[0], None)


def _fork_rng(device: torch.device) -> AbstractContextManager[None]:
    """fork_rng of the CPU's and of ``device``'s random state: the caller's streams are restored after."""
    if device.type == "cpu":
        return torch.random.fork_rng(devices=[])
    index = device.index if device.index is not None else torch.get_device_module(device.type).current_device()
    return torch.random.fork_rng(devices=[index], device_type=device.type)


def classification_accuracy_score(
    train_images: Tensor,
    train_labels: Tensor,
    test_images: Tensor,
    test_labels: Tensor,
    classifier_factory: Callable[[], nn.Module],
    epochs: int = 5,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
) -> float:
    """CAS: accuracy on (``test_images``, ``test_labels``), real held-out data, of a fresh classifier
    trained on (``train_images``, ``train_labels``), generated samples and the classes asked for.

    ``classifier_factory()`` builds the classifier, images -> logits (B, K), e.g.
    ``lambda: ConvClassifier((1, 28, 28), 10)``. Images are float in [-1, 1] (uint8 is mapped there).
    Training: ``epochs`` passes of Adam (``lr``) on the cross-entropy, shuffled minibatches of
    ``batch_size``. The weights, dropout and shuffling follow ``seed`` alone; torch's global random
    state is restored after. With the defaults, ConvClassifier((1, 28, 28), 10) trains on 5,000
    images in about 50 s on 2 busy CPU cores (measured: 640 images an epoch in 1.3 s). Returns a float
    in [0, 1].
    """
    _check_images("train_images", train_images, "train_labels", train_labels)
    _check_images("test_images", test_images, "test_labels", test_labels)
    if train_images.shape[1:] != test_images.shape[1:]:
        raise ValueError(
            f"Expected train and test images of one shape, got {tuple(train_images.shape[1:])} and {tuple(test_images.shape[1:])}"
        )
    check_positive_ints(epochs=epochs, batch_size=batch_size)
    check_greater_than_zero(lr=lr)
    check_not_negative_int(seed=seed)
    device = train_images.device
    train_images, test_images = to_unit_range(train_images).float(), to_unit_range(test_images).float()
    train_labels, test_labels = train_labels.long(), test_labels.long()
    n, largest = train_images.shape[0], max(int(train_labels.max()), int(test_labels.max()))
    with _fork_rng(device):
        torch.manual_seed(seed)  # the classifier's weights and its dropout
        shuffle = torch.Generator().manual_seed(seed)
        classifier = classifier_factory().to(device).train()
        optimizer = torch.optim.Adam(classifier.parameters(), lr=lr)
        for _ in range(epochs):
            for batch in torch.randperm(n, generator=shuffle).to(device).split(batch_size):
                logits = classifier(train_images[batch])  # (B, K)
                if logits.ndim != 2 or largest >= logits.shape[1]:
                    raise ValueError(
                        f"Expected argument `classifier_factory` to build a classifier of logits (B, K) with K above"
                        f" the largest label {largest}, got {tuple(logits.shape)}"
                    )
                loss = F.cross_entropy(logits, train_labels[batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        classifier.eval()
        correct = 0
        with torch.no_grad():
            for images, labels in zip(test_images.split(batch_size), test_labels.split(batch_size)):
                correct += int((classifier(images).argmax(dim=1) == labels).sum())
    return correct / test_images.shape[0]
