"""GradientDiagnostics: per-layer norms of the critic's parameter gradients and the mean norm of
its input gradient, logged as scalars on the generator-step axis."""

import math
from functools import partial

import pytest
import torch
from lightning.pytorch import Callback

from lit_gan import GAN, WGAN, WGANGP
from lit_gan.callbacks import GradientDiagnostics
from lit_gan.data import RingOfGaussians
from lit_gan.networks import MLPCritic, MLPGenerator
from tests.callbacks.conftest import read_events, scalars, tensorboard
from tests.conftest import cpu_trainer, tiny_networks

LAYERS = ["0_net.1", "1_net.4", "2_net.7"]  # the Linear layers of MLPCritic(hidden_dims=(16, 16))


def networks(**critic):
    return dict(tiny_networks(), critic=partial(MLPCritic, hidden_dims=(16, 16), **critic))


class RecordCriticGradients(Callback):
    """The per-layer gradient norms at every critic step, as the reference."""

    def __init__(self):
        self.norms = []

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        if optimizer is trainer.optimizers[1]:
            critic = pl_module.critic.net
            self.norms.append([torch.cat([critic[i].weight.grad.flatten(), critic[i].bias.grad]).norm().item()
                               for i in (1, 4, 7)])


@pytest.mark.parametrize("family", [WGAN, WGANGP, GAN])
def test_tags_steps_and_values(tmp_path, family):
    logger = tensorboard(tmp_path)
    reference = RecordCriticGradients()
    trainer = cpu_trainer(tmp_path, max_steps=4, logger=logger, log_every_n_steps=2,
                          callbacks=[GradientDiagnostics(n_points=16), reference])
    trainer.fit(family(n_critic=3, **networks()), RingOfGaussians(batch_size=16, n_train=256))
    logged = scalars(read_events(logger), "diagnostics/")
    expected = {f"diagnostics/critic_grad_norm/{name}" for name in LAYERS + ["total"]}
    expected |= {f"diagnostics/critic_input_grad_norm/{k}" for k in ("real", "fake", "interpolated")}
    assert set(logged) == expected
    for tag, points in logged.items():
        assert [step for step, _ in points] == [2, 4], tag  # every log_every_n_steps generator updates
        assert all(math.isfinite(v) and v >= 0 for _, v in points), tag
    # the norms of the critic update just before generator update 2 and 4: critic updates 6 and 12
    for step, critic_update in ((2, 6), (4, 12)):
        want = reference.norms[critic_update - 1]
        got = [dict(logged[f"diagnostics/critic_grad_norm/{name}"])[step] for name in LAYERS]
        assert got == pytest.approx(want, rel=1e-5)
        total = dict(logged["diagnostics/critic_grad_norm/total"])[step]
        assert total == pytest.approx(math.sqrt(sum(v * v for v in want)), rel=1e-5)


def test_input_gradient_of_a_linear_critic_is_its_weight(tmp_path):
    # f(x) = w.x + b: ||grad_x f|| = ||w|| at every point, real, fake or interpolated
    logger = tensorboard(tmp_path)
    model = WGAN(n_critic=2, **dict(tiny_networks(), critic=partial(MLPCritic, hidden_dims=())))
    cpu_trainer(tmp_path, max_steps=3, logger=logger, log_every_n_steps=3, callbacks=[GradientDiagnostics()]).fit(
        model, RingOfGaussians(batch_size=16, n_train=256)
    )
    logged = scalars(read_events(logger), "diagnostics/critic_input_grad_norm/")
    w = model.critic.net[1].weight.norm().item()  # logged after the last update: the final weights
    assert len(logged) == 3
    for points in logged.values():
        assert points[-1][0] == 3 and points[-1][1] == pytest.approx(w, rel=1e-5)


def test_every_n_steps_writes_each_value_once_at_its_own_step(tmp_path):
    """3 with log_every_n_steps 2: through pl_module.log a value would be written at Lightning's next
    write (step 4, or 6 rounded up) and again at every write after it (8, 10 ...) until the next one."""
    logger = tensorboard(tmp_path)
    cpu_trainer(tmp_path, max_steps=14, logger=logger, log_every_n_steps=2,
                callbacks=[GradientDiagnostics(every_n_steps=3, input_gradients=False)]).fit(
        WGAN(n_critic=1, **networks()), RingOfGaussians(batch_size=16, n_train=256)
    )
    logged = scalars(read_events(logger), "diagnostics/")
    assert not any("input_grad" in tag for tag in logged)  # input_gradients=False
    totals = logged["diagnostics/critic_grad_norm/total"]
    assert [s for s, _ in totals] == [3, 6, 9, 12]
    assert len({v for _, v in totals}) == 4  # four measurements, not one written again


def test_the_training_run_is_the_same_with_or_without_it(tmp_path):
    # a BatchNorm critic and generator: the diagnostic forward passes must not move running statistics
    finals = []
    for callbacks in ([GradientDiagnostics(every_n_steps=1)], []):
        torch.manual_seed(0)
        generator = partial(MLPGenerator, hidden_dims=(16,), norm="batch")
        model = GAN(n_critic=2, **dict(networks(norm="batch"), generator=generator))
        cpu_trainer(tmp_path, max_steps=4, log_every_n_steps=1, callbacks=callbacks).fit(
            model, RingOfGaussians(batch_size=16, n_train=256)
        )
        finals.append(model.state_dict())
    assert any("running_mean" in k for k in finals[0])
    assert all(torch.equal(finals[0][k], finals[1][k]) for k in finals[0])


def test_bad_arguments_are_refused():
    for kwargs in ({"every_n_steps": 0}, {"n_points": 0}):
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            GradientDiagnostics(**kwargs)


def test_a_spectrally_normalized_critic_has_the_layers_of_the_plain_one():
    from lit_gan.callbacks.gradient_diagnostics import layers

    plain, normalized = (layers(MLPCritic((2,), hidden_dims=(8, 8), spectral_norm=sn)) for sn in (False, True))
    assert list(normalized) == list(plain) == ["net.1", "net.4", "net.7"]  # weight and bias of each Linear
    assert [len(p) for p in normalized.values()] == [2, 2, 2]


def test_a_resumed_run_logs_the_values_of_an_uninterrupted_one(tmp_path):
    """The private stream of z and t is saved in the checkpoint: the input-gradient norms at generated
    and interpolated points after a resume are those of the run without a stop."""
    from lightning.pytorch import seed_everything
    from lightning.pytorch.callbacks import ModelCheckpoint

    def run(name, max_steps, **kwargs):
        seed_everything(0)
        logger = tensorboard(tmp_path / name)
        ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=2, save_top_k=-1)
        cpu_trainer(tmp_path, max_steps=max_steps, logger=logger, log_every_n_steps=1, enable_checkpointing=True,
                    callbacks=[GradientDiagnostics(every_n_steps=1, n_points=8), ckpt]).fit(
            WGANGP(n_critic=2, **networks()), RingOfGaussians(batch_size=16, n_train=256), **kwargs)
        return scalars(read_events(logger), "diagnostics/critic_input_grad_norm/")

    straight = run("straight", 4)
    resumed = run("resumed", 4, ckpt_path=tmp_path / "ckpt" / "epoch=0-step=2.ckpt")
    for tag in ("fake", "interpolated"):
        key = f"diagnostics/critic_input_grad_norm/{tag}"
        assert [s for s, _ in resumed[key]] == [3, 4] and resumed[key] == straight[key][2:], tag
