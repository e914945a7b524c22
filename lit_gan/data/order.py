"""The training order: the same for any number of processes, resumable anywhere, and the same
critic batches whatever ``n_critic`` groups them into generator iterations.

The stream. Permutation p of the training set is seeded by ``seed + p`` (as ``DistributedSampler``
does); rank r of W takes its positions r, r + W, r + 2W, ... The training stream is permutation
0, then 1, 2, ..., each cut to the positions that fill whole batches of ``batch_size`` on every rank
(``drop_last``, the last incomplete batch dropped as a ``DataLoader`` drops it). So at every step the
batches of all ranks, taken together, are the batch that one process with W times the batch size
would take, and DDP's gradient average over the ranks is that process's gradient (the objectives
draw their latents the same way: rank r takes rows r::W of one global draw).

One training batch is one generator iteration: the ``n_critic`` batches of its critic updates, one
after the other in the stream (``batches_per_step``). An epoch is the iterations that one pass
takes, ``(batches per permutation) // n_critic`` of them and at least one; the stream runs on across
epochs, so an iteration's critic batches are the stream's next ones whatever ``n_critic`` is, and
a permutation's tail is never skipped because it does not fill an iteration. With ``n_critic`` 1 an
epoch is one permutation. Without ``drop_last`` an epoch is one whole permutation, its last batch
smaller.

A checkpoint records the seed and where the stream is (the data module's ``state_dict``): the
permutation, how many of its positions all ranks together trained on, and how far into Lightning's
epoch the run was. Resuming goes on from there, so that a resumed run trains on the data in the
order of an uninterrupted one, also with another number of processes or batch size (the
permutations do not depend on them) when the new number of processes divides the positions
trained on. Lightning keeps a ``DistributedSampler`` as it is instead of replacing it by its own.

The epoch is the one Lightning's loop runs (``trainer.current_epoch``), not the number it passes to
``set_epoch`` (epochs processed): the two differ by one after a resume from a checkpoint written
when fit stopped at ``max_steps`` in the middle of an epoch, where the loop goes on with that epoch.
"""

import math
import os
import warnings
from typing import Any, Callable, Iterator, Optional

import torch
import torch.distributed as dist
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, Dataset, DistributedSampler, TensorDataset

from lit_gan.compat import epoch_progress


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


class ShuffledOrder(DistributedSampler):
    """The stream of permutations, ``batch_size`` x ``batches_per_step`` indices at a time; an epoch is
    :attr:`epoch_length` global positions of it, and ``resume`` goes on from a saved position.

    Positions are global (all ranks): ``position`` counts the stream's positions before a batch,
    ``into`` those of the epoch before it."""

    def __init__(
        self,
        dataset: Dataset,
        seed: int = 0,
        drop_last: bool = True,
        num_replicas: Optional[int] = None,
        rank: Optional[int] = None,
        epoch_of: Optional[Callable[[], int]] = None,
        batch_size: int = 1,
        batches_per_step: int = 1,
    ) -> None:
        world, this_rank = _world()
        num_replicas, rank = (world, this_rank) if num_replicas is None else (num_replicas, rank or 0)
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=drop_last)
        self._epoch_of = epoch_of  # the epoch the training loop runs, which set_epoch's argument may not be
        self.step = batch_size * batches_per_step * num_replicas  # global positions of one training batch
        if drop_last:  # whole batches of every rank; an epoch of whole iterations, at least one
            batches = self.num_samples // batch_size
            self.kept = batches * batch_size * num_replicas
            self.epoch_length = max(1, batches // batches_per_step) * self.step if batches else 0
        else:  # every position (padded to the ranks as DistributedSampler pads); one permutation an epoch
            self.kept = self.epoch_length = self.total_size
        self._anchor = (0, 0, 0, 0)  # (epoch, its batches run, position, into the epoch) that the counts start from
        self._permutation: tuple[int, list[int]] = (-1, [])

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch if self._epoch_of is None else self._epoch_of())

    def __len__(self) -> int:
        return self.epoch_length // self.num_replicas

    def start(self, epoch: int) -> tuple[int, int]:
        """(position, into the epoch) of ``epoch``'s first batch, or of the resumed batch in the epoch resumed."""
        anchor_epoch, _, position, into = self._anchor
        if epoch == anchor_epoch:
            return position, into
        return position + self.epoch_length - into + (epoch - anchor_epoch - 1) * self.epoch_length, 0

    def position(self, epoch: int, batches: int) -> tuple[int, int]:
        """(position, into the epoch) after ``batches`` training batches of ``epoch`` (Lightning's count)."""
        position, into = self.start(epoch)
        done = batches - (self._anchor[1] if epoch == self._anchor[0] else 0)
        return position + done * self.step, into + done * self.step

    def resume(self, permutation: int, samples: int, into: int, epoch: int) -> int:
        """Go on from ``samples`` positions into ``permutation``, ``into`` positions into the loop's
        ``epoch``; the batches of this run's size that ``into`` makes (Lightning's count to set)."""
        samples, into = samples - samples % self.num_replicas, into - into % self.num_replicas  # every rank as many
        position = permutation * self.kept + min(samples, self.kept)  # a longer cut of it before: the next one
        batches = into // self.step
        self._anchor = (epoch, batches, position, into)
        return batches

    def __iter__(self) -> Iterator[int]:
        position, into = self.start(self.epoch)
        first = position + self.rank
        for q in range(first, first + max(0, self.epoch_length - into), self.num_replicas):
            p, o = divmod(q, self.kept)
            yield self._indices(p)[o]

    def _indices(self, p: int) -> list[int]:
        """The global positions of permutation ``p``, as DistributedSampler orders and pads them."""
        if self._permutation[0] != p:
            indices = torch.randperm(len(self.dataset), generator=torch.Generator().manual_seed(self.seed + p)).tolist()
            if self.total_size > len(indices):
                indices = (indices * math.ceil(self.total_size / len(indices)))[: self.total_size]
            self._permutation = (p, indices)
        return self._permutation[1]


