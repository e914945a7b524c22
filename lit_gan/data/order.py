"""The training order: the same for any number of processes, and resumable in the middle of an epoch.

Each epoch is one random permutation of the training set, seeded by ``seed + epoch`` (as
``DistributedSampler`` does); rank r of W takes positions r, r + W, r + 2W, ... So at every step
the batches of all ranks, taken together, are the batch that one process with W times the batch
size would take, and DDP's gradient average over the ranks is that process's gradient (the
objectives draw their latents the same way: rank r takes rows r::W of one global draw).

A checkpoint records the seed, the epoch and how many samples of it all ranks together trained
on (the data module's ``state_dict``); resuming skips those, so that a resumed run trains on the
data in the order of an uninterrupted one, also with another number of processes or batch size
(the permutation does not depend on them) when the new number of processes divides the samples
trained on. The count goes on from the checkpoint's: the batches run since the resume are counted
at the new global batch size. Lightning keeps a ``DistributedSampler`` as it is instead of
replacing it by its own.

The epoch of the permutation is the one Lightning's loop runs (``trainer.current_epoch``), not the
number it passes to ``set_epoch`` (epochs processed): the two differ by one after a resume from a
checkpoint written when fit stopped at ``max_steps`` in the middle of an epoch, where the loop goes
on with that epoch.
"""

import os
import warnings
from typing import Any, Callable, Iterator, Optional

import torch
import torch.distributed as dist
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, Dataset, DistributedSampler


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


class ShuffledOrder(DistributedSampler):
    """A permutation per epoch of ``seed + epoch``; rank r of W takes positions r::W; after
    ``resume(epoch, n)``, the first ``n`` indices of that epoch's share are skipped once."""

    def __init__(
        self,
        dataset: Dataset,
        seed: int = 0,
        drop_last: bool = True,
        num_replicas: Optional[int] = None,
        rank: Optional[int] = None,
        epoch_of: Optional[Callable[[], int]] = None,
    ) -> None:
        world, this_rank = _world()
        num_replicas, rank = (world, this_rank) if num_replicas is None else (num_replicas, rank or 0)
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=drop_last)
        self._skip: Optional[tuple[int, int]] = None  # (epoch, indices of this rank's share to skip)
        self._epoch_of = epoch_of  # the epoch the training loop runs, which set_epoch's argument may not be

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch if self._epoch_of is None else self._epoch_of())

    def resume(self, epoch: int, n: int) -> None:
        self._skip = (int(epoch), int(n))

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        if self._skip is not None and self._skip[0] == self.epoch:
            indices = indices[self._skip[1] :]
            self._skip = None
        return iter(indices)


class ResumableOrder(LightningDataModule):
    """A data module whose training loader is in :class:`ShuffledOrder`, saved in checkpoints.

    The seed is that of ``seed_everything`` (``PL_GLOBAL_SEED``, 0 without it), kept in the
    checkpoint so that a resumed run continues the same sequence of permutations.
    """

    batch_size: int

    def training_loader(self, dataset: Dataset, drop_last: bool = True, **loader_kwargs: Any) -> DataLoader:
        """Batches of ``batch_size`` in :class:`ShuffledOrder`, continuing a restored order."""
        state = getattr(self, "_order_to_restore", None) or {}
        seed = int(state.get("seed", os.environ.get("PL_GLOBAL_SEED", 0)))
        trainer = getattr(self, "trainer", None)
        epoch_of = (lambda: trainer.current_epoch) if trainer is not None else None
        self._order = ShuffledOrder(dataset, seed=seed, drop_last=drop_last, epoch_of=epoch_of)
        self._resumed_from = None
        if state:  # skip this rank's share of the samples all ranks trained on (any number of ranks before)
            self._order.resume(state["epoch"], state["samples"] // self._order.num_replicas)
            self._resumed_from = self._count_in_new_batches(state)
            self._order_to_restore = None
        # A generator of its own: each new iterator draws a seed for its workers from the loader's
        # generator, which would otherwise advance the global stream between epochs, and not on
        # a run resumed at an epoch's end (its iterator is made before the states are restored).
        generator = torch.Generator().manual_seed(seed)
        return DataLoader(dataset, self.batch_size, sampler=self._order, drop_last=drop_last, generator=generator, **loader_kwargs)

    def _count_in_new_batches(self, state: dict[str, Any]) -> dict[str, Any]:
        """Lightning restores the checkpoint's count of this epoch's batches, and ends the epoch when the
        count reaches the loader's length: with another global batch size (batch size, or number of
        processes) both are of different batches, and a larger one would end the epoch early. Set the
        count to the batches of this run's size that the samples trained on make; ``state`` with it."""
        done = state["samples"] // (self.batch_size * self._order.num_replicas)
        trainer = getattr(self, "trainer", None)
        if trainer is not None and trainer.current_epoch == state["epoch"]:
            progress = trainer.fit_loop.epoch_loop.batch_progress.current
            shift = done - progress.processed  # 0 at the same size; the stages keep their offsets
            progress.ready, progress.started = progress.ready + shift, progress.started + shift
            progress.processed, progress.completed = progress.processed + shift, progress.completed + shift
        return {**state, "batches": done}

    def state_dict(self) -> dict[str, Any]:
        order = getattr(self, "_order", None)
        if order is None or getattr(self, "trainer", None) is None:
            return {}
        batches = self.trainer.fit_loop.epoch_loop.batch_progress.current.processed  # training steps run this epoch
        since, samples = batches, 0  # batches at this run's global batch size, and the positions used before them
        resumed = getattr(self, "_resumed_from", None)
        if resumed is not None and resumed["epoch"] == order.epoch:  # counted on from the checkpoint's samples
            since, samples = batches - resumed["batches"], resumed["samples"]
        samples += since * self.batch_size * order.num_replicas  # positions of the epoch's permutation used
        return {"order": {"seed": order.seed, "epoch": order.epoch, "samples": samples}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._order_to_restore = state_dict.get("order")
        # Lightning warns that a plain DataLoader cannot resume mid-epoch: this one does
        warnings.filterwarnings("ignore", message="You're resuming from a checkpoint that ended before the epoch ended")
