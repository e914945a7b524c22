"""Resuming restores the random states saved in the checkpoint (as plain data), after
on_fit_start, so latents, t and the next data order continue from where the run stopped; a
resumed run ends with exactly the weights of an uninterrupted one.
"""

from functools import partial

import pytest
import torch
from lightning.pytorch import seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint

from lit_gan import FGAN, WGANGP
from lit_gan.data import RingOfGaussians
from lit_gan.errors import ConfigError
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

    from lit_gan.checkpoints import rng_states, set_rng_states

    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    states = rng_states()
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.manual_seed(2), np.random.seed(2), random.seed(2)
    set_rng_states(states)
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1])
    assert random.random() == expected[2]


def _model(n, family=WGANGP, **kwargs):
    adam = partial(torch.optim.Adam, lr=1e-3)
    decay = partial(torch.optim.lr_scheduler.LinearLR, start_factor=1.0, end_factor=0.1, total_iters=n)
    return family(n_critic=2, g_optimizer=adam, d_optimizer=adam, g_scheduler=decay, **tiny_networks(), **kwargs)


def _data():
    return RingOfGaussians(batch_size=8, n_train=64, n_val=16)  # 8 batches, 4 generator updates per epoch


@pytest.mark.parametrize("saved", ["every_k_steps", "when_fit_stops"])
@pytest.mark.parametrize("k", [3, 4, 5], ids=["mid-epoch", "end-of-epoch", "next-epoch"])
@pytest.mark.parametrize("family", [WGANGP, partial(FGAN, divergence="kl")], ids=["wgan_gp", "fgan"])
def test_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path, k, family, saved):
    n = 7
    kwargs = dict(limit_val_batches=2)  # validation at each epoch's end draws latents too
    seed_everything(0)
    uninterrupted = _model(n, family)
    cpu_trainer(tmp_path, max_steps=n, **kwargs).fit(uninterrupted, _data())

    seed_everything(0)
    # when_fit_stops: Lightning's default, written as the epoch ends, which max_steps ends early;
    # its loop state counts that epoch as processed although it goes on with it when resumed
    every = dict(every_n_train_steps=k) if saved == "every_k_steps" else {}
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", **every)  # keeps the newest only
    cpu_trainer(tmp_path, max_steps=k, callbacks=[ckpt], enable_checkpointing=True, **kwargs).fit(_model(n, family), _data())
    (path,) = (tmp_path / "ckpt").iterdir()
    assert path.name.endswith(f"step={k}.ckpt")

    seed_everything(123)  # what the restore must undo
    resumed = _model(n, family)
    trainer = cpu_trainer(tmp_path, max_steps=n, **kwargs)
    trainer.fit(resumed, _data(), ckpt_path=path)
    assert trainer.global_step == n and resumed.critic_steps == uninterrupted.critic_steps == 2 * n
    expected = uninterrupted.state_dict()
    for key, value in resumed.state_dict().items():
        assert torch.equal(value, expected[key]), key  # bit for bit
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(1e-3 * 0.1)


