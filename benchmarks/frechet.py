"""Seconds per Fréchet distance at d = 2048: lit-gan's against torchmetrics 1.9 and pytorch-fid.

    python -m benchmarks.frechet [--dim 2048] [--samples 4096] [--repeats 5] [--threads N]   (from the repo root)

The three implementations get the same float64 means and covariances, estimated from ``--samples``
random correlated feature vectors for each of two distributions:

- lit-gan: ``lit_gan.metrics.frechet_distance`` (Cholesky factor A of S1, eigvalsh(A^T S2 A));
- torchmetrics 1.9: ``torchmetrics.image.fid._compute_fid`` (eigvals(S1 @ S2), non-symmetric);
- pytorch-fid: its ``calculate_frechet_distance`` formula (``scipy.linalg.sqrtm(S1 @ S2)``), in NumPy.

After an untimed warm-up at d = 256, each repeat runs the three once, in an order rotated from
repeat to repeat (other processes may share the CPU). Printed: the medians, their ratios, the
median of the ratios within each repeat (robust to a load that changes between repeats) and the
largest relative difference between the values. ``--threads`` sets the threads of every pool in the process (torch's OpenMP and MKL,
NumPy's and SciPy's OpenBLAS) to the same number, by default torch's default.
"""

import argparse
import platform
import statistics
import time

import numpy as np
import scipy
import scipy.linalg
import torch
import torchmetrics
from threadpoolctl import threadpool_limits
from torchmetrics.image.fid import _compute_fid

from lit_gan.metrics import frechet_distance


def pytorch_fid(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """pytorch-fid 0.3's calculate_frechet_distance (its eps fallback and imaginary-part check included)."""
    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * 1e-6
        covmean = scipy.linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"Imaginary component {np.max(np.abs(covmean.imag))}")
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def moments(n: int, d: int, seed: int, shift: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (d,) and covariance (d, d), float64, of n vectors x = z W + shift (z standard normal)."""
    g = torch.Generator().manual_seed(seed)
    mixing = torch.randn(d, d, generator=g, dtype=torch.float64) / d**0.5
    x = torch.randn(n, d, generator=g, dtype=torch.float64) @ mixing + shift
    mean = x.mean(0)
    centered = x - mean
    return mean, centered.T @ centered / (n - 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--samples", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)  # OpenBLAS of NumPy and SciPy too

    mu1, sigma1 = moments(args.samples, args.dim, seed=0, shift=0.0)
    mu2, sigma2 = moments(args.samples, args.dim, seed=1, shift=0.1)
    arrays = [t.numpy() for t in (mu1, sigma1, mu2, sigma2)]
    implementations = {
        "lit-gan (cholesky + eigvalsh)": lambda: frechet_distance(mu1, sigma1, mu2, sigma2).item(),
        "torchmetrics 1.9 (eigvals)": lambda: _compute_fid(mu1, sigma1, mu2, sigma2).item(),
        "pytorch-fid (scipy sqrtm)": lambda: pytorch_fid(*arrays),
    }
    names = list(implementations)
    # warm-up, untimed: the first call of each library loads and initializes its LAPACK
    small = moments(512, 256, seed=2, shift=0.0)
    frechet_distance(*small, *small), _compute_fid(*small, *small), pytorch_fid(*(t.numpy() for t in (*small, *small)))
    times: dict[str, list[float]] = {name: [] for name in names}
    values: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(args.repeats):
        order = names[repeat % 3 :] + names[: repeat % 3]
        for name in order:
            start = time.perf_counter()
            value = implementations[name]()
            times[name].append(time.perf_counter() - start)
            values[name].append(value)
        print(f"repeat {repeat + 1}/{args.repeats}: " + ", ".join(f"{n.split()[0]} {times[n][-1]:.2f} s" for n in names), flush=True)

    print(f"\nd = {args.dim}, covariances from {args.samples} vectors each, float64, {args.repeats} repeats")
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__} ({torch.get_num_threads()} threads),"
          f" numpy {np.__version__}, scipy {scipy.__version__}, torchmetrics {torchmetrics.__version__}\n")
    ours = names[0]
    reference = values[ours][0]
    print("| implementation | median s | min s | ratio of medians | median of per-repeat ratios | max rel. difference to lit-gan |")
    print("|---|---|---|---|---|---|")
    for name in names:
        median = statistics.median(times[name])
        ratio = median / statistics.median(times[ours])
        per_repeat = statistics.median(t / u for t, u in zip(times[name], times[ours]))  # same repeat, same load
        diff = max(abs(v - w) / abs(w) for v, w in zip(values[name], values[ours]))
        print(f"| {name} | {median:.3f} | {min(times[name]):.3f} | {ratio:.1f}x | {per_repeat:.1f}x | {diff:.1e} |")
    print(f"\nFID value (lit-gan): {reference:.10f}")


if __name__ == "__main__":
    main()
