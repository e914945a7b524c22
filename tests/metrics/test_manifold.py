"""Precision/recall and density/coverage: known answers, torch-fidelity 0.4 and clovaai's prdc to
the count, the blockwise tiles, the metric states, and 2-process DDP (with KernelMMD)."""

import math
import socket
import warnings

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch_fidelity.metric_prc import prc_features_to_metric

from lit_gan.metrics.manifold import DensityCoverage, PrecisionRecall, density_coverage, knn_radii, precision_recall
from lit_gan.metrics.mmd import KernelMMD

# (real, fake, d, block_size): sets of different sizes, tiles smaller than the sets (ragged ones too) and one tile
SHAPES = [(300, 200, 16, 64), (257, 311, 8, 50), (120, 180, 2048, 4096), (400, 400, 32, 7)]


def sets(n_real: int, n_fake: int, d: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Real N(0, I) and fake N(0.2, 0.81 I) float32 features: overlapping, neither contains the other."""
    rng = torch.Generator().manual_seed(seed)
    return torch.randn(n_real, d, generator=rng), 0.9 * torch.randn(n_fake, d, generator=rng) + 0.2


def ring_mixture(per_mode: int, modes: list[int], seed: int) -> torch.Tensor:
    """per_mode points of N(c, I) at each of the given modes of 8 centres on a circle of radius 20
    in 2D (neighbouring centres 15.3 apart, while a k-NN radius is ~0.5)."""
    rng = torch.Generator().manual_seed(seed)
    angles = torch.tensor(modes).repeat_interleave(per_mode) * (2 * math.pi / 8)
    return 20 * torch.stack([angles.cos(), angles.sin()], dim=1) + torch.randn(len(angles), 2, generator=rng)


def prdc_density_coverage(real: torch.Tensor, fake: torch.Tensor, k: int) -> tuple[float, float]:
    """clovaai/generative-evaluation-prdc ``compute_density`` and ``compute_coverage``, transcribed
    in numpy, with exact float64 distances."""
    real, fake = real.double().numpy(), fake.double().numpy()
    distance = lambda a, b: np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))  # noqa: E731
    radii = np.sort(distance(real, real), axis=1)[:, k]  # prdc: max of the k + 1 smallest (argpartition)
    real_fake = distance(real, fake)  # (N, M)
    density = (1.0 / float(k)) * (real_fake < np.expand_dims(radii, axis=1)).sum(axis=0).mean()
    coverage = (real_fake.min(axis=1) < radii).mean()
    return float(density), float(coverage)


@pytest.mark.parametrize("n_real, n_fake, d, block_size", SHAPES)
@pytest.mark.parametrize("k", [3, 5])
def test_precision_recall_equals_torch_fidelity(n_real, n_fake, d, block_size, k):
    real, fake = sets(n_real, n_fake, d, seed=d)
    precision, recall = precision_recall(real, fake, k=k, block_size=block_size)
    # generated first in torch-fidelity; its defaults: one 10,000-row batch, the full distance matrix
    ref = prc_features_to_metric(fake, real, prc_neighborhood=k, prc_batch_size=10000, save_cpu_ram=False,
                                 verbose=False)
    assert precision.dtype == recall.dtype == torch.float64 and precision.ndim == 0
    # the same counts of points inside (its shares are float32 means, ours float64 counts / n)
    assert round(precision.item() * n_fake) == round(ref["precision"] * n_fake)
    assert round(recall.item() * n_real) == round(ref["recall"] * n_real)
    assert abs(precision.item() - ref["precision"]) < 1e-7 and abs(recall.item() - ref["recall"]) < 1e-7
    if d < 2048:  # in 2048 dims these point clouds miss each other's balls entirely (P = 1, R = 0); else informative
        assert 0.05 < precision.item() < 0.99 and 0.05 < recall.item() < 0.99


@pytest.mark.parametrize("n_real, n_fake, d, block_size", [s for s in SHAPES if s[2] <= 32])
@pytest.mark.parametrize("k", [3, 5])
def test_density_coverage_equals_prdc(n_real, n_fake, d, block_size, k):
    real, fake = sets(n_real, n_fake, d, seed=d + 1)
    density, coverage = density_coverage(real, fake, k=k, block_size=block_size)
    ref_density, ref_coverage = prdc_density_coverage(real, fake, k)
    assert density.dtype == coverage.dtype == torch.float64
    # one pair or one covered ball more would move them by 1 / (k M) or 1 / N, far above 1e-12
    assert density.item() == pytest.approx(ref_density, rel=1e-12)
    assert coverage.item() == pytest.approx(ref_coverage, rel=1e-12)
    assert 0.05 < coverage.item() < 0.99 and 0.05 < density.item()


def test_tiles_change_no_value():
    real, fake = sets(203, 150, 8)
    radii = torch.cdist(real, real).kthvalue(4, dim=1).values  # the full matrix at once
    for block_size in (3, 64, 4096):  # 3 < k + 1: the first tile of a row holds fewer than k + 1 distances
        torch.testing.assert_close(knn_radii(real, 3, block_size), radii, rtol=1e-6, atol=1e-6)
        assert precision_recall(real, fake, 3, block_size) == precision_recall(real, fake, 3)
        assert density_coverage(real, fake, 5, block_size) == density_coverage(real, fake, 5)


def test_identical_sets():
    x = sets(500, 1, 16)[0]
    assert precision_recall(x, x.clone()) == (1.0, 1.0)  # each point is in its own ball (distance ~0 <= r)
    density, coverage = density_coverage(x, x.clone(), k=5)
    # Real ball i holds the copy of i and of its k - 1 nearer neighbours (strictly inside), and the
    # copy of its k-th neighbour lies on its boundary, out for `<` unless rounding puts it in:
    # k or k + 1 of the M = N fake points per ball, so density = sum / (k M) is in [1, 1 + 1/k].
    assert 1.0 <= density.item() <= 1.0 + 1 / 5
    assert coverage.item() == 1.0


def test_ties_on_the_boundary():
    """Exact distances (integers and halves on a line): real 0, 1, ..., 9 have radius 1 for k = 1;
    fake 10 lies on the boundary of real 9's ball, in for precision's `<=`, out for density's `<`."""
    real, fake = torch.arange(10.0)[:, None], torch.tensor([[4.5], [10.0], [20.0]])
    # precision: 4.5 and 10 (on the boundary) of the 3 fake points; recall: every real point is within
    # 5.5 (the radius of fake 4.5 and 10) of one of them
    assert precision_recall(real, fake, k=1) == (2 / 3, 1.0)
    ref = prc_features_to_metric(fake, real, prc_neighborhood=1, prc_batch_size=10000, save_cpu_ram=False,
                                 verbose=False)
    assert (ref["precision"], ref["recall"]) == pytest.approx((2 / 3, 1.0), abs=1e-7)
    # strictly inside: fake 4.5 in the balls of 4 and 5, nothing else
    assert density_coverage(real, fake, k=1) == (2 / 3, 0.2) == prdc_density_coverage(real, fake, 1)


def test_disjoint_sets():
    real, fake = sets(200, 300, 16)
    far = fake + 1000  # distances ~1000, radii ~5
    assert precision_recall(real, far) == (0.0, 0.0)
    assert density_coverage(real, far) == (0.0, 0.0)


@pytest.mark.parametrize("seed", [0, 1])
def test_half_the_modes(seed):
    real = ring_mixture(100, list(range(8)), seed)  # 800 points, 8 modes
    fake = ring_mixture(100, [0, 1, 2, 3], seed + 10)  # 400 points, as dense, on modes 0-3 only
    precision, recall = precision_recall(real, fake, k=3)
    density, coverage = density_coverage(real, fake, k=5)
    # The real points of modes 4-7 (half) are 15 away from any fake ball: recall and coverage <= 1/2.
    # On modes 0-3 both sets are alike: in 2D nearly every real point is in some fake ball and nearly
    # every real ball holds a fake point (E 5 of them); so close to 1/2, from below.
    assert 0.45 < recall.item() <= 0.5 and 0.45 < coverage.item() <= 0.5
    assert precision.item() > 0.9  # every fake point sits on a real mode
    assert 0.8 < density.item() < 1.25  # on its modes the fake set is as dense as the real one


def test_bad_arguments():
    real, fake = sets(10, 10, 4)
    with pytest.raises(ValueError, match=r"^Expected argument `k` to be an integer >= 1, got 0$"):
        precision_recall(real, fake, k=0)
    with pytest.raises(ValueError, match="argument `k`"):
        density_coverage(real, fake, k=2.5)
    with pytest.raises(ValueError, match=r"^Expected at least 10 real features for k=9, got 3$"):
        precision_recall(real[:3], fake, k=9)
    with pytest.raises(ValueError, match=r"^Expected at least 4 fake features for k=3, got 3$"):
        precision_recall(real, fake[:3], k=3)
    with pytest.raises(ValueError, match=r"^Expected at least 6 real features for k=5, got 5$"):
        density_coverage(real[:5], fake)
    assert density_coverage(real, fake[:1])[0] >= 0  # one fake point is enough for density and coverage
    with pytest.raises(ValueError, match="argument `fake` to be a tensor of shape"):
        density_coverage(real, fake[0])
    with pytest.raises(ValueError, match="one dimension d, got 4 and 3"):
        precision_recall(real, fake[:, :3])
    with pytest.raises(ValueError, match="argument `block_size`"):
        precision_recall(real, fake, block_size=0)
    for cls in (PrecisionRecall, DensityCoverage):
        with pytest.raises(ValueError, match="argument `k`"):
            cls(k=-1)
        with pytest.raises(ValueError, match="argument `block_size`"):
            cls(block_size=0)
        with pytest.raises(ValueError, match="argument `reset_real_features` to be a bool"):
            cls(reset_real_features="no")
        with pytest.raises(ValueError, match="argument `features` to be a tensor of shape"):
            cls().update(real[0], real=True)
        metric = cls()
        metric.update(real, real=True)
        with pytest.raises(ValueError, match="^Expected real and fake features before `compute`, got 10 real and 0"):
            metric.compute()


@pytest.mark.parametrize("cls, fn", [(PrecisionRecall, precision_recall), (DensityCoverage, density_coverage)])
def test_metric_in_batches_and_reset(cls, fn):
    real, fake = sets(230, 170, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to say about keeping the features
        metric = cls(k=4, block_size=64, reset_real_features=False)
    for batch in real.split(50):
        metric.update(batch, real=True)
    for batch in fake.split(33):
        metric.update(batch, real=False)
    value = metric.compute()
    assert isinstance(value, tuple) and all(v.dtype == torch.float64 and v.ndim == 0 for v in value)
    assert value == fn(real, fake, k=4)
    metric.reset()  # keeps the real features, drops the fake ones
    assert len(metric.fake_features) == 0 and torch.equal(torch.cat(metric.real_features), real)
    other = fake[:100] + 0.5
    metric.update(other, real=False)
    assert metric.compute() == fn(real, other, k=4) != value
    dropping = cls(k=4)
    dropping.update(real, real=True)
    dropping.reset()
    assert len(dropping.real_features) == 0


# ---- 2-process DDP (gloo): every rank computes what one process does on all the features ----

N_REAL, N_FAKE = 201, 150  # uneven shares: 101 + 100 and 75 + 75
# Forked ranks start in 0.3 s; spawned ones import lit_gan.metrics (Lightning, torch-fidelity) again,
# 7 s of CPU each, 20-30 s on 2 busy cores. Fork is safe here: no process group and no CUDA in the parent.
START_METHOD = "fork" if "fork" in mp.get_all_start_methods() else "spawn"


def _metrics() -> list:
    return [PrecisionRecall(k=3, block_size=64), DensityCoverage(k=5, block_size=64),
            KernelMMD(sigma=2.0, block_size=64)]


def _values(metrics: list) -> list[torch.Tensor]:
    return [torch.stack(v) if isinstance(v, tuple) else v for v in (m.compute() for m in metrics)]


def _ddp_worker(rank: int, world_size: int, port: int, real: torch.Tensor, fake: torch.Tensor, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    try:
        metrics = _metrics()
        mine_real, mine_fake = real.tensor_split(world_size)[rank], fake.tensor_split(world_size)[rank]  # contiguous
        for metric in metrics:
            for batch in mine_real.split(30 + 20 * rank):  # not the same number of updates on each rank
                metric.update(batch, real=True)
            for batch in mine_fake.split(40):
                metric.update(batch, real=False)
        torch.save(_values(metrics), f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_process_ddp_computes_what_one_process_does(tmp_path):
    real, fake = sets(N_REAL, N_FAKE, 8)
    mp.start_processes(_ddp_worker, args=(2, _free_port(), real, fake, str(tmp_path)), nprocs=2, join=True,
                       start_method=START_METHOD)
    one = _metrics()
    for metric in one:
        metric.update(real, real=True)
        metric.update(fake, real=False)
    expected = _values(one)
    assert 0 < expected[0][0] < 1 and 0 < expected[1][1] < 1 and expected[2] > 0  # informative values
    alone = _metrics()  # rank 0's half alone: what a rank that did not gather would report
    for metric in alone:
        metric.update(real.tensor_split(2)[0], real=True)
        metric.update(fake.tensor_split(2)[0], real=False)
    assert not any(torch.equal(a, b) for a, b in zip(_values(alone), expected))
    for rank in range(2):
        got = torch.load(tmp_path / f"rank{rank}.pt")
        for name, value, want in zip(("precision/recall", "density/coverage", "mmd"), got, expected):
            assert torch.equal(value, want), (rank, name, value, want)
