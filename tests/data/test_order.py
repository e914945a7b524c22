"""The training order: independent of how many processes share it, and resumable mid-epoch."""

import torch
from torch.utils.data import DataLoader, TensorDataset

from lit_gan.data.order import ShuffledOrder

DATA = TensorDataset(torch.arange(64))


def batches(sampler, batch_size):
    return [b[0] for b in DataLoader(DATA, batch_size, sampler=sampler, drop_last=True)]


def test_the_ranks_batches_together_are_one_process_batch_of_their_total_size():
    for epoch in (0, 1):
        one = ShuffledOrder(DATA, seed=3, num_replicas=1)
        ranks = [ShuffledOrder(DATA, seed=3, num_replicas=2, rank=r) for r in (0, 1)]
        for s in (one, *ranks):
            s.set_epoch(epoch)
        single, (rank0, rank1) = batches(one, 8), [batches(s, 4) for s in ranks]
        assert len(single) == len(rank0) == len(rank1) == 8
        for b, b0, b1 in zip(single, rank0, rank1):
            assert torch.equal(b[0::2], b0) and torch.equal(b[1::2], b1)  # rank r: rows r::2 of the global batch
    assert not torch.equal(batches(ShuffledOrder(DATA, seed=3, num_replicas=1), 8)[0], single[0])  # epoch 1 differs from 0


def test_every_epoch_is_a_permutation_of_its_seed_and_epoch():
    a, b = ShuffledOrder(DATA, seed=0, num_replicas=1), ShuffledOrder(DATA, seed=1, num_replicas=1)
    first = list(a)
    assert sorted(first) == list(range(64)) and first == list(ShuffledOrder(DATA, seed=0, num_replicas=1))
    assert first != list(b)


def test_resume_skips_the_batches_already_trained_on_in_that_epoch_only():
    full = ShuffledOrder(DATA, seed=0, num_replicas=2, rank=1)
    full.set_epoch(2)
    expected = list(full)
    resumed = ShuffledOrder(DATA, seed=0, num_replicas=2, rank=1)
    resumed.resume(epoch=2, n=12)
    resumed.set_epoch(2)
    assert list(resumed) == expected[12:]
    assert list(resumed) == expected  # once: the next pass over the same epoch is whole
    other = ShuffledOrder(DATA, seed=0, num_replicas=1)
    other.resume(epoch=0, n=8)
    other.set_epoch(1)
    assert len(list(other)) == 64  # another epoch than the one resumed: nothing skipped
