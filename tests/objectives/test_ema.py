"""The generator's exponential moving average: the closed form after k updates, what samples
it draws, and exact resume."""

import pytest
import torch
from lightning.pytorch import Callback, seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint

from lit_gan import WGANGP
from lit_gan.data import RingOfGaussians
from lit_gan.objectives.ema import GeneratorEMA
from tests.conftest import cpu_trainer, tiny_networks
from tests.objectives.test_resume import _data, _model


class RecordGenerator(Callback):
    """The generator's weights after every generator update (every batch: a generator iteration)."""

    def __init__(self) -> None:
        self.weights: list[list[torch.Tensor]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.weights.append([p.detach().clone() for p in pl_module.generator.parameters()])


def test_after_k_updates_the_average_is_the_closed_form(tmp_path):
    decay, warmup, k = 0.8, 2, 6
    seed_everything(0)
    model = WGANGP(n_critic=2, ema_decay=decay, ema_warmup=warmup, **tiny_networks())
    record = RecordGenerator()
    cpu_trainer(tmp_path, max_steps=k, callbacks=[record]).fit(model, RingOfGaussians(batch_size=8, n_train=64))
    assert len(record.weights) == k
    # theta_ema = decay^(k - w) theta_w + sum_{t = w+1..k} (1 - decay) decay^(k - t) theta_t (theta_t: after update t)
    for i, averaged in enumerate(model.generator_ema.module.parameters()):
        expected = decay ** (k - warmup) * record.weights[warmup - 1][i]
        for t in range(warmup + 1, k + 1):
            expected = expected + (1 - decay) * decay ** (k - t) * record.weights[t - 1][i]
        torch.testing.assert_close(averaged, expected, rtol=1e-5, atol=1e-6)
    assert not any(p.requires_grad for p in model.generator_ema.parameters())
    assert not torch.equal(next(model.generator_ema.module.parameters()), next(model.generator.parameters()))


def test_a_constant_generator_is_its_own_average_and_buffers_are_copied():
    generator = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3))
    ema = GeneratorEMA(generator, decay=0.9)
    generator[1].running_mean.fill_(4.0)
    for step in range(1, 4):
        ema.update(generator, step)
    for averaged, current in zip(ema.module.parameters(), generator.parameters()):
        torch.testing.assert_close(averaged, current)
    assert torch.equal(ema.module[1].running_mean, torch.full((3,), 4.0))


def test_samples_come_from_the_average_when_it_is_on(tmp_path):
    seed_everything(0)
    model = WGANGP(n_critic=1, ema_decay=0.5, **tiny_networks())
    cpu_trainer(tmp_path, max_steps=3).fit(model, RingOfGaussians(batch_size=8, n_train=64))
    z = torch.randn(5, 2)
    with torch.no_grad():
        assert torch.equal(model.sample(5, z=z), model.generator_ema.module.eval()(z))
        assert not torch.equal(model.sample(5, z=z), model.generator.eval()(z))


@pytest.mark.parametrize("k", [2, 5], ids=["in-warm-up", "after-warm-up"])
def test_a_resumed_run_continues_the_same_average_bit_for_bit(tmp_path, k):
    n, ema = 7, dict(ema_decay=0.7, ema_warmup=3)
    seed_everything(0)
    uninterrupted = _model(n, **ema)
    cpu_trainer(tmp_path, max_steps=n, limit_val_batches=2).fit(uninterrupted, _data())

    seed_everything(0)
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=k, save_top_k=-1)
    cpu_trainer(tmp_path, max_steps=k, callbacks=[ckpt], enable_checkpointing=True, limit_val_batches=2).fit(_model(n, **ema), _data())
    (path,) = (tmp_path / "ckpt").iterdir()
    assert any(key.startswith("generator_ema.") for key in torch.load(path, weights_only=True)["state_dict"])

    seed_everything(123)
    resumed = _model(n, **ema)
    cpu_trainer(tmp_path, max_steps=n, limit_val_batches=2).fit(resumed, _data(), ckpt_path=path)
    expected = uninterrupted.state_dict()
    for key, value in resumed.state_dict().items():
        assert torch.equal(value, expected[key]), key
