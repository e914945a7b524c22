"""The gradient all-reduce that overlaps backward under real 2-process DDP (CPU, gloo): with buckets
small enough that every layer launches its own during backward, in the critic's updates and the
generator's, the ranks end identical and where the flat all-reduce after backward ends, the gradient
penalty's double backward included. (Without a penalty: tests/objectives/test_overlap.py, against the
flat average; R1/R2 and every family: the runs of tests/test_ddp*.py, where the overlap is on by default.)"""

import json
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback

from tests.test_ddp import FAMILIES, assert_ranks_identical, run_ddp


class Overlap(Callback):
    """Sets the updater's ``overlap`` and bucket size as training starts; after fit, each rank writes
    how many buckets each network's reducer has and how many it launched from its hooks."""

    def __init__(self, dirpath: str, overlap: bool = True, bucket_mb: float = 25.0) -> None:
        self.dirpath, self.overlap, self.bucket_mb = Path(dirpath), overlap, bucket_mb

    def on_train_start(self, trainer, pl_module):
        pl_module.updater.overlap, pl_module.updater.bucket_mb = self.overlap, self.bucket_mb

    def on_fit_end(self, trainer, pl_module):
        reducers = pl_module.updater.reducers
        launched = {}
        for name, net in (("critic", pl_module.critic), ("generator", pl_module.generator)):
            reducer = reducers.get(id(net))
            launched[name] = None if reducer is None else [len(reducer.buckets), reducer.launched_in_backward]
        (self.dirpath / f"launched{trainer.global_rank}.json").write_text(json.dumps(launched))


@pytest.mark.slow
def test_the_overlapped_all_reduce_ends_where_the_flat_one_does(tmp_path):
    model = lambda: {**FAMILIES["wgan_gp"], "init_args": dict(FAMILIES["wgan_gp"]["init_args"])}  # noqa: E731
    runs = {}
    for overlap in (False, True):
        out = tmp_path / str(overlap)
        callback = {"class_path": "tests.test_ddp_overlap.Overlap",
                    "init_args": {"dirpath": str(out), "overlap": overlap, "bucket_mb": 0.0001}}  # ~100 bytes a bucket
        runs[overlap] = run_ddp(out, model(), max_steps=3, extra_callbacks=[callback])
        launched = [json.loads((out / f"launched{r}.json").read_text()) for r in range(2)]
        assert launched[0] == launched[1], launched
        if overlap:  # every bucket of the 6 critic updates and the 3 generator updates launched during backward
            (critic_buckets, critic_launched), (generator_buckets, generator_launched) = launched[0].values()
            assert critic_buckets >= 3 and generator_buckets >= 3, launched
            assert critic_launched == 6 * critic_buckets and generator_launched == 3 * generator_buckets, launched
        else:
            assert launched[0] == {"critic": None, "generator": None}
    assert_ranks_identical(*runs[True], steps=3, critic_steps=6)
    for key, value in runs[False][0]["state"].items():
        assert torch.equal(runs[True][0]["state"][key], value), key
