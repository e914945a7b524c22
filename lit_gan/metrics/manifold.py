"""Precision, recall, density and coverage: how much of each feature set lies on the other's k-NN manifold.

The manifold of a set of features is the union of balls around its points, the radius of a point
being the distance to its k-th nearest neighbour in its own set, the point itself excluded:

    r_k(a) = ||a - NN_k(a)||,        B(a) = {x : ||x - a|| <= r_k(a)}

Precision and recall (Kynkäänniemi et al. 2019) ask which points fall in a ball of the other set;
density and coverage (Naeem et al. 2020) count the real balls around generated points, which makes
them robust to real outliers. Distances are taken on tiles of at most ``block_size`` x
``block_size`` pairs, in float32 as torch-fidelity does: a few tiles at a time (64 MB each at
4096), whatever the number of points (measured on the CPU: 10,000 against 10,000 add at most
270 MB to the features themselves).
"""

from typing import Any, Iterator

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities.data import dim_zero_cat

from lit_gan.checks import check_positive_ints


def _check_k(k: Any) -> None:
    if isinstance(k, bool) or not isinstance(k, int):
        raise ValueError(f"Expected argument `k` to be an integer >= 1, got {k!r}")
    check_positive_ints(k=k)


def _check_sets(real: Any, fake: Any, k: int, fewest_fake: int, block_size: int) -> None:
    """Refuse what is not (N, d) features, a real set of at most k points, a fake set of fewer than
    ``fewest_fake``, and two dimensions d."""
    for name, value in (("real", real), ("fake", fake)):
        if not isinstance(value, Tensor) or value.ndim != 2:
            got = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise ValueError(f"Expected argument `{name}` to be a tensor of shape (N, d), got {got}")
    for name, value, fewest in (("real", real, k + 1), ("fake", fake, fewest_fake)):
        if value.shape[0] < fewest:
            raise ValueError(f"Expected at least {fewest} {name} features for k={k}, got {value.shape[0]}")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"Expected real and fake features of one dimension d, got {real.shape[1]} and {fake.shape[1]}")
    check_positive_ints(block_size=block_size)


def knn_radii(x: Tensor, k: int, block_size: int = 4096) -> Tensor:
    """r_k(x_i), the distance of each point of x (N, d) to its k-th nearest neighbour in x, (N,):
    ``kthvalue(k + 1)`` of its distances, the smallest being its own (~0). Keeps the k + 1 smallest
    of a row over its tiles."""
    radii = []
    for rows in x.split(block_size):
        smallest = x.new_empty(rows.shape[0], 0)
        for cols in x.split(block_size):
            smallest = torch.cat([smallest, torch.cdist(rows, cols)], dim=1)  # (b, <= k + 1 + block)
            smallest = smallest.topk(min(k + 1, smallest.shape[1]), dim=1, largest=False).values  # ascending
        radii.append(smallest[:, k])
    return torch.cat(radii)


def _tiles(real: Tensor, fake: Tensor, block_size: int) -> Iterator[tuple[slice, slice, Tensor]]:
    """(rows, cols, ||real_i - fake_j||) over tiles of at most block_size x block_size pairs."""
    for i in range(0, real.shape[0], block_size):
        for j in range(0, fake.shape[0], block_size):
            rows, cols = slice(i, i + block_size), slice(j, j + block_size)
            yield rows, cols, torch.cdist(real[rows], fake[cols])


def precision_recall(real: Tensor, fake: Tensor, k: int = 3, block_size: int = 4096) -> tuple[Tensor, Tensor]:
    r"""Improved precision and recall (Kynkäänniemi et al. 2019), real (N, d) and fake (M, d) features.

    .. math::
        P = \frac{1}{M} \sum_j \big[\exists i: \|f_j - r_i\| \le r_k(r_i)\big], \qquad
        R = \frac{1}{N} \sum_i \big[\exists j: \|r_i - f_j\| \le r_k(f_j)\big]

    The share of fake points in the real manifold, and of real points in the fake one. Computed in
    float32 as torch-fidelity 0.4's ``prc_features_to_metric(fake, real, prc_neighborhood=k)``
    (generated first), whose counts it reproduces. Each set needs at least k + 1 points. Returns
    two float64 scalars.
    """
    _check_k(k)
    _check_sets(real, fake, k, k + 1, block_size)
    real, fake = real.float(), fake.float()
    radius_real, radius_fake = knn_radii(real, k, block_size), knn_radii(fake, k, block_size)
    fake_in = torch.zeros(fake.shape[0], dtype=torch.bool, device=fake.device)  # in a ball of a real point
    real_in = torch.zeros(real.shape[0], dtype=torch.bool, device=real.device)  # in a ball of a fake point
    for rows, cols, d in _tiles(real, fake, block_size):  # d: (b_real, b_fake)
        fake_in[cols] |= (d <= radius_real[rows, None]).any(dim=0)
        real_in[rows] |= (d <= radius_fake[None, cols]).any(dim=1)
    return fake_in.double().mean(), real_in.double().mean()


