"""The non-finite guard: stop with an error naming the loss and the step, or skip and count;
a checkpoint with non-finite weights never replaces a good one."""

from functools import partial

import pytest
import torch
from lightning.pytorch import Callback
from lightning.pytorch.callbacks import ModelCheckpoint

from lit_gan import WGANGP
from lit_gan.data import RingOfGaussians
from lit_gan.errors import NonFiniteError
from lit_gan.networks import MLPCritic, MLPGenerator
from lit_gan.objectives.updates import Updater
from tests.conftest import cpu_trainer


class PoisonableCritic(MLPCritic):
    """An MLP critic whose scores turn NaN while ``poisoned`` is set."""

    poisoned = False

    def forward(self, x):
        out = super().forward(x)
        return out * float("nan") if PoisonableCritic.poisoned else out


class PoisonableWGANGP(WGANGP):
    """Poisons its critic during the critic updates listed (0-based: ``poison`` holds critic_steps values)
    and keeps the critic's weights around each poisoned one."""

    poison: set = set()

    def critic_update(self, opt, real, labels=None):
        if not self.poison:
            return super().critic_update(opt, real, labels)
        PoisonableCritic.poisoned = self.critic_steps in self.poison
        before = self.critic_state(opt)
        try:
            return super().critic_update(opt, real, labels)
        finally:
            if PoisonableCritic.poisoned:
                self.around_poison = (before, self.critic_state(opt))
            PoisonableCritic.poisoned = False

    def critic_state(self, opt):
        """The critic's weights and every tensor of its optimizer's state (Adam's moments and step counts)."""
        state = [t for p in self.critic.parameters() for t in opt.optimizer.state.get(p, {}).values()]
        return [t.detach().clone() for t in [*self.critic.parameters(), *state]]


class PoisonAll(Callback):
    """Poison the critic for every update, the critic's and the generator's."""

    def on_train_start(self, trainer, pl_module):
        PoisonableCritic.poisoned = True


class PoisonAt(Callback):
    """Poison the critic for the critic updates listed (0-based; a batch is a generator iteration of n_critic)."""

    def __init__(self, updates):
        self.updates = set(updates)

    def on_train_start(self, trainer, pl_module):
        pl_module.poison = self.updates


def model(**kwargs):
    return PoisonableWGANGP(generator=partial(MLPGenerator, hidden_dims=(16,)), critic=partial(PoisonableCritic, hidden_dims=(16,)),
                            latent_dim=2, img_shape=(2,), n_critic=2, **kwargs)


@pytest.fixture(autouse=True, params=[False, True], ids=["read-at-once", "deferred"])
def clean(request, monkeypatch):
    """Each test twice: the critic's checks read at once (the CPU's way) and deferred to the generator's
    update, guarded on the device (an accelerator's way, ``Updater.deferred``)."""
    monkeypatch.setattr(Updater, "defer", request.param)
    yield
    PoisonableCritic.poisoned = False


def test_raise_names_the_loss_and_the_step(tmp_path):
    with pytest.raises(NonFiniteError, match=r"non-finite d_loss \(nan\).*generator step 2, critic update 5") as info:
        cpu_trainer(tmp_path, max_steps=5, callbacks=[PoisonAt([4])]).fit(model(), RingOfGaussians(batch_size=8, n_train=256))
    assert str(info.value).endswith("to skip such updates")  # float32 weights: no advice about precision


def test_in_half_precision_weights_the_error_points_to_mixed_precision(tmp_path):
    with pytest.raises(NonFiniteError, match=r"generator step 0, critic update 1;.*weights are in 16-true.*16-mixed"):
        trainer = cpu_trainer(tmp_path, max_steps=2, precision="16-true", callbacks=[PoisonAt([0])])
        trainer.fit(model(), RingOfGaussians(batch_size=8, n_train=256))


def test_skip_skips_the_update_and_counts_it(tmp_path):
    m = model(on_nonfinite="skip")
    trainer = cpu_trainer(tmp_path, max_steps=4, callbacks=[PoisonAt([4])])
    trainer.fit(m, RingOfGaussians(batch_size=8, n_train=256))
    assert m.skipped_updates == 1 and trainer.global_step == 4
    before, after = m.around_poison
    assert len(before) == 4 * len(list(m.critic.parameters()))  # weights, and Adam's step, exp_avg, exp_avg_sq
    assert all(torch.equal(a, b) for a, b in zip(before, after))  # the critic and its optimizer did not move
    assert all(torch.isfinite(p).all() for p in m.parameters())
    assert trainer.callback_metrics["train/skipped_updates"] == 1


