"""Mode coverage on mixtures of Gaussians: how many modes a generator reaches, and how well.

The protocol of Srivastava et al. (2017, VEEGAN, Section 5.1) and Lin et al. (2018, PacGAN): a
sample is of high quality when it lies within ``k`` standard deviations of the nearest mode's
center; a mode is captured when at least ``min_samples`` high-quality samples fall nearest to it.
"""

from typing import Optional, Sequence, Union

import torch
from torch import Tensor
from torchmetrics import Metric

from lit_gan.checks import check_greater_than_zero, check_positive_ints


class ModeCoverage(Metric):
    r"""Number of modes captured and fraction of high-quality samples.

    For samples :math:`x_1..x_N` and mode centers :math:`c_1..c_K` of an isotropic mixture with
    standard deviation :math:`\sigma`:

    .. math::
        j(x) = \arg\min_j \|x - c_j\|, \quad hq(x) = [\|x - c_{j(x)}\| \le k \sigma]

        modes = \#\{j : \#\{i : hq(x_i), j(x_i) = j\} \ge min\_samples\}, \qquad
        hq\_fraction = \frac{1}{N} \sum_i hq(x_i)

    For samples of the mixture itself in D dimensions, hq_fraction is P(chi^2_D <= k^2): in 2D
    1 - exp(-k^2 / 2), 0.989 for k = 3, when the modes are far apart compared with k sigma.

    The state is a count per mode plus two totals (``dist_reduce_fx="sum"``), so DDP sums them.
    ``compute`` returns ``{"modes": ..., "hq_fraction": ...}``. It compares samples with the
    mixture's centers, not with real data (``needs_real`` is False): ``update(samples, real=False)``
    has the signature of :class:`~lit_gan.metrics.ImageQualityMetrics`' and refuses ``real=True``.

    Args:
        centers: mode centers (K, D).
        std: standard deviation of each mode (the same in every direction).
        k: a sample within ``k * std`` of its nearest center is of high quality.
        min_samples: high-quality samples a mode needs to count as captured (1 in VEEGAN and in
            PacGAN's code).
        by_class: the samples come with labels, one class per mode (a class-conditional model on a
            labelled mixture): also ``class_hq_fraction``, the share within ``k * std`` of their own
            class's center, :math:`\frac{1}{N} \sum_i [\|x_i - c_{y_i}\| \le k \sigma]`.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    needs_real = False

    hq_per_mode: Tensor
    num_hq: Tensor
    total: Tensor

    def __init__(
        self,
        centers: Union[Tensor, Sequence[Sequence[float]]],
        std: float,
        k: float = 3.0,
        min_samples: int = 1,
        by_class: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        centers = torch.as_tensor(centers, dtype=torch.float32)
        if centers.ndim != 2 or centers.shape[0] < 1:
            raise ValueError(f"Expected argument `centers` to have shape (K, D) with K >= 1, got {tuple(centers.shape)}")
        check_greater_than_zero(std=std, k=k)
        check_positive_ints(min_samples=min_samples)
        self.register_buffer("centers", centers, persistent=False)
        self.std, self.k, self.min_samples = float(std), float(k), int(min_samples)
        self.add_state("hq_per_mode", torch.zeros(len(centers), dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("num_hq", torch.tensor(0), dist_reduce_fx="sum")
        self.add_state("total", torch.tensor(0), dist_reduce_fx="sum")
        self.by_class = bool(by_class)
        self.add_state("own_hq", torch.tensor(0), dist_reduce_fx="sum")  # by_class: near their own class's center

    def update(self, samples: Tensor, real: bool = False, labels: Optional[Tensor] = None) -> None:
        """samples: (N, D), in the space of the centers; generated (``real`` must be False); with
        ``by_class``, ``labels`` (N,): the class (mode) each was drawn for."""
        if real:
            raise ValueError("Expected argument `real` to be False: ModeCoverage compares samples with the mode centers")
        if samples.ndim != 2 or samples.shape[1] != self.centers.shape[1]:
            raise ValueError(f"Expected argument `samples` to have shape (N, {self.centers.shape[1]}), got {tuple(samples.shape)}")
        distances = torch.cdist(samples.float(), self.centers)  # (N, K)
        nearest_distance, nearest = distances.min(dim=1)
        hq = nearest_distance <= self.k * self.std  # (N,)
        self.hq_per_mode += torch.bincount(nearest[hq], minlength=len(self.centers))
        self.num_hq += hq.sum()
        self.total += samples.shape[0]
        if self.by_class:
            if labels is None or labels.shape != (samples.shape[0],):
                raise ValueError(f"Expected argument `labels` of shape ({samples.shape[0]},) with by_class, got"
                                 f" {None if labels is None else tuple(labels.shape)}")
            own = (samples.float() - self.centers[labels]).norm(dim=1)  # (N,): to the center of its own class
            self.own_hq += (own <= self.k * self.std).sum()

    def compute(self) -> dict[str, Tensor]:
        if self.total == 0:
            raise RuntimeError("ModeCoverage.compute() needs at least one sample")
        values = {
            "modes": (self.hq_per_mode >= self.min_samples).sum(),
            "hq_fraction": self.num_hq.double() / self.total,
        }
        if self.by_class:
            values["class_hq_fraction"] = self.own_hq.double() / self.total
        return values
