"""WGAN's weights are clipped to [-c, c] after every critic update."""

import pytest
import torch
from lightning.pytorch import Callback

from lit_gan import WGAN
from lit_gan.callbacks import WeightClipping
from lit_gan.data import RingOfGaussians
from tests.conftest import cpu_trainer, tiny_networks


class CheckAfterEveryCriticStep(Callback):
    """Registered after WeightClipping's hook, so it sees the critic as the next update will."""

    def __init__(self, c):
        self.c, self.checked, self.max_abs = c, 0, []

    def on_train_start(self, trainer, pl_module):
        trainer.optimizers[1].register_step_post_hook(lambda *_: self._check(pl_module))

    def _check(self, pl_module):
        weights = torch.cat([p.detach().flatten() for p in pl_module.critic.parameters()])
        self.max_abs.append(weights.abs().max().item())
        self.checked += 1


@pytest.mark.parametrize("c", [0.01, 0.05])
def test_every_critic_update_is_clipped(tmp_path, c):
    check = CheckAfterEveryCriticStep(c)
    model = WGAN(clip_value=c, n_critic=5, **tiny_networks())
    assert torch.cat([p.flatten() for p in model.critic.parameters()]).abs().max() > c  # not clipped at init
    cpu_trainer(tmp_path, max_steps=3, callbacks=[check]).fit(model, RingOfGaussians(batch_size=8, n_train=64))
    assert check.checked == 15
    c32 = torch.tensor(c).item()  # c as the float32 weights hold it
    assert all(m <= c32 for m in check.max_abs)
    assert check.max_abs[0] == pytest.approx(c)  # the first update was clipped: the init exceeds c


def test_wgan_always_brings_its_clipping(tmp_path):
    trainer = cpu_trainer(tmp_path, max_steps=1)
    trainer.fit(WGAN(clip_value=0.02, n_critic=1, **tiny_networks()), RingOfGaussians(batch_size=8, n_train=64))
    clips = [cb for cb in trainer.callbacks if isinstance(cb, WeightClipping)]
    assert len(clips) == 1 and clips[0].clip_value == 0.02


@pytest.mark.parametrize("c", [0.0, -0.01])
def test_clip_value_must_be_positive(c):
    with pytest.raises(ValueError, match="clip_value"):
        WeightClipping(c)
    with pytest.raises(ValueError, match="clip_value"):
        WGAN(clip_value=c, **tiny_networks())
