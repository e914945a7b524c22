"""The Gaussian-kernel MMD of CMMD (Jayasumana et al. 2024), blockwise, and a metric on any features.

    k(a, b) = exp(-gamma ||a - b||^2),   gamma = 1 / (2 sigma^2),   ||a - b||^2 = |a|^2 + |b|^2 - 2 a.b

    MMD = scale * (mean(K_xx) + mean(K_yy) - 2 mean(K_xy))

with the means over all entries, the diagonals included: the biased (V-statistic, minimum-variance)
estimator of MMD^2 in Gretton et al. 2012, Eq. (5), as the reference implementation
google-research/google-research ``cmmd/distance.py`` (``mmd``, ``_SIGMA = 10``, ``_SCALE = 1000``)
computes it. Between two samples of one distribution it is not 0 but about
scale * (1 - E k(x, x')) * (1/n + 1/m): the n diagonal entries k(x_i, x_i) = 1 of K_xx weigh 1/n
in its mean. Here the kernel sums are taken on blocks of at most ``block_size`` x ``block_size``
entries (32 MB at 2048), in float64, so 10,000 x 10,000 never stands as one matrix (measured on
the CPU: it adds 160 MB to the features themselves).
"""

from typing import Any

from torch import Tensor

from lit_gan.checks import check_greater_than_zero, check_positive_ints
from lit_gan.metrics.manifold import FeatureSets


def _kernel_sum(a: Tensor, b: Tensor, gamma: float, block_size: int) -> Tensor:
    """sum_ij exp(-gamma ||a_i - b_j||^2) for a (n, d), b (m, d), over blocks."""
    a_sq, b_sq = a.square().sum(dim=1), b.square().sum(dim=1)  # |a_i|^2 (n,), |b_j|^2 (m,)
    total = a.new_zeros(())
    for i in range(0, a.shape[0], block_size):
        rows = slice(i, i + block_size)
        for j in range(0, b.shape[0], block_size):
            cols = slice(j, j + block_size)
            # -2 a.b + |a|^2 + |b|^2 in the reference's order, in place (one block in memory), and as
            # there not clamped at 0: a diagonal entry may be exp(+round-off)
            kernel = (a[rows] @ b[cols].T).mul_(-2).add_(a_sq[rows, None]).add_(b_sq[None, cols])  # (<=block, <=block)
            total += kernel.mul_(-gamma).exp_().sum()
    return total


def gaussian_mmd(x: Tensor, y: Tensor, sigma: float = 10.0, scale: float = 1000.0, block_size: int = 2048) -> Tensor:
    """CMMD's estimator between features x (n, d) and y (m, d), n and m free (see the module
    docstring); a float64 scalar. CMMD is this with the defaults on CLIP ViT-L/14@336px image
    embeddings normalized to unit length (the reference's ``embedding.py``)."""
    for name, value in (("x", x), ("y", y)):
        if not isinstance(value, Tensor) or value.ndim != 2 or value.shape[0] == 0:
            got = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise ValueError(f"Expected argument `{name}` to be a tensor of shape (N, d) with N >= 1, got {got}")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"Expected `x` and `y` of one dimension d, got {x.shape[1]} and {y.shape[1]}")
    check_greater_than_zero(sigma=sigma, scale=scale)
    check_positive_ints(block_size=block_size)
    x, y = x.double(), y.double()
    gamma = 1 / (2 * float(sigma) ** 2)
    n, m = x.shape[0], y.shape[0]
    k_xx = _kernel_sum(x, x, gamma, block_size) / (n * n)
    k_yy = _kernel_sum(y, y, gamma, block_size) / (m * m)
    k_xy = _kernel_sum(x, y, gamma, block_size) / (n * m)
    return float(scale) * (k_xx + k_yy - 2 * k_xy)


class KernelMMD(FeatureSets):
    r"""The Gaussian-kernel MMD of CMMD (Jayasumana et al. 2024, "Rethinking FID") on the kept features.

    .. math::
        MMD = s \Big( \frac{1}{n^2} \sum_{i,i'} k(r_i, r_{i'}) + \frac{1}{m^2} \sum_{j,j'} k(f_j, f_{j'})
              - \frac{2}{nm} \sum_{i,j} k(r_i, f_j) \Big), \qquad k(a, b) = e^{-\|a - b\|^2 / 2\sigma^2}

    of :func:`gaussian_mmd`, the estimator of google-research's ``cmmd/distance.py``. CMMD is this
    on CLIP ViT-L/14@336px image embeddings normalized to unit length (the reference's
    ``embedding.py``); here it runs on any extractor's features, for which ``sigma`` may need to
    follow their scale. Unlike FID it assumes no distribution of the features; like FID (and
    unlike KID) it is biased upwards, by scale * (1 - E k(x, x')) * (1/n + 1/m) <= scale * (1/n + 1/m).
    ``compute`` returns a float64 scalar; lower is better.

    Args:
        sigma: bandwidth of the Gaussian kernel (10, the reference's ``_SIGMA``).
        scale: the factor that makes values readable (1000, the reference's ``_SCALE``).
        block_size: rows and columns of a block of the kernel matrices.
        reset_real_features: whether ``reset`` also drops the real features.
        kwargs: torchmetrics' ``Metric`` arguments.
    """

    higher_is_better = False

    def __init__(
        self, sigma: float = 10.0, scale: float = 1000.0, block_size: int = 2048, reset_real_features: bool = True,
        **kwargs: Any,
    ) -> None:
        check_greater_than_zero(sigma=sigma, scale=scale)
        check_positive_ints(block_size=block_size)
        super().__init__(reset_real_features=reset_real_features, **kwargs)
        self.sigma, self.scale, self.block_size = float(sigma), float(scale), block_size

    def compute(self) -> Tensor:
        real, fake = self.features()
        return gaussian_mmd(real, fake, self.sigma, self.scale, self.block_size)
