"""The shared training loop: n_critic, step semantics, logging axis, checkpoints, sampling."""

import csv
from functools import partial

import pytest
import torch
from lightning.pytorch import Callback
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from lit_gan import FGAN, GAN, WGAN, WGANGP
from lit_gan.data import RingOfGaussians
from tests.conftest import cpu_trainer, tiny_networks


class CountSteps(Callback):
    """Counts optimizer steps per network by hooking the optimizers themselves."""

    def on_fit_start(self, trainer, pl_module):
        self.counts = {"generator": 0, "critic": 0}
        self.order = []
        g_opt, d_opt = trainer.optimizers
        for name, opt in (("generator", g_opt), ("critic", d_opt)):
            opt.register_step_post_hook(partial(self._count, name))

    def _count(self, name, *_):
        self.counts[name] += 1
        self.order.append(name[0])


FAMILIES = [
    partial(GAN, generator_loss="minimax"),
    partial(GAN, generator_loss="non_saturating"),
    WGAN,
    WGANGP,
    partial(FGAN, divergence="kl"),
]


@pytest.mark.parametrize("family", FAMILIES)
def test_n_critic_updates_per_generator_update(tmp_path, family):
    counter = CountSteps()
    model = family(n_critic=5, **tiny_networks())
    trainer = cpu_trainer(tmp_path, max_steps=3, callbacks=[counter])
    trainer.fit(model, RingOfGaussians(batch_size=8, n_train=64, n_val=8))
    assert counter.counts == {"critic": 15, "generator": 3}
    assert "".join(counter.order) == "cccccg" * 3  # the generator moves after every 5th critic update
    assert trainer.global_step == 3  # max_steps counts generator updates
    assert model.critic_steps == 15


def test_each_critic_update_gets_a_fresh_real_batch(tmp_path):
    """One Lightning batch is one generator iteration: the n_critic real batches of batch_size, one a critic update."""
    seen, critic_reals = [], []

    class Record(Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            seen.append(batch[0].clone())

    model = WGANGP(n_critic=3, **tiny_networks())
    update = model.critic_update
    model.critic_update = lambda opt, real, labels=None: (critic_reals.append(real.clone()), update(opt, real, labels))[1]
    trainer = cpu_trainer(tmp_path, max_steps=2, callbacks=[Record()])
    trainer.fit(model, RingOfGaussians(batch_size=4, n_train=64))
    assert len(seen) == 2 and all(b.shape == (12, 2) for b in seen)  # 2 iterations of 3 x 4 points
    assert len(critic_reals) == 6 and all(r.shape == (4, 2) for r in critic_reals)
    assert torch.equal(torch.cat(critic_reals), torch.cat(seen))  # in the batch's order, each once
    assert all(not torch.equal(a, b) for i, a in enumerate(critic_reals) for b in critic_reals[i + 1 :])


def test_limit_train_batches_counts_generator_iterations(tmp_path):
    """n_critic 3 with limit_train_batches 2: 2 generator and 6 critic updates (a batch is an iteration)."""
    counter = CountSteps()
    trainer = cpu_trainer(tmp_path, max_epochs=1, limit_train_batches=2, callbacks=[counter])
    trainer.fit(WGANGP(n_critic=3, **tiny_networks()), RingOfGaussians(batch_size=4, n_train=64))
    assert counter.counts == {"critic": 6, "generator": 2} and trainer.global_step == 2


def test_logs_and_checkpoints_count_generator_updates(tmp_path):
    logger = CSVLogger(tmp_path, name="run")
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=2, save_top_k=-1)
    trainer = cpu_trainer(
        tmp_path, max_steps=4, logger=logger, log_every_n_steps=1, callbacks=[ckpt], enable_checkpointing=True
    )
    trainer.fit(WGANGP(n_critic=3, **tiny_networks()), RingOfGaussians(batch_size=4, n_train=64))
    rows = list(csv.DictReader(open(logger.log_dir + "/metrics.csv")))
    steps = sorted({int(r["step"]) for r in rows if r.get("train/g_loss")})
    assert steps == [1, 2, 3, 4]  # one point per generator update, on the generator's axis
    for key in ("train/d_loss", "train/wasserstein", "train/gradient_penalty", "train/grad_norm"):
        assert all(r[key] for r in rows if r.get("train/g_loss")), key
    names = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert names == ["epoch=0-step=2.ckpt", "epoch=0-step=4.ckpt"]
    state = torch.load(tmp_path / "ckpt" / "epoch=0-step=4.ckpt", weights_only=False)
    assert state["global_step"] == 4 and "critic_steps" not in state  # at an iteration's end: no phase to keep


def test_log_every_n_steps_counts_generator_updates_across_epochs(tmp_path):
    """Lightning counts log_every_n_steps in batches, which are generator iterations: an epoch of 2 iterations
    (64 points, 3 x 8 a batch, drop_last) logs every 5th update across epochs, as given."""
    logger = CSVLogger(tmp_path, name="run")
    trainer = cpu_trainer(tmp_path, max_steps=10, logger=logger, log_every_n_steps=5)
    trainer.fit(WGANGP(n_critic=3, **tiny_networks()), RingOfGaussians(batch_size=8, n_train=64))
    assert trainer.log_every_n_steps == 5  # as given, not rewritten
    rows = list(csv.DictReader(open(logger.log_dir + "/metrics.csv")))
    assert sorted({int(r["step"]) for r in rows if r.get("train/g_loss")}) == [5, 10]


