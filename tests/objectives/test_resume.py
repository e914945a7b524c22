"""Resuming restores the random states saved in the checkpoint (as plain data), after
on_fit_start, so latents, t and the next data order continue from where the run stopped.

Not yet covered: bit-exact equality with an uninterrupted run. On restart from a checkpoint
taken at the end of an epoch, Lightning 2.6 re-enters that epoch with a fresh iterator and
runs one more batch (batch index 8 of an 8-batch epoch), which shifts every later draw.
"""

import torch
from lightning.pytorch import seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint

from lit_gan import WGANGP
from lit_gan.data import RingOfGaussians
from tests.conftest import cpu_trainer, tiny_networks


class Probe(WGANGP):
    def on_train_start(self):
        super().on_train_start()
        self.state_after_restore = torch.get_rng_state().clone()


def test_random_states_are_saved_as_plain_data_and_restored(tmp_path):
    seed_everything(0)
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=3, save_top_k=-1)
    cpu_trainer(tmp_path, max_steps=3, callbacks=[ckpt], enable_checkpointing=True).fit(
        WGANGP(n_critic=2, **tiny_networks()), RingOfGaussians(batch_size=8, n_train=64)
    )
    saved = torch.load(tmp_path / "ckpt" / "epoch=0-step=3.ckpt", weights_only=True)  # plain data
    assert set(saved["rng_states"]) == {"torch", "cuda", "numpy", "python"}

    seed_everything(123)  # a different state, which the restore must replace
    assert not torch.equal(torch.get_rng_state(), saved["rng_states"]["torch"])
    model = Probe(n_critic=2, **tiny_networks())
    cpu_trainer(tmp_path, max_steps=4).fit(
        model, RingOfGaussians(batch_size=8, n_train=64), ckpt_path=tmp_path / "ckpt" / "epoch=0-step=3.ckpt"
    )
    assert torch.equal(model.state_after_restore, saved["rng_states"]["torch"])
    assert model.critic_steps == 8


def test_restore_puts_back_every_stream():
    import random

    import numpy as np

    from lit_gan.objectives.base import rng_states, set_rng_states

    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    states = rng_states()
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.manual_seed(2), np.random.seed(2), random.seed(2)
    set_rng_states(states)
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1])
    assert random.random() == expected[2]
