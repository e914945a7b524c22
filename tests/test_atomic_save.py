"""A crash during a checkpoint save never leaves a truncated file where a good one was:
Lightning writes through an fsspec transaction (a temporary file, moved into place at the end)."""

import pytest
import torch
from fsspec.implementations.local import LocalFileOpener
from lightning.pytorch.callbacks import ModelCheckpoint

from lit_gan import WGANGP
from lit_gan.data import RingOfGaussians
from tests.conftest import cpu_trainer, tiny_networks


def test_a_crash_while_writing_keeps_the_good_checkpoint(tmp_path, monkeypatch):
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", filename="model", every_n_train_steps=1, save_top_k=1)
    trainer = cpu_trainer(tmp_path, max_steps=1, callbacks=[ckpt], enable_checkpointing=True)
    trainer.fit(WGANGP(n_critic=1, **tiny_networks()), RingOfGaussians(batch_size=8, n_train=64))
    path = tmp_path / "ckpt" / "model.ckpt"
    good = path.read_bytes()

    real_write = LocalFileOpener.write

    def crash_halfway(self, data):
        real_write(self, bytes(data)[: len(data) // 2])  # half of it reaches the disk, then the process "dies"
        raise OSError("disk gone")

    monkeypatch.setattr(LocalFileOpener, "write", crash_halfway)
    with pytest.raises(OSError, match="disk gone"):
        trainer.save_checkpoint(path)
    monkeypatch.undo()
    assert path.read_bytes() == good  # the good checkpoint is untouched
    assert torch.load(path, weights_only=True)["global_step"] == 1