@pytest.mark.parametrize(
    "family,key",
    [(GAN, "jsd"), (WGAN, "wasserstein"), (WGANGP, "wasserstein"), (partial(FGAN, divergence="pearson"), "divergence")],
)
def test_each_family_logs_its_estimate(tmp_path, family, key):
    trainer = cpu_trainer(tmp_path, max_steps=2, limit_val_batches=1)
    model = family(n_critic=2, **tiny_networks())
    trainer.fit(model, RingOfGaussians(batch_size=8, n_train=32))  # one epoch: validation at its end
    metrics = trainer.callback_metrics
    for name in ("train/d_loss", "train/g_loss", f"train/{key}", f"val/{key}"):
        assert name in metrics and torch.isfinite(metrics[name]), name


def test_sample_returns_data_space_samples_in_eval_mode():
    model = GAN(**{**tiny_networks(), "img_shape": (1, 8, 8)})
    model.train()
    x = model.sample(5)
    assert x.shape == (5, 1, 8, 8) and not x.requires_grad
    assert model.generator.training  # mode restored
    z = torch.randn(3, 2)
    assert torch.equal(model.sample(3, z), model.sample(3, z))


def test_a_resume_goes_on_with_whole_iterations(tmp_path):
    # stop after 2 generator updates with n_critic=3, then resume to 3: 9 critic updates in all
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=2, save_top_k=-1)
    data = RingOfGaussians(batch_size=4, n_train=64)
    cpu_trainer(tmp_path, max_steps=2, callbacks=[ckpt], enable_checkpointing=True).fit(
        WGANGP(n_critic=3, **tiny_networks()), data
    )
    counter = CountSteps()
    model = WGANGP(n_critic=3, **tiny_networks())
    cpu_trainer(tmp_path, max_steps=3, callbacks=[counter]).fit(model, data, ckpt_path=ckpt.best_model_path or ckpt.last_model_path)
    assert counter.counts == {"critic": 3, "generator": 1}
    assert model.critic_steps == 9


def test_a_stop_asked_between_log_steps_is_logged_at_its_own_step(tmp_path):
    from lightning.pytorch import Callback

    class StopAt3(Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if trainer.global_step == 3:
                trainer.should_stop = True  # Lightning writes the logs of this batch too

    logger = CSVLogger(tmp_path, name="run")
    trainer = cpu_trainer(tmp_path, max_steps=10, logger=logger, log_every_n_steps=5, callbacks=[StopAt3()])
    trainer.fit(WGANGP(n_critic=2, **tiny_networks()), RingOfGaussians(batch_size=8, n_train=64))
    rows = list(csv.DictReader(open(logger.log_dir + "/metrics.csv")))
    assert [int(r["step"]) for r in rows if r.get("train/g_loss")] == [3]  # not the step of an earlier log


def test_every_family_configures_its_fit_guard_and_a_weights_only_save_keeps_the_training_state(tmp_path):
    from lit_gan import WGAN
    from lit_gan.objectives.fit_guard import FitGuard

    model = WGAN(n_critic=2, **tiny_networks())  # a family with a callback of its own (weight clipping)
    assert {type(c).__name__ for c in model.configure_callbacks()} == {"FitGuard", "WeightClipping"}
    trainer = cpu_trainer(tmp_path, max_steps=2)
    trainer.fit(model, RingOfGaussians(batch_size=8, n_train=64))
    assert any(isinstance(c, FitGuard) for c in trainer.callbacks)
    trainer.save_checkpoint(tmp_path / "w.ckpt", weights_only=True)  # callbacks' hooks are not called for it
    saved = torch.load(tmp_path / "w.ckpt", weights_only=True)
    assert saved["lit_gan_family"] == "WGAN" and "skipped_updates" in saved


def test_training_values_are_logged_at_log_steps_and_the_last_and_shown_at_every_step(tmp_path):
    """Lightning's logging is paid only where something is written; the last step's values are in
    callback_metrics whether or not it is a log step, and the progress display reads every step's."""
    model = WGANGP(n_critic=2, **tiny_networks())
    logged, shown = [], []
    log_values = model._log_training_values
    model._log_training_values = lambda log_step: logged.append(model.trainer.global_step) or log_values(log_step)

    from lightning.pytorch import Callback

    class Shown(Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            shown.append(float(pl_module.training_values["g_loss"]))

    trainer = cpu_trainer(tmp_path, max_steps=7, log_every_n_steps=3, callbacks=[Shown()])
    trainer.fit(model, RingOfGaussians(batch_size=8, n_train=256))
    assert logged == [3, 6, 7]  # log steps 3 and 6, and the run's last
    assert float(trainer.callback_metrics["train/g_loss"]) == shown[-1] and len(shown) == 7
    assert len(set(shown)) == 7  # a new value at every step