def test_a_checkpoint_with_non_finite_weights_never_replaces_a_good_one(tmp_path):
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", filename="last", every_n_train_steps=1, save_top_k=1)

    class BreakWeightsAfter(Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if trainer.global_step == 2:  # after the iteration that made generator update 2
                with torch.no_grad():
                    next(pl_module.generator.parameters()).fill_(float("inf"))

    m = model()
    with pytest.raises(NonFiniteError, match="refusing to save.*non-finite weights in generator"):
        cpu_trainer(tmp_path, max_steps=5, enable_checkpointing=True, callbacks=[BreakWeightsAfter(), ckpt]).fit(
            m, RingOfGaussians(batch_size=8, n_train=256)
        )
    saved = torch.load(tmp_path / "ckpt" / "last.ckpt", weights_only=True)
    assert saved["global_step"] == 1  # step 2 was refused: the good one of step 1 is still there, intact
    assert all(torch.isfinite(v).all() for v in saved["state_dict"].values())


def test_off_does_not_check(tmp_path):
    m = model(on_nonfinite="off")
    cpu_trainer(tmp_path, max_steps=3, callbacks=[PoisonAt([2])]).fit(m, RingOfGaussians(batch_size=8, n_train=256))
    assert not all(torch.isfinite(p).all() for p in m.critic.parameters())  # nothing stopped the NaN


def test_skip_stops_after_max_consecutive_skips_naming_the_loss(tmp_path):
    # every update non-finite: without a bound the run stays at global_step 0 until max_epochs, printing nothing
    m = model(on_nonfinite="skip", max_consecutive_skips=7)
    with pytest.raises(NonFiniteError, match=r"^7 updates in a row skipped \(`on_nonfinite: skip`\), the last for a"
                                             r" non-finite d_loss \(nan\) .* at generator step 0: training is not progressing"):
        cpu_trainer(tmp_path, max_steps=5, callbacks=[PoisonAll()]).fit(m, RingOfGaussians(batch_size=8, n_train=256))
    assert m.skipped_updates == 7
    with pytest.raises(ValueError, match="`max_consecutive_skips` to be an integer >= 1, got 0"):
        model(max_consecutive_skips=0)


class NaNGeneratorLoss(WGANGP):
    def generator_loss(self, fake_scores, real_scores=None):
        return super().generator_loss(fake_scores) * float("nan")


def test_a_non_finite_generator_loss_names_the_critic_update_it_follows(tmp_path):
    nets = dict(generator=partial(MLPGenerator, hidden_dims=(16,)), critic=partial(MLPCritic, hidden_dims=(16,)))
    with pytest.raises(NonFiniteError, match=r"non-finite g_loss \(nan\) or gradient of the MLPGenerator at generator step 0,"
                                             r" critic update 2;"):
        cpu_trainer(tmp_path, max_steps=2).fit(NaNGeneratorLoss(latent_dim=2, img_shape=(2,), n_critic=2, **nets),
                                               RingOfGaussians(batch_size=8, n_train=256))


def test_a_guarded_step_reads_the_check_where_it_could_not_put_everything_back():
    from lit_gan.objectives.updates import guarded_step

    class Mine(torch.optim.SGD):  # an optimizer of another module: its state may be anything
        pass

    weight = torch.nn.Parameter(torch.ones(3))
    weight.grad = torch.full((3,), float("nan"))
    for optimizer, why in ((Mine([weight], lr=0.1, momentum=0.9), "Mine is not one of torch.optim's optimizers"),
                           (torch.optim.SGD([weight], lr=0.1, momentum=0.9), "no state yet")):
        assert why in guarded_step(optimizer, torch.tensor(False), optimizer.step)
        assert torch.equal(weight, torch.ones(3))  # read: not finite, so not stepped
    adam = torch.optim.Adam([weight], lr=0.1)
    weight.grad = torch.ones(3)
    adam.step()  # state: step, exp_avg, exp_avg_sq, all tensors on the weights' device (the CPU)
    before = [weight.detach().clone(), *(t.clone() for t in adam.state[weight].values())]
    weight.grad = torch.full((3,), float("nan"))
    assert guarded_step(adam, torch.tensor(False), adam.step) == ""  # stepped, and put back on the device
    assert all(torch.equal(a, b) for a, b in zip(before, [weight, *adam.state[weight].values()]))
    adam.state[weight]["note"] = 1  # a value that is not a tensor: nothing could put it back
    assert "not tensors" in guarded_step(adam, torch.tensor(False), adam.step)