def density_coverage(real: Tensor, fake: Tensor, k: int = 5, block_size: int = 4096) -> tuple[Tensor, Tensor]:
    r"""Density and coverage (Naeem et al. 2020), real (N, d) and fake (M, d) features.

    .. math::
        D = \frac{1}{k M} \sum_j \sum_i \big[\|f_j - r_i\| < r_k(r_i)\big], \qquad
        C = \frac{1}{N} \sum_i \big[\min_j \|r_i - f_j\| < r_k(r_i)\big]

    Density counts the real balls around each fake point (1 on average when the sets are alike,
    unbounded above), coverage is the share of real balls that hold a fake point; only real balls,
    as clovaai's ``prdc`` (strict ``<``). float32 distances; the real set needs at least k + 1
    points. Returns two float64 scalars.
    """
    _check_k(k)
    _check_sets(real, fake, k, 1, block_size)
    real, fake = real.float(), fake.float()
    radius = knn_radii(real, k, block_size)
    pairs = torch.zeros((), dtype=torch.int64, device=real.device)  # (real ball, fake point) pairs, inside
    covered = torch.zeros(real.shape[0], dtype=torch.bool, device=real.device)
    for rows, _, d in _tiles(real, fake, block_size):
        inside = d < radius[rows, None]  # (b_real, b_fake)
        pairs += inside.sum()
        covered[rows] |= inside.any(dim=1)
    return pairs.double() / (k * fake.shape[0]), covered.double().mean()


def _cat(features: Any) -> Tensor:
    """The features of a list state (local) or of a synced one (a tensor); (0, 0) if none."""
    if isinstance(features, Tensor) or features:
        return dim_zero_cat(features)
    return torch.empty(0, 0)


class FeatureSets(Metric):
    """The base of metrics on every real and every generated feature: ``update(features, real)``
    appends (N, d) features to ``real_features`` or ``fake_features``, list states reduced with
    ``"cat"`` (under DDP every rank gathers all features, rank 0's first, and computes what one
    process does on them). ``reset_real_features=False`` keeps the real features across ``reset``,
    as torchmetrics' FID and KID do. Keeps N x d floats per set, like torchmetrics' KID.
    """

    is_differentiable = False
    full_state_update = False

    def __init__(self, reset_real_features: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(reset_real_features, bool):
            raise ValueError(f"Expected argument `reset_real_features` to be a bool, got {reset_real_features!r}")
        self.reset_real_features = reset_real_features
        self.add_state("real_features", [], dist_reduce_fx="cat")
        self.add_state("fake_features", [], dist_reduce_fx="cat")

    def update(self, features: Tensor, real: bool) -> None:
        """Keep features (N, d) of real (``real=True``) or generated samples."""
        if not isinstance(features, Tensor) or features.ndim != 2:
            got = tuple(features.shape) if isinstance(features, Tensor) else type(features).__name__
            raise ValueError(f"Expected argument `features` to be a tensor of shape (N, d), got {got}")
        (self.real_features if real else self.fake_features).append(features.detach())

    def features(self) -> tuple[Tensor, Tensor]:
        """The real (N, d) and fake (M, d) features kept (all ranks' within ``compute``)."""
        real, fake = _cat(self.real_features), _cat(self.fake_features)
        if not (real.shape[0] and fake.shape[0]):
            got = f"got {real.shape[0]} real and {fake.shape[0]} fake"
            raise ValueError(f"Expected real and fake features before `compute`, {got}")
        return real, fake

    def reset(self) -> None:
        if self.reset_real_features:
            super().reset()
            return
        default = self._defaults.pop("real_features")  # what reset restores; without it, it keeps them
        super().reset()
        self._defaults["real_features"] = default


class PrecisionRecall(FeatureSets):
    """Improved precision and recall (Kynkäänniemi et al. 2019) of :func:`precision_recall` on the
    kept features: fidelity (share of generated samples on the real manifold) and diversity (share
    of real samples on the generated one). ``compute`` returns (precision, recall), float64.

    Args:
        k: the k-th nearest neighbour sets each radius (3 in the paper and torch-fidelity).
        block_size: rows and columns of a tile of distances.
        reset_real_features: whether ``reset`` also drops the real features.
        kwargs: torchmetrics' ``Metric`` arguments.
    """

    higher_is_better = True

    def __init__(self, k: int = 3, block_size: int = 4096, reset_real_features: bool = True, **kwargs: Any) -> None:
        _check_k(k)
        check_positive_ints(block_size=block_size)
        super().__init__(reset_real_features=reset_real_features, **kwargs)
        self.k, self.block_size = k, block_size

    def compute(self) -> tuple[Tensor, Tensor]:
        return precision_recall(*self.features(), k=self.k, block_size=self.block_size)


class DensityCoverage(FeatureSets):
    """Density and coverage (Naeem et al. 2020) of :func:`density_coverage` on the kept features:
    real balls per generated sample (about 1 when alike) and the share of real balls holding a
    generated sample. ``compute`` returns (density, coverage), float64.

    Args:
        k: the k-th nearest neighbour sets each real radius (5 in the paper).
        block_size: rows and columns of a tile of distances.
        reset_real_features: whether ``reset`` also drops the real features.
        kwargs: torchmetrics' ``Metric`` arguments.
    """

    higher_is_better = True

    def __init__(self, k: int = 5, block_size: int = 4096, reset_real_features: bool = True, **kwargs: Any) -> None:
        _check_k(k)
        check_positive_ints(block_size=block_size)
        super().__init__(reset_real_features=reset_real_features, **kwargs)
        self.k, self.block_size = k, block_size

    def compute(self) -> tuple[Tensor, Tensor]:
        return density_coverage(*self.features(), k=self.k, block_size=self.block_size)
