"""The Fréchet distance between two Gaussians, fast and exact, and FID on torchmetrics' states.

    d^2(N(mu1, S1), N(mu2, S2)) = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1^1/2 S2 S1^1/2)^1/2)

(Dowson and Landau 1982; the squared 2-Wasserstein distance between the Gaussians; FID when the
moments are those of Inception features, Heusel et al. 2017).

The trace term. For any factor A with S1 = A A^T, the symmetric positive semi-definite matrix
M = A^T S2 A has the eigenvalues of S1 S2 (X = S2^1/2 A: X^T X and X X^T = S2^1/2 S1 S2^1/2 share
their non-zero eigenvalues, and so do S2^1/2 S1 S2^1/2, S1 S2 and S1^1/2 S2 S1^1/2). Hence

    tr((S1^1/2 S2 S1^1/2)^1/2) = sum_i sqrt(lambda_i(A^T S2 A)).

A is the Cholesky factor of S1 (n^3/3 flops), or V diag(sqrt(w)) from ``eigh`` when S1 is singular
(fewer samples than features); then two matrix products (triangular ones on the CPU, n^3 flops
each) and the eigenvalues of a symmetric matrix, without eigenvectors (4n^3/3 flops).
torchmetrics 1.9 takes ``eigvals(S1 @ S2)`` of a non-symmetric matrix, pytorch-fid
``scipy.linalg.sqrtm(S1 @ S2)`` (a Schur decomposition): about 3x and 10x slower at d = 2048 on
one CPU core, with the same value to 2e-9 (see BENCHMARKS.md). Everything stays in float64.
"""

from typing import Any

import torch
from torch import Tensor
from torchmetrics.image.fid import FrechetInceptionDistance


def _check(name: str, value: Tensor, ndim: int) -> None:
    if not isinstance(value, Tensor) or value.ndim != ndim:
        got = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
        raise ValueError(f"Expected argument `{name}` to be a tensor with {ndim} dimension(s), got {got}")


def _numerically_zeroed(w: Tensor) -> Tensor:
    """Eigenvalues of a PSD matrix, with those below round-off (d * eps * max) set to 0: the null
    space of a singular covariance then adds nothing, instead of sqrt(round-off) per dimension."""
    cutoff = w.max().clamp_min(0) * w.shape[-1] * torch.finfo(w.dtype).eps
    return torch.where(w > cutoff, w, torch.zeros_like(w))


def psd_factor(sigma: Tensor) -> tuple[Tensor, bool]:
    """(A, lower) with sigma = A A^T for a symmetric positive semi-definite sigma (d, d): the
    Cholesky factor (lower triangular) when sigma is positive definite, else V diag(sqrt(w)) from
    its eigendecomposition (full)."""
    factor, info = torch.linalg.cholesky_ex(sigma)
    if int(info) == 0:
        return factor, True
    w, v = torch.linalg.eigh(sigma)
    return v * _numerically_zeroed(w).sqrt(), False  # (d, d): column i scaled by sqrt(w_i)


def _congruence(a: Tensor, lower: bool, sigma: Tensor) -> Tensor:
    """A^T sigma A for a symmetric sigma. torch has no triangular matrix product; on the CPU, BLAS
    trmm (through SciPy) makes each of the two products n^3 flops instead of gemm's 2 n^3."""
    if not (lower and a.device.type == "cpu"):
        return a.mT @ (sigma @ a)
    from scipy.linalg.blas import dtrmm

    # Hand BLAS Fortran-ordered views, without copies: of A itself when torch returned it column-major
    # (as LAPACK does), else of A^T; of sigma or of sigma^T, the same matrix up to rounding.
    f = a.numpy()
    f, f_lower, (t1, t2) = (f, 1, (0, 1)) if f.flags.f_contiguous else (f.T, 0, (1, 0))  # f is A or A^T
    s = sigma.numpy()
    s = s if s.flags.f_contiguous else s.T
    b = dtrmm(1.0, f, s, side=1, lower=f_lower, trans_a=t1)  # sigma A, (d, d)
    return torch.from_numpy(dtrmm(1.0, f, b, side=0, lower=f_lower, trans_a=t2, overwrite_b=1))  # A^T (sigma A)


