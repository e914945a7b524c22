"""Under 2-process DDP each rank trains on its own shard of an image data module."""

import pytest
import torch

from lit_gan.data import DigitsDataModule
from tests.test_ddp import run_ddp


@pytest.mark.slow
def test_each_rank_sees_its_own_shard(tmp_path):
    model = {"class_path": "lit_gan.WGANGP", "init_args": {}}
    data = {"class_path": "lit_gan.data.DigitsDataModule", "init_args": {"batch_size": 50}}
    callback = {"class_path": "tests.helpers.RecordBatches", "init_args": {"dirpath": str(tmp_path / "out")}}
    run_ddp(tmp_path, model, max_steps=7, data=data, extra_callbacks=[callback], n_critic=2, max_epochs=1)
    seen = [torch.load(tmp_path / "out" / f"batches{r}.pt").flatten(1) for r in (0, 1)]
    assert seen[0].shape == seen[1].shape == (14 * 50, 64)  # 1,500 images, 750 per rank, 14 full batches each

    dm = DigitsDataModule()
    dm.setup()
    train = dm.train_set.tensors[0].flatten(1)
    rows = lambda t: {tuple(r.tolist()) for r in t}  # noqa: E731
    duplicated = {r for r in rows(train) if (train == torch.tensor(r)).all(1).sum() > 1}
    assert rows(seen[0]) | rows(seen[1]) <= rows(train)  # all of it is training data
    assert rows(seen[0]) & rows(seen[1]) <= duplicated  # no image went to both ranks
