"""The gradient all-reduce that overlaps backward (lit_gan.objectives.overlap), on 2 real CPU processes
(gloo): the same averages as the flat buffer after backward, bucket by bucket launched from the hooks;
the penalty's out-of-place double backward launches nothing; unused and frozen parameters do not
hang; a NaN on one rank is seen on both; and one process installs no hook at all."""

import os
import socket
from functools import partial
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from lit_gan import WGANGP
from lit_gan.data import RingOfGaussians
from lit_gan.networks import MLPCritic, MLPGenerator
from lit_gan.objectives.losses import gradient_penalty
from lit_gan.objectives.overlap import BucketReducer
from lit_gan.objectives.updates import Updater
from tests.conftest import cpu_trainer

NO_SCALER = SimpleNamespace(trainer=SimpleNamespace(precision_plugin=None))  # what _average_and_check reads


class Critic(nn.Module):
    """A small critic with a layer it never uses (last registered: first in backward's order) and a frozen
    parameter."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
        self.unused = nn.Linear(3, 1)
        self.frozen = nn.Parameter(torch.ones(4), requires_grad=False)

    def forward(self, x):
        return self.net(x) + self.frozen.sum()


def loss_of(critic: nn.Module, rank: int, penalty: bool, nan: bool = False, inf_grad: bool = False):
    """A WGAN-GP-like critic loss on this rank's own data (seeded by rank); ``nan``: a NaN loss;
    ``inf_grad``: a finite loss with an infinite gradient (d sqrt(x) / dx at 0) in the first layer."""
    g = torch.Generator().manual_seed(100 + rank)
    real, fake = torch.randn(8, 2, generator=g), torch.randn(8, 2, generator=g)
    loss = critic(fake).mean() - critic(real).mean()
    if penalty:
        loss = loss + 10 * gradient_penalty(critic, real, fake, t=torch.rand(8, generator=g))[0]
    if inf_grad:
        bias = critic.net[0].bias[0]
        loss = loss + torch.sqrt(bias - bias.detach())
    return loss * float("nan") if nan else loss


def averaged(critic: nn.Module, loss: torch.Tensor, reducer=None):
    """Updater's average after backward (flat, or ``reducer``'s), and its finite flag."""
    critic.zero_grad(set_to_none=True)
    if reducer is None:
        loss.backward()
    else:
        with reducer.reducing(loss):
            loss.backward()
    finite = Updater()._average_and_check(NO_SCALER, critic, loss, reducer)
    return {n: p.grad.clone() for n, p in critic.named_parameters() if p.grad is not None}, bool(finite)


def worker(rank: int, port: int, out: str) -> None:
    """Each scenario on both ranks; what each saw goes to ``out``/rank<r>.pt."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    torch.manual_seed(0)  # the same initial weights on both ranks
    critic, results = Critic(), {}
    small = 100 / 2**20  # a Linear layer or less a bucket: 5 buckets
    for penalty in (False, True):
        reducer = BucketReducer(critic, bucket_mb=small)
        flat, flat_ok = averaged(critic, loss_of(critic, rank, penalty))
        rounds = []
        for _ in range(2):  # the first waits for `unused` until backward ends; the second knows it gets nothing
            before = reducer.launched_in_backward
            grads, ok = averaged(critic, loss_of(critic, rank, penalty), reducer)
            rounds.append({"grads": grads, "ok": ok, "launched": reducer.launched_in_backward - before})
        results[penalty] = {"flat": flat, "flat_ok": flat_ok, "rounds": rounds, "buckets": len(reducer.buckets)}
        reducer.remove()
    # the penalty's double backward with the hooks armed: nothing accumulates, nothing launches
    reducer = BucketReducer(critic, bucket_mb=small)
    critic.zero_grad(set_to_none=True)
    with reducer.reducing(torch.zeros(())):
        loss_of(critic, rank, penalty=True)
        results["during_penalty"] = (reducer.launched_in_backward, [p.grad is None for p in critic.parameters()])
    reducer.finish(2)
    # unarmed: a backward of the user's is left alone
    critic.zero_grad(set_to_none=True)
    loss_of(critic, rank, penalty=False).backward()
    results["unarmed"] = (reducer.launched_in_backward, critic.net[0].weight.grad.clone())
    # a NaN loss on rank 1 only, an infinite gradient on rank 0 only: both ranks refuse
    results["nan_loss"] = averaged(critic, loss_of(critic, rank, False, nan=rank == 1), reducer)[1]
    results["inf_grad"] = averaged(critic, loss_of(critic, rank, False, inf_grad=rank == 0), reducer)[1]
    results["finite_after"] = averaged(critic, loss_of(critic, rank, False), reducer)[1]
    reducer.remove()
    # bfloat16 on the wire
    reducer = BucketReducer(critic, bucket_mb=small, compress=True)
    results["compressed"] = averaged(critic, loss_of(critic, rank, True), reducer)[0]
    reducer.remove()
    torch.save(results, os.path.join(out, f"rank{rank}.pt"))
    dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("overlap")
    mp.spawn(worker, args=(free_port(), str(out)), nprocs=2, join=True)
    return [torch.load(out / f"rank{r}.pt") for r in range(2)]