def trace_sqrt_product(sigma1: Tensor, sigma2: Tensor) -> Tensor:
    """tr((S1^1/2 S2 S1^1/2)^1/2) for symmetric positive semi-definite S1, S2 (d, d), in float64.

    S1 and S2 are taken as symmetric: LAPACK reads one triangle of each symmetric matrix, and an
    asymmetry at the level of rounding (as X^T X may have) is below the error of the computation.
    """
    sigma1, sigma2 = sigma1.double(), sigma2.double()
    a, lower = psd_factor(sigma1)
    m = _congruence(a, lower, sigma2)  # (d, d), symmetric up to rounding; eigvalsh reads its lower triangle
    eigenvalues = torch.linalg.eigvalsh(m)
    return _numerically_zeroed(eigenvalues).sqrt().sum()  # round-off leaves tiny eigenvalues, some negative


def frechet_distance(mu1: Tensor, sigma1: Tensor, mu2: Tensor, sigma2: Tensor) -> Tensor:
    """Squared Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2): means (d,), covariances (d, d).

    Returns a float64 scalar.
    """
    for name, value, ndim in (("mu1", mu1, 1), ("sigma1", sigma1, 2), ("mu2", mu2, 1), ("sigma2", sigma2, 2)):
        _check(name, value, ndim)
    d = mu1.shape[0]
    if mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(
            f"Expected means of shape (d,) and covariances of shape (d, d) with one d, got {tuple(mu1.shape)},"
            f" {tuple(sigma1.shape)}, {tuple(mu2.shape)}, {tuple(sigma2.shape)}"
        )
    mu1, sigma1, mu2, sigma2 = mu1.double(), sigma1.double(), mu2.double(), sigma2.double()
    mean_term = (mu1 - mu2).square().sum()
    return mean_term + sigma1.trace() + sigma2.trace() - 2 * trace_sqrt_product(sigma1, sigma2)


class FrechetDistance(FrechetInceptionDistance):
    r"""FID (Heusel et al. 2017) with the fast exact trace term of :func:`frechet_distance`.

    .. math::
        FID = \|\mu_r - \mu_g\|^2 + tr(\Sigma_r) + tr(\Sigma_g) - 2\, tr\big((\Sigma_r^{1/2} \Sigma_g \Sigma_r^{1/2})^{1/2}\big)

    with the moments of the features of real (r) and generated (g) images. Everything else is
    torchmetrics' ``FrechetInceptionDistance``: the float64 sums of features and of their outer
    products (``dist_reduce_fx="sum"``, so DDP syncs them), ``update(imgs, real)``,
    ``reset_real_features``. Only ``compute`` is replaced, and it returns float64.

    Args:
        feature: as torchmetrics: 64, 192, 768 or 2048 (its Inception v3), or an ``nn.Module``
            mapping a batch to features (N, d), e.g. :class:`~lit_gan.metrics.InceptionFeatures`,
            :class:`~lit_gan.metrics.ClassifierFeatures` or :class:`~lit_gan.metrics.PrecomputedFeatures`.
        kwargs: the other arguments of torchmetrics' ``FrechetInceptionDistance``.
    """

    def __init__(self, feature: Any = 2048, **kwargs: Any) -> None:
        super().__init__(feature=feature, **kwargs)

    @staticmethod
    def _moments(total: Tensor, outer: Tensor, n: Tensor) -> tuple[Tensor, Tensor]:
        mean = total / n  # (d,)
        cov = (outer - n * torch.outer(mean, mean)) / (n - 1)  # (d, d), unbiased
        return mean, cov

    def compute(self) -> Tensor:
        """FID of the accumulated (and, under DDP, synced) real and generated features, float64."""
        if self.real_features_num_samples < 2 or self.fake_features_num_samples < 2:
            raise RuntimeError("More than one sample is required for both the real and fake distributed to compute FID")
        mu_real, sigma_real = self._moments(
            self.real_features_sum, self.real_features_cov_sum, self.real_features_num_samples
        )
        mu_fake, sigma_fake = self._moments(
            self.fake_features_sum, self.fake_features_cov_sum, self.fake_features_num_samples
        )
        return frechet_distance(mu_real, sigma_real, mu_fake, sigma_fake)