@pytest.mark.parametrize("first,then", [(8, 4), (4, 8)], ids=["smaller", "larger"])
def test_the_data_position_counts_on_at_another_batch_size(tmp_path, first, then):
    """48 of the 64 samples in batches of ``first``, then resumed at batch size ``then`` (as with
    another number of processes): the rest of the epoch is the last 16 samples of its permutation, in
    order (a larger size ended the epoch early: Lightning counted the batches of the old size), and
    the next checkpoint says the 64 were used (the stream is at permutation 1)."""
    def data(batch_size):
        return RingOfGaussians(batch_size=batch_size, n_train=64, n_val=16)

    seed_everything(0)
    k = 48 // first // 2  # generator updates, n_critic 2
    ckpt = ModelCheckpoint(dirpath=tmp_path / "first", every_n_train_steps=k, save_top_k=-1)
    cpu_trainer(tmp_path, max_steps=k, callbacks=[ckpt], enable_checkpointing=True).fit(_model(20), data(first))
    (path,) = (tmp_path / "first").iterdir()
    saved = {"seed": 0, "epoch": 0, "samples": 48, "into": 48, "loop_epoch": 0}  # permutation 0's first 48, epoch 0's
    assert torch.load(path, weights_only=True)["RingOfGaussians"]["order"] == saved

    seen = []

    class Record(WGANGP):
        def training_step(self, batch, batch_idx):
            seen.append((self.trainer.current_epoch, batch[0].clone()))
            return super().training_step(batch, batch_idx)

    end = k + 16 // then // 2  # the epoch's last generator update
    ckpt = ModelCheckpoint(dirpath=tmp_path / "second", every_n_train_steps=end, save_top_k=-1)
    resumed = data(then)
    cpu_trainer(tmp_path, max_steps=end, callbacks=[ckpt], enable_checkpointing=True).fit(
        Record(n_critic=2, **tiny_networks()), resumed, ckpt_path=path)
    (path,) = (tmp_path / "second").iterdir()
    saved = {"seed": 0, "epoch": 1, "samples": 0, "into": 64, "loop_epoch": 0}  # permutation 0 used up, at epoch 0's end
    assert torch.load(path, weights_only=True)["RingOfGaussians"]["order"] == saved
    order = list(resumed._order.__class__(resumed.train_dataloader().dataset, seed=0, num_replicas=1))
    assert [epoch for epoch, _ in seen] == [0] * (16 // then // 2)  # iterations of n_critic 2
    assert torch.equal(torch.cat([x for _, x in seen]), resumed.train_dataloader().dataset.tensors[0][order[48:]])


def test_resuming_does_not_write_the_checkpoint_it_resumed_from_again(tmp_path):
    """Lightning does not save the step it last saved at: a resumed run must not write epoch=0-step=3.ckpt
    again over the one it resumed from (with n_critic 2 it did, while a batch was one critic update)."""
    seed_everything(0)
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=3, save_top_k=-1)
    cpu_trainer(tmp_path, max_steps=3, callbacks=[ckpt], enable_checkpointing=True).fit(_model(7), _data())
    path = tmp_path / "ckpt" / "epoch=0-step=3.ckpt"
    before = path.read_bytes()
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=3, save_top_k=-1)
    cpu_trainer(tmp_path, max_steps=6, callbacks=[ckpt], enable_checkpointing=True).fit(_model(7), _data(), ckpt_path=path)
    assert path.read_bytes() == before
    assert torch.load(tmp_path / "ckpt" / "epoch=1-step=6.ckpt", weights_only=True)["global_step"] == 6


def _as_written_before_2026_12_07(saved, n_critic, phase=0):
    """The checkpoint an earlier lit-gan wrote at the same point (a batch was one critic update): the critic's
    count (``phase`` critic updates into the next iteration), and the data position as its epoch's samples."""
    old = dict(saved)
    old["critic_steps"] = saved["global_step"] * n_critic + phase
    order = saved["RingOfGaussians"]["order"]
    assert order["epoch"] == order["loop_epoch"] == 0  # in epoch 0, where its samples are the stream's
    old["RingOfGaussians"] = {"order": {k: order[k] for k in ("seed", "epoch", "samples")}}
    return old


def test_a_checkpoint_of_an_earlier_lit_gan_resumes_exactly_at_an_iterations_end_and_is_refused_inside_one(tmp_path):
    seed_everything(0)
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=2, save_top_k=-1)
    cpu_trainer(tmp_path, max_steps=2, callbacks=[ckpt], enable_checkpointing=True).fit(_model(3), _data())
    path = tmp_path / "ckpt" / "epoch=0-step=2.ckpt"
    saved = torch.load(path, weights_only=True)
    torch.save(_as_written_before_2026_12_07(saved, n_critic=2), tmp_path / "old.ckpt")
    ends = []
    for resume_from in (path, tmp_path / "old.ckpt"):
        model = _model(3)
        cpu_trainer(tmp_path, max_steps=3).fit(model, _data(), ckpt_path=resume_from)
        ends.append(model.state_dict())
    assert all(torch.equal(ends[0][k], ends[1][k]) for k in ends[0])  # bit for bit

    torch.save(_as_written_before_2026_12_07(saved, n_critic=2, phase=1), tmp_path / "inside.ckpt")
    with pytest.raises(ConfigError, match=r"inside.ckpt was written by an earlier lit-gan after critic update 1 of 2 of a"
                                          r" generator iteration.*start a new fit from its weights"):
        cpu_trainer(tmp_path, max_steps=3).fit(_model(3), _data(), ckpt_path=tmp_path / "inside.ckpt")