@pytest.mark.parametrize("penalty", [False, True])
def test_the_bucketed_average_is_the_flat_one_and_the_same_on_both_ranks(ranks, penalty):
    for rank in ranks:
        case = rank[penalty]
        assert case["flat_ok"]
        assert case["rounds"][0]["launched"] == 0  # the bucket of `unused` held the rest back: all sent after backward
        assert case["rounds"][1]["launched"] == case["buckets"] == 5  # then every bucket went during it
        for bucketed in case["rounds"]:
            assert bucketed["ok"]
            assert set(bucketed["grads"]) == set(case["flat"]) == {f"net.{i}.{w}" for i in (0, 2, 4) for w in ("weight", "bias")}
            for name, grad in case["flat"].items():
                assert torch.equal(bucketed["grads"][name], grad), name
    for name, grad in ranks[0][penalty]["flat"].items():
        assert torch.equal(ranks[1][penalty]["rounds"][1]["grads"][name], grad), name


def test_the_penalty_double_backward_launches_nothing_and_unarmed_hooks_do_nothing(ranks):
    for rank in ranks:
        launched, untouched = rank["during_penalty"]
        assert launched == 0 and all(untouched)
        assert rank["unarmed"][0] == 0
    assert not torch.equal(ranks[0]["unarmed"][1], ranks[1]["unarmed"][1])  # each rank its own gradient


def test_a_non_finite_loss_or_gradient_on_one_rank_is_refused_on_both(ranks):
    for rank in ranks:
        assert rank["nan_loss"] is False and rank["inf_grad"] is False
        assert rank["finite_after"] is True


def test_bfloat16_compression_keeps_ranks_identical_and_close(ranks):
    for name, grad in ranks[0]["compressed"].items():
        assert torch.equal(ranks[1]["compressed"][name], grad), name
        torch.testing.assert_close(grad, ranks[0][True]["flat"][name], rtol=2e-2, atol=1e-3)
    assert any(not torch.equal(g, ranks[0][True]["flat"][n]) for n, g in ranks[0]["compressed"].items())  # it was rounded


def test_one_process_installs_no_hook(tmp_path):
    model = WGANGP(generator=partial(MLPGenerator, hidden_dims=(16,)), critic=partial(MLPCritic, hidden_dims=(16,)),
                   latent_dim=2, n_critic=2)
    cpu_trainer(tmp_path, max_steps=2).fit(model, RingOfGaussians(batch_size=16, n_train=64))
    assert model.global_step == 2 and model.updater.reducers == {}
    assert all(not p._post_accumulate_grad_hooks for p in model.parameters())


def test_a_bucket_size_that_is_not_positive_is_refused():
    with pytest.raises(ValueError, match=r"^Expected argument `bucket_mb` to be > 0, got 0$"):
        Updater(bucket_mb=0)