class Rows(TensorDataset):
    """A ``TensorDataset`` whose batch is one indexing of each tensor (``__getitems__``, which the
    ``DataLoader`` calls with a batch's indices) instead of one ``__getitem__`` a row and a ``torch.stack``:
    the same batch, bit for bit (BENCHMARKS.md, "After issue 36": the quickstart's loop spent 8% of its
    time fetching its 1,280 rows a step one by one)."""

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, ...]:
        return self[torch.as_tensor(indices)]


class ResumableOrder(LightningDataModule):
    """A data module whose training loader is in :class:`ShuffledOrder`, saved in checkpoints.

    The seed is that of ``seed_everything`` (``PL_GLOBAL_SEED``, 0 without it), kept in the
    checkpoint so that a resumed run continues the same sequence of permutations.
    """

    batch_size: int

    @property
    def batches_per_step(self) -> int:
        """The batches of ``batch_size`` that one training step takes at once: the module's
        ``batches_per_step`` (a GAN's ``n_critic``, so that one Lightning batch is one generator iteration
        of Algorithm 1, its critic updates each on a batch of its own), 1 for any other module."""
        trainer = getattr(self, "trainer", None)
        module = trainer.lightning_module if trainer is not None else None
        return int(getattr(module, "batches_per_step", 1))

    def training_loader(self, dataset: Dataset, drop_last: bool = True, **loader_kwargs: Any) -> DataLoader:
        """Batches of ``batch_size`` x ``batches_per_step`` in :class:`ShuffledOrder` (the critic batches of
        one generator iteration), continuing a restored order."""
        state = getattr(self, "_order_to_restore", None) or {}
        seed = int(state.get("seed", os.environ.get("PL_GLOBAL_SEED", 0)))
        trainer = getattr(self, "trainer", None)
        epoch_of = (lambda: trainer.current_epoch) if trainer is not None else None
        per_step = self.batches_per_step
        self._order = ShuffledOrder(dataset, seed=seed, drop_last=drop_last, epoch_of=epoch_of,
                                    batch_size=self.batch_size, batches_per_step=per_step)
        if state:
            self._resume(state)
            self._order_to_restore = None
        # A generator of its own: each new iterator draws a seed for its workers from the loader's
        # generator, which would otherwise advance the global stream between epochs, and not on
        # a run resumed at an epoch's end (its iterator is made before the states are restored).
        generator = torch.Generator().manual_seed(seed)
        if type(dataset) is TensorDataset and "collate_fn" not in loader_kwargs:  # a batch in one indexing
            dataset, loader_kwargs = Rows(*dataset.tensors), {**loader_kwargs, "collate_fn": list}
        return DataLoader(dataset, self.batch_size * per_step, sampler=self._order, drop_last=drop_last,
                          generator=generator, **loader_kwargs)

    def _resume(self, state: dict[str, Any]) -> None:
        """Go on from the checkpoint's position. Lightning restores the checkpoint's count of this epoch's
        batches, and ends the epoch when the count reaches the loader's length: with another global
        batch (batch size, ``n_critic`` or number of processes) both are of different batches, and a
        larger one would end the epoch early. Set the count to the batches of this run's size that
        the epoch's positions so far make. (A checkpoint of an earlier lit-gan, whose epoch was one
        permutation, has no ``into``: its samples are its epoch's.)"""
        trainer = getattr(self, "trainer", None)
        epoch = trainer.current_epoch if trainer is not None else 0
        saved_epoch = int(state.get("loop_epoch", state["epoch"]))
        into = int(state.get("into", state["samples"])) if epoch == saved_epoch else 0  # else the loop went on
        done = self._order.resume(int(state["epoch"]), int(state["samples"]), into, epoch)
        if trainer is not None and epoch == saved_epoch:
            progress = epoch_progress(trainer)
            shift = done - progress.processed  # 0 at the same size; the stages keep their offsets
            progress.ready, progress.started = progress.ready + shift, progress.started + shift
            progress.processed, progress.completed = progress.processed + shift, progress.completed + shift

    def state_dict(self) -> dict[str, Any]:
        order = getattr(self, "_order", None)
        if order is None or getattr(self, "trainer", None) is None:
            return {}
        batches = epoch_progress(self.trainer).processed  # training steps run this epoch
        position, into = order.position(order.epoch, batches)
        permutation, samples = divmod(position, order.kept) if order.kept else (0, 0)
        return {"order": {"seed": order.seed, "epoch": permutation, "samples": samples, "into": into, "loop_epoch": order.epoch}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._order_to_restore = state_dict.get("order")
        # Lightning warns that a plain DataLoader cannot resume mid-epoch: this one does
        warnings.filterwarnings("ignore", message="You're resuming from a checkpoint that ended before the epoch ended")
