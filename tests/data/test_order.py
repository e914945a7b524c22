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


def stream(sampler, epochs):
    out = []
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        out += list(sampler)
    return out


def test_the_batches_of_an_iteration_are_the_next_ones_of_the_stream_whatever_n_critic():
    # 64 samples in batches of 5: 12 whole batches per permutation (4 left out of each); n_critic 5
    # makes epochs of 2 iterations (10 batches), and the stream runs on into the next permutation
    one = ShuffledOrder(DATA, seed=0, num_replicas=1, batch_size=5)
    five = ShuffledOrder(DATA, seed=0, num_replicas=1, batch_size=5, batches_per_step=5)
    assert len(one) == 60 and len(five) == 50
    assert stream(five, 6) == stream(one, 5)  # 300 positions: 5 permutations' 60
    assert stream(one, 2)[:60] == list(ShuffledOrder(DATA, seed=0, num_replicas=1))[:60]  # permutation 0, cut
    # more critic batches an iteration than a permutation holds: an epoch is one iteration
    many = ShuffledOrder(DATA, seed=0, num_replicas=1, batch_size=5, batches_per_step=20)
    assert len(many) == 100 and stream(many, 3) == stream(one, 5)


def test_two_ranks_of_batch_b_take_the_rows_of_one_process_of_2b_iteration_by_iteration():
    one = ShuffledOrder(DATA, seed=1, num_replicas=1, batch_size=6, batches_per_step=3)
    ranks = [ShuffledOrder(DATA, seed=1, num_replicas=2, rank=r, batch_size=3, batches_per_step=3) for r in (0, 1)]
    single, (rank0, rank1) = stream(one, 4), [stream(r, 4) for r in ranks]
    assert len(single) == 2 * len(rank0) == 2 * len(rank1) > 0
    assert single[0::2] == rank0 and single[1::2] == rank1


def test_resume_goes_on_from_the_saved_position_also_at_another_batch_size():
    full = ShuffledOrder(DATA, seed=0, num_replicas=1, batch_size=4, batches_per_step=3)  # 16 batches, epochs of 5 iterations
    expected = stream(full, 4)
    position, into = full.position(epoch=2, batches=3)  # 2 epochs of 60 and 3 iterations of 12
    assert (position, into) == (156, 36)
    resumed = ShuffledOrder(DATA, seed=0, num_replicas=1, batch_size=4, batches_per_step=3)
    permutation, samples = divmod(position, resumed.kept)
    assert resumed.resume(permutation, samples, into, epoch=2) == 3  # Lightning's count of the epoch's batches
    resumed.set_epoch(2)
    assert list(resumed) == expected[156:180]  # the epoch's last 2 iterations
    resumed.set_epoch(3)
    assert list(resumed) == expected[180:240]  # and the next epoch, whole
    # another batch size: the same positions go on, counted in this run's iterations
    other = ShuffledOrder(DATA, seed=0, num_replicas=1, batch_size=2, batches_per_step=3)  # 6 an iteration
    assert other.resume(permutation, samples, into, epoch=2) == 6
    other.set_epoch(2)
    assert list(other)[:24] == expected[156:180]
    # two processes go on from the same position, rows r::2
    ranks = [ShuffledOrder(DATA, seed=0, num_replicas=2, rank=r, batch_size=2, batches_per_step=3) for r in (0, 1)]
    for rank in ranks:
        rank.resume(permutation, samples, into, epoch=2)
        rank.set_epoch(2)
    assert [list(r)[:12] for r in ranks] == [expected[156:180][0::2], expected[156:180][1::2]]


def test_every_rank_takes_as_many_batches_after_a_resume_on_a_number_of_processes_that_does_not_divide_it():
    # 8 positions trained on by 2 processes, resumed on 3: each rank goes on from position 6, as many each
    ranks = [ShuffledOrder(DATA, seed=0, num_replicas=3, rank=r, batch_size=2, batches_per_step=2) for r in (0, 1, 2)]
    for rank in ranks:
        rank.resume(permutation=0, samples=8, into=8, epoch=0)
        rank.set_epoch(0)
    lengths = {len(list(rank)) for rank in ranks}
    assert len(lengths) == 1 and lengths.pop() > 0  # a rank with one batch more would hang DDP


def test_a_tensor_datasets_batch_is_one_indexing_and_the_same_batch(monkeypatch):
    from lit_gan.data.order import ResumableOrder, Rows

    images, labels = torch.randint(0, 256, (64, 1, 3, 3), dtype=torch.uint8), torch.arange(64) % 10
    module = ResumableOrder()
    module.batch_size = 6
    loader = module.training_loader(TensorDataset(images, labels))
    assert type(loader.dataset) is Rows
    rows = []
    monkeypatch.setattr(TensorDataset, "__getitem__", lambda self, i: rows.append(i) or tuple(t[i] for t in self.tensors))
    fast = list(loader)
    assert len(rows) == len(fast) and all(torch.is_tensor(i) and i.numel() == 6 for i in rows)  # a batch a call
    monkeypatch.undo()
    plain = list(DataLoader(TensorDataset(images, labels), 6, sampler=loader.sampler, drop_last=True))
    assert len(fast) == len(plain) == 10
    for (x, y), (x0, y0) in zip(fast, plain):
        assert isinstance(fast[0], list) and torch.equal(x, x0) and torch.equal(y, y0) and x.dtype == torch.uint8
