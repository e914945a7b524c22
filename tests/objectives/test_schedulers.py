"""Learning-rate schedulers: stepped once per generator update, saved and restored with checkpoints."""

from functools import partial

import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from lit_gan import WGANGP
from lit_gan.data import RingOfGaussians
from lit_gan.errors import ConfigError
from tests.conftest import cpu_trainer, tiny_networks

LINEAR = partial(torch.optim.lr_scheduler.LinearLR, start_factor=1.0, end_factor=0.0, total_iters=4)


def model(**kwargs):
    adam = partial(torch.optim.Adam, lr=1e-3)
    return WGANGP(n_critic=3, g_optimizer=adam, d_optimizer=adam, **tiny_networks(), **kwargs)


def data():
    return RingOfGaussians(batch_size=4, n_train=64, n_val=8)


def test_both_schedulers_step_once_per_generator_update(tmp_path):
    trainer = cpu_trainer(tmp_path, max_steps=3)
    trainer.fit(model(g_scheduler=LINEAR, d_scheduler=partial(LINEAR, total_iters=6)), data())
    g_opt, d_opt = trainer.optimizers
    # 3 generator updates (9 critic updates): 1 - 3/4 and 1 - 3/6 of the initial rate
    assert g_opt.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.25)
    assert d_opt.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.5)


def test_only_the_scheduled_optimizer_changes(tmp_path):
    trainer = cpu_trainer(tmp_path, max_steps=2)
    trainer.fit(model(d_scheduler=LINEAR), data())
    g_opt, d_opt = trainer.optimizers
    assert g_opt.param_groups[0]["lr"] == pytest.approx(1e-3)
    assert d_opt.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.5)


def test_scheduler_state_resumes_from_a_checkpoint(tmp_path):
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=2, save_top_k=-1)
    cpu_trainer(tmp_path, max_steps=2, callbacks=[ckpt], enable_checkpointing=True).fit(model(g_scheduler=LINEAR), data())
    state = torch.load(tmp_path / "ckpt" / "epoch=0-step=2.ckpt", weights_only=True)
    assert state["lr_schedulers"][0]["last_epoch"] == 2
    trainer = cpu_trainer(tmp_path, max_steps=3)
    trainer.fit(model(g_scheduler=LINEAR), data(), ckpt_path=tmp_path / "ckpt" / "epoch=0-step=2.ckpt")
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(1e-3 * 0.25)  # 3 steps in all, not 1


def test_reduce_on_plateau_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="`g_scheduler`: ReduceLROnPlateau"):
        cpu_trainer(tmp_path, max_steps=1).fit(model(g_scheduler=torch.optim.lr_scheduler.ReduceLROnPlateau), data())
