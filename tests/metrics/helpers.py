"""Small data, generators and callbacks for the metric tests; importable by subprocesses (DDP)."""

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Sequence

import torch
from lightning.pytorch import Callback, LightningDataModule, Trainer
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


@contextmanager
def one_thread():
    """One intra-op thread: these tensors are small, and when another process shares the cores,
    OpenMP threads waiting at barriers for a descheduled partner cost several times the work
    itself (measured: 39 s against 13 s for test_inception.py on 2 busy cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class DigitsImages(LightningDataModule):
    """scikit-learn's 8x8 digits as the image data modules give them: ``[uint8 images, labels]``
    from the loaders, float in [-1, 1] after ``on_after_batch_transfer``; the last ``n_held_out`` held out."""

    img_shape = (1, 8, 8)

    def __init__(self, batch_size: int = 64, n_held_out: int = 297) -> None:
        super().__init__()
        self.batch_size, self.n_held_out = batch_size, n_held_out

    def setup(self, stage: str = "fit") -> None:
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = torch.tensor(digits.images * (255 / 16)).round().to(torch.uint8)[:, None]  # (1797, 1, 8, 8)
        labels = torch.tensor(digits.target, dtype=torch.long)
        n = len(images) - self.n_held_out
        self.train_set = TensorDataset(images[:n], labels[:n])
        self.held_out_set = TensorDataset(images[n:], labels[n:])

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, self.batch_size, shuffle=True, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.held_out_set, self.batch_size)

    test_dataloader = val_dataloader

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        images, labels = batch
        return [images.float() / 127.5 - 1, labels]


class MixtureSampler(nn.Module):
    """A "generator" that samples a ring of Gaussians exactly: z[:, 0] picks the mode (through
    the normal CDF), z[:, 1:3] is the Gaussian noise. latent_dim must be 3."""

    def __init__(self, latent_dim: int, img_shape: Sequence[int], n_modes: int = 8, radius: float = 2.0,
                 std: float = 0.02, only_mode: int = -1) -> None:
        super().__init__()
        assert latent_dim == 3 and tuple(img_shape) == (2,)
        angles = torch.arange(n_modes) * (2 * torch.pi / n_modes)
        self.register_buffer("centers", radius * torch.stack([angles.cos(), angles.sin()], dim=1))
        self.std, self.only_mode = std, only_mode
        self.shift = nn.Parameter(torch.zeros(2))  # something to train; 0 until then

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        n_modes = len(self.centers)
        mode = (torch.special.ndtr(z[:, 0]) * n_modes).long().clamp_(0, n_modes - 1)
        if self.only_mode >= 0:
            mode = torch.full_like(mode, self.only_mode)
        return self.centers[mode] + self.std * z[:, 1:3] + self.shift


class DumpMetrics(Callback):
    """After test and after fit, each rank writes ``trainer.callback_metrics`` (logged, so averaged over
    ranks) and the values its evaluation callbacks computed themselves to ``dirpath/<stage>/rank<r>.pt``."""

    def __init__(self, dirpath: str) -> None:
        self.dirpath = Path(dirpath)

    def _dump(self, trainer, stage: str) -> None:
        (self.dirpath / stage).mkdir(parents=True, exist_ok=True)
        metrics = {k: v.detach().cpu().double() for k, v in trainer.callback_metrics.items()}
        computed = {k: v.cpu() for c in trainer.callbacks for k, v in getattr(c, "last_values", {}).items()}
        torch.save({"metrics": metrics, "computed": computed, "world_size": trainer.world_size},
                   self.dirpath / stage / f"rank{trainer.global_rank}.pt")

    def on_test_end(self, trainer, pl_module) -> None:
        self._dump(trainer, "test")

    def on_fit_end(self, trainer, pl_module) -> None:
        self._dump(trainer, "fit")


def digits_classifier_checkpoint(root: Path) -> Path:
    """``root/classifier.ckpt``: a Classifier trained for 3 epochs on the 8x8 digits, trained at the
    first call only (the fixtures of tests/metrics and tests/callbacks share one per session)."""
    from lit_gan.metrics import Classifier

    path = root / "classifier.ckpt"
    if path.is_file():
        return path
    root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)  # session fixtures start before the package's one-thread fixture
    model = Classifier(img_shape=(1, 8, 8), num_classes=10)
    trainer = Trainer(
        accelerator="cpu", devices=1, max_epochs=3, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=root,
    )
    with one_thread():
        trainer.fit(model, DigitsImages(batch_size=32))
    trainer.save_checkpoint(path)
    return path
