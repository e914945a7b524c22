"""Evaluation under DDP (issue 39, item 6), on 2 gloo processes: each rank extracts its share, the values are
computed once, on rank 0, and broadcast (the same as one process), and the reference cache's entry is the
whole held-out set's, shared by runs on 1 and 2 processes."""

import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from lit_gan.errors import ConfigError
from lit_gan.metrics import ImageQualityMetrics
from lit_gan.metrics.features import FeatureExtractor
from lit_gan.metrics.quality import feed_real
from lit_gan.metrics.reference import ReferenceCache
from lit_gan.metrics.sources import shard
from lit_gan.metrics.standard import FID, IS, KID

N_REAL, N_FAKE = 61, 50  # uneven shares: 30 + 31 and 25 + 25, in batches of 8 (a batch split between the ranks)
SOURCE = {"data": "Toy", "split": "val"}
# Forked ranks start in a fraction of a second (tests/metrics/test_manifold.py does the same).
START_METHOD = "fork" if "fork" in mp.get_all_start_methods() else "spawn"


class Projection(FeatureExtractor):
    """Features: a fixed projection of the pixels; logits: the first 3 of them; counts the images it extracts."""

    num_features, num_classes = 6, 3

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(16, 6)
        for parameter in self.proj.parameters():  # the same weights in every process
            torch.nn.init.normal_(parameter, generator=torch.Generator().manual_seed(0))
        self.rows = 0
        self.requires_grad_(False).eval()

    def extract(self, images):
        self.rows += len(images)
        features = self.proj(images.flatten(1))
        return features, 2 * features[:, :3]

    def identity(self):
        return {"extractor": "projection", "features": "6", "weights_sha256": "ab" * 32, "resize": "none"}


class CountingFID(FID):
    """FID that counts the times this process computes it."""

    calls = 0

    def compute(self, state):
        CountingFID.calls += 1
        return super().compute(state)


class FailingFID(FID):
    def compute(self, state):
        raise ConfigError("Expected the test's failure")


def images(n: int, seed: int) -> torch.Tensor:
    return torch.rand(n, 1, 4, 4, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def real_batches():
    return ((x, None) for x in images(N_REAL, 1).split(8))  # all the held-out images, on every process


def evaluate(cache_dir: str, rank: int, world_size: int) -> dict:
    CountingFID.calls = 0
    extractor = Projection()
    metric = ImageQualityMetrics(extractor, metrics=[CountingFID(), IS(splits=2), KID(subsets=3, subset_size=20),
                                                     "precision_recall", "density_coverage", "mmd"])
    hit = feed_real(metric, real_batches, ReferenceCache(cache_dir), SOURCE, torch.device("cpu"))
    real_rows = extractor.rows
    lo, hi = shard(N_FAKE, rank, world_size)
    for batch in images(N_FAKE, 2)[lo:hi].split(7):
        metric.update(batch)
    values = metric.compute()
    own = (int(metric.fid.real_features_num_samples), int(metric.fid.fake_features_num_samples))  # back to its own
    again = metric.compute()
    failing = ImageQualityMetrics(extractor, metrics=[FailingFID()])
    failing.update_features(torch.zeros(4, 6), real=True), failing.update_features(torch.ones(4, 6))
    try:
        failing.compute()
        error = None
    except ConfigError as err:  # raised on every rank: none waits for values that never come
        error = str(err)
    return {"values": values, "again": again, "hit": hit, "real_rows": real_rows, "fid_calls": CountingFID.calls,
            "own": own, "error": error}


def _worker(rank: int, world_size: int, port: int, cache_dir: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    try:
        torch.save(evaluate(cache_dir, rank, world_size), f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def on_two_processes(cache_dir, out) -> list[dict]:
    out.mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.start_processes(_worker, args=(2, port, str(cache_dir), str(out)), nprocs=2, join=True,
                       start_method=START_METHOD)
    return [torch.load(out / f"rank{r}.pt") for r in range(2)]


def assert_same_values(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for key in want:
        assert got[key].item() == pytest.approx(want[key].item(), rel=1e-5, abs=1e-7), key


@pytest.mark.slow
def test_two_processes_give_one_process_values_computed_once_and_share_the_reference_cache(tmp_path):
    # 2 processes build the cache; 1 process reads it, extracting no held-out image
    ranks = on_two_processes(tmp_path / "a", tmp_path / "out_a")
    single = evaluate(str(tmp_path / "a"), 0, 1)
    assert [r["hit"] for r in ranks] == [False, False] and single["hit"] is True
    assert [r["real_rows"] for r in ranks] == [30, 31] and single["real_rows"] == 0  # each rank its share
    assert len(list((tmp_path / "a").glob("*.pt"))) == 1  # one entry, the whole set's
    # the values: computed on rank 0 alone, broadcast, and those of one process
    assert [r["fid_calls"] for r in ranks] == [2, 0] and single["fid_calls"] == 2
    assert all(torch.equal(ranks[0]["values"][k], ranks[1]["values"][k]) for k in single["values"])
    assert_same_values(ranks[0]["values"], single["values"])
    assert 0 < single["values"]["precision"] < 1 and single["values"]["fid"] > 0 and single["values"]["kid"] != 0
    # each rank keeps accumulating its own states: gathered for compute, its own again after
    assert [r["own"] for r in ranks] == [(30, 25), (31, 25)] and single["own"] == (61, 50)
    assert all(torch.equal(r["again"][k], r["values"][k]) for r in ranks for k in single["values"])
    # an error of rank 0's compute is raised on every rank
    assert [r["error"] for r in ranks] == ["Expected the test's failure"] * 2

    # and the other way: 1 process builds, 2 read
    single = evaluate(str(tmp_path / "b"), 0, 1)
    ranks = on_two_processes(tmp_path / "b", tmp_path / "out_b")
    assert single["hit"] is False and single["real_rows"] == N_REAL
    assert [r["hit"] for r in ranks] == [True, True] and [r["real_rows"] for r in ranks] == [0, 0]
    assert_same_values(ranks[1]["values"], single["values"])
    assert len(list((tmp_path / "b").glob("*.pt"))) == 1
