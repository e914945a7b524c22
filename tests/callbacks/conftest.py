"""Helpers of the monitoring tests: a tiny image data module, a TensorBoard logger, event files read
back; and the trained digit classifier of the evaluation callbacks' tests (that of tests/metrics)."""

from pathlib import Path

import numpy as np
import pytest
import torch
from lightning.pytorch import LightningDataModule
from lightning.pytorch.loggers import TensorBoardLogger
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.data import DataLoader, TensorDataset

from tests.metrics.helpers import digits_classifier_checkpoint


class TinyImages(LightningDataModule):
    """``n`` random images of shape ``img_shape`` in [-1, 1], the range lit-gan scales images to."""

    def __init__(self, img_shape=(1, 8, 8), n: int = 64, batch_size: int = 8) -> None:
        super().__init__()
        self.img_shape, self.batch_size = tuple(img_shape), batch_size
        self.images = torch.rand(n, *self.img_shape, generator=torch.Generator().manual_seed(0)) * 2 - 1

    def train_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(self.images), batch_size=self.batch_size, shuffle=True, drop_last=True)


def tensorboard(tmp_path: Path) -> TensorBoardLogger:
    return TensorBoardLogger(tmp_path, name="tb", version=0)


def read_events(logger: TensorBoardLogger) -> EventAccumulator:
    """Everything the run wrote, nothing sampled away."""
    logger.experiment.flush()
    guidance = {"images": 0, "scalars": 0, "tensors": 0}
    return EventAccumulator(logger.log_dir, size_guidance=guidance).Reload()


def decode(event) -> np.ndarray:
    """An image event's PNG as an (H, W, C) uint8 array."""
    import io

    return np.asarray(Image.open(io.BytesIO(event.encoded_image_string)))


def scalars(events: EventAccumulator, prefix: str) -> dict[str, list[tuple[int, float]]]:
    return {t: [(e.step, e.value) for e in events.Scalars(t)] for t in events.Tags()["scalars"] if t.startswith(prefix)}


@pytest.fixture(scope="session")
def digits_classifier(tmp_path_factory) -> Path:
    """A Classifier trained for 3 epochs on the 8x8 digits (once per session, shared with tests/metrics)."""
    return digits_classifier_checkpoint(tmp_path_factory.getbasetemp() / "digits-classifier")
