"""Callbacks that tests pass to the real CLI (``--trainer.callbacks+=tests.helpers.X``), and a data set
that fails in a DataLoader worker (importable there, unlike a class defined in a test)."""

from pathlib import Path

import torch
from lightning.pytorch import Callback
from torch.utils.data import Dataset

from lit_gan.errors import ConfigError


class DumpRankState(Callback):
    """After fit, each rank writes its weights, its first real batch and a fresh random draw."""

    def __init__(self, dirpath: str) -> None:
        self.dirpath = Path(dirpath)
        self.first_batch = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.first_batch is None:
            self.first_batch = batch[0].detach().cpu().clone()

    def on_fit_end(self, trainer, pl_module):
        self.dirpath.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().clone() for k, v in pl_module.state_dict().items()}
        torch.save(
            {
                "state": state,
                "first_batch": self.first_batch,
                "latent": pl_module.sample_latent(4).cpu(),
                "global_step": trainer.global_step,
                "critic_steps": pl_module.critic_steps,
                "world_size": trainer.world_size,
            },
            self.dirpath / f"rank{trainer.global_rank}.pt",
        )


class RecordBatches(Callback):
    """Each rank writes every real training batch it was given (after the device transfer)."""

    def __init__(self, dirpath: str) -> None:
        self.dirpath = Path(dirpath)
        self.batches = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.batches.append(batch[0].detach().cpu().clone())

    def on_fit_end(self, trainer, pl_module):
        self.dirpath.mkdir(parents=True, exist_ok=True)
        torch.save(torch.cat(self.batches), self.dirpath / f"batches{trainer.global_rank}.pt")


class FailOnRank(Callback):
    """Raise on one rank at one batch, as a crashed process would."""

    def __init__(self, rank: int = 1, at_batch: int = 3) -> None:
        self.rank, self.at_batch = rank, at_batch

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_rank == self.rank and batch_idx == self.at_batch:
            raise RuntimeError(f"rank {self.rank} fails on purpose at batch {batch_idx}")


class TouchAt(Callback):
    """Write ``path`` once training reaches batch ``at_batch`` (a test waits for it to send a signal)."""

    def __init__(self, path: str, at_batch: int = 10) -> None:
        self.path, self.at_batch = Path(path), at_batch

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if batch_idx == self.at_batch:
            self.path.write_text(str(trainer.global_step))


class SignalAt(Callback):
    """Send this process ``signal`` (a name: SIGTERM, SIGINT) ``times`` times as training batch ``at_batch`` begins."""

    def __init__(self, signal: str, at_batch: int = 3, times: int = 1) -> None:
        self.signal, self.at_batch, self.times = signal, at_batch, times

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        import os
        import signal
        import time

        if batch_idx == self.at_batch:
            for _ in range(self.times):
                os.kill(os.getpid(), getattr(signal, self.signal))
                time.sleep(0.05)  # each delivered, and handled, before the next


class Broken(Dataset):
    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int):
        raise ConfigError(f"row {i} of `data_file` is broken")
