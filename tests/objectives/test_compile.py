"""`lit_gan.callbacks.Compile` and `ChannelsLast` (issue 39, item 3), on the CPU.

Compiled with a recording backend, which notes which tensors a compiled graph was called with (so that no
test passes with the networks run eagerly) and then hands the graph to ``aot_eager``: AOTAutograd's forward
and backward graphs, the part of inductor that refuses a double backward, run by eager kernels. Inductor
works here too (gcc) but takes about 25 s to compile even a tiny generator: not tested. One thread: tiny
networks on two threads mostly wait for each other (ten times slower on a busy machine).
"""

import copy
import tempfile
from functools import partial
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch import Trainer
from torch._dynamo.backends.registry import lookup_backend

from lit_gan import FGAN, GAN, LSGAN, WGAN, WGANGP, Hinge, RpGAN
from lit_gan.callbacks import ChannelsLast, Compile
from lit_gan.data import DigitsDataModule
from lit_gan.errors import ConfigError
from lit_gan.networks import DCGANCritic, DCGANGenerator, MLPCritic, MLPGenerator, ResNetCritic, ResNetGenerator
from lit_gan.objectives import losses
from lit_gan.objectives.compiling import compile_in_place, double_backward, to_channels_last
from tests.conftest import cpu_trainer

# SGD: a difference in the weights is one in the gradients (Adam's first step, lr * sign(g), would turn the
# rounding noise of a zero gradient, a bias before BatchNorm's, into a full step)
SGD = partial(torch.optim.SGD, lr=0.05)
AOT = "lit_gan_recording_aot"
COMPILED: set[int] = set()  # data_ptr of every tensor a compiled graph was called with


def _recording(gm, example_inputs):
    COMPILED.update(t.data_ptr() for t in example_inputs if isinstance(t, torch.Tensor))
    return lookup_backend("aot_eager")(gm, example_inputs)


if AOT not in torch.compiler.list_backends(exclude_tags=()):
    torch._dynamo.register_backend(name=AOT, compiler_fn=_recording)


@pytest.fixture(autouse=True)
def _fresh_compiler_on_one_thread():
    torch.compiler.reset()  # no cache of another test's graphs, no recompile limit reached
    COMPILED.clear()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: a second thread only waits (on a busy machine, for long)
    yield
    torch.set_num_threads(threads)
    torch.compiler.reset()


def compiled(network: torch.nn.Module) -> bool:
    """Whether ``network``'s parameters were inputs of a compiled graph."""
    return any(p.data_ptr() in COMPILED for p in network.parameters())


def model(family, spectral_norm: bool = False, **kwargs):
    torch.manual_seed(0)
    return family(generator=partial(DCGANGenerator, base_channels=4),
                  critic=partial(DCGANCritic, base_channels=4, norm="none", spectral_norm=spectral_norm),
                  latent_dim=4, img_shape=(1, 8, 8), n_critic=2, g_optimizer=SGD, d_optimizer=SGD, **kwargs)


def fit(gan, callbacks=(), steps: int = 1):
    trainer = cpu_trainer(tempfile.mkdtemp(), max_steps=steps, callbacks=list(callbacks))
    trainer.fit(gan, DigitsDataModule(batch_size=8))
    return gan


def assert_same_weights(a, b, atol: float = 1e-5):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)  # compiled in place: no `_orig_mod.` keys; channels_last: the same keys
    for key in sa:
        torch.testing.assert_close(sb[key], sa[key], atol=atol, rtol=1e-4, msg=lambda m: f"{key}: {m}")


FAMILIES = {  # every family whose critic compiles (no penalty on its input gradient)
    "gan": (GAN, {}), "hinge_sn": (Hinge, {"spectral_norm": True}), "lsgan": (LSGAN, {}), "wgan_clip": (WGAN, {}),
    "rpgan": (RpGAN, {}), "fgan_pearson": (FGAN, {"divergence": "pearson"}),
}


@pytest.mark.parametrize("name", FAMILIES)
def test_compiled_generator_and_critic_train_as_eager_ones(name):
    family, kwargs = FAMILIES[name]
    eager = fit(model(family, **kwargs))
    gan = model(family, **kwargs)
    fit(gan, [Compile(backend=AOT)])
    assert compiled(gan.generator) and compiled(gan.critic)
    assert_same_weights(eager, gan)


def test_a_critic_with_a_gradient_penalty_stays_eager_with_one_warning_line():
    eager = fit(model(WGANGP))
    gan = model(WGANGP)
    with pytest.warns(UserWarning) as caught:
        fit(gan, [Compile(backend=AOT)])
    [line] = [str(w.message) for w in caught if "Compile" in str(w.message)]
    assert line == ("Compile: the critic stays eager, only the generator is compiled: WGANGP with gp_lambda 10 differentiates"
                    " the critic's input gradient again (a double backward), which torch.compile cannot do")
    assert compiled(gan.generator) and not compiled(gan.critic)
    assert_same_weights(eager, gan)


@pytest.mark.parametrize("family,kwargs,reason", [
    (WGANGP, {}, "gp_lambda 10"), (FGAN, {"gp_lambda": 1.0}, "gp_lambda 1"), (RpGAN, {"r1_gamma": 0.5}, "r1_gamma 0.5"),
    (GAN, {"r1_gamma": 1.0, "r2_gamma": 2.0}, "r1_gamma 1, r2_gamma 2"),
], ids=["wgan_gp", "fgan_gp", "rpgan_r1", "gan_r1_r2"])
def test_every_double_backward_is_named(family, kwargs, reason):
    gan = model(family, **kwargs)
    assert ", ".join(double_backward(gan)) == reason
    with pytest.warns(UserWarning, match=f"{family.__name__} with {reason} differentiates"):
        Compile(backend=AOT).on_fit_start(None, gan)
    assert getattr(gan.generator, "_lit_gan_compiled", False) and not getattr(gan.critic, "_lit_gan_compiled", False)
    assert not double_backward(model(FGAN)) and not double_backward(model(WGAN))  # f-GAN's penalty is off by default


def test_networks_generator_compiles_the_generator_only_and_a_checkpoint_loads_eagerly(tmp_path):
    gan = model(GAN)
    trainer = Trainer(accelerator="cpu", max_steps=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
                      default_root_dir=tmp_path, callbacks=[Compile(networks="generator", backend=AOT)])
    trainer.fit(gan, DigitsDataModule(batch_size=8))
    assert compiled(gan.generator) and not compiled(gan.critic)
    [path] = tmp_path.rglob("*.ckpt")
    loaded = GAN.load_from_checkpoint(path)  # an eager model: the keys are the eager ones
    assert_same_weights(gan, loaded, atol=0)


def test_channels_last_trains_as_contiguous_and_feeds_nhwc_images():
    eager = fit(model(Hinge, spectral_norm=True))
    gan = model(Hinge, spectral_norm=True)
    seen = []
    gan.critic.net[0].register_forward_pre_hook(lambda m, args: seen.append(args[0].is_contiguous(memory_format=torch.channels_last)))
    fit(gan, [ChannelsLast()])
    assert seen and all(seen)
    weights = [p for net in (gan.generator, gan.critic) for p in net.parameters() if p.dim() == 4]
    assert weights and all(p.is_contiguous(memory_format=torch.channels_last) for p in weights)
    assert_same_weights(eager, gan)


def test_channels_last_gives_a_resumed_optimizer_state_its_parameters_strides():
    gan = model(Hinge, spectral_norm=True)
    optimizer = torch.optim.Adam(gan.critic.parameters())
    for p in gan.critic.parameters():
        p.grad = torch.ones_like(p)
    optimizer.step()  # state of contiguous parameters, as a run without the callback saves it
    ChannelsLast().setup(None, gan, "fit")
    ChannelsLast().on_train_start(SimpleNamespace(optimizers=[optimizer]), gan)
    for p, state in optimizer.state.items():
        assert all(v.stride() == p.stride() for v in state.values() if v.shape == p.shape)
        assert torch.equal(state["exp_avg"], torch.full_like(p, 0.1))  # the values kept


def test_sngan_resnets_in_channels_last_and_compiled_give_eager_values_and_gradients():
    """SNGAN's ResNets (nearest upsampling, average pooling, residual sums, spectral normalization's power
    iteration) in channels_last and compiled, directly on the modules: the same scores, gradients and buffers."""
    torch.manual_seed(0)
    nets = [ResNetGenerator(4, (1, 32, 32), channels=8), ResNetCritic((1, 32, 32), channels=8)]
    fast = [copy.deepcopy(net) for net in nets]
    for net in fast:
        assert to_channels_last(net) and compile_in_place(net, backend=AOT)
        assert not to_channels_last(net) and not compile_in_place(net, backend=AOT)  # once
    z, real = torch.randn(4, 4), torch.rand(4, 1, 32, 32) * 2 - 1
    for generator, critic in (nets, fast):
        losses.hinge_critic_loss(critic(real), critic(generator(z))).backward()
    assert all(compiled(net) for net in fast)
    for net, other in zip(nets, fast):
        assert_same_weights(net, other)
        for (name, p), q in zip(net.named_parameters(), other.parameters()):
            torch.testing.assert_close(q.grad, p.grad, atol=1e-5, rtol=1e-4, msg=lambda m: f"{name}.grad: {m}")


def test_bad_settings_are_one_line():
    with pytest.raises(ValueError, match=r"^Expected argument `backend` to be one of \[.*'eager', 'inductor'.*\] or another of"
                                         r" torch.compiler.list_backends\(exclude_tags=\(\)\), got 'fast'$"):
        Compile(backend="fast")
    with pytest.raises(ValueError, match=r"^Expected argument `mode` to be None or, with backend 'inductor', one of"
                                         r" \['default', .*\], got 'fastest' with backend 'inductor'$"):
        Compile(mode="fastest")
    with pytest.raises(ValueError, match=r"with backend 'inductor', one of .* got 'default' with backend 'eager'$"):
        Compile(backend="eager", mode="default")
    with pytest.raises(ValueError, match=r"^Expected argument `networks` to be one of \['generator', 'both'\], got 'critic'$"):
        Compile(networks="critic")
    mlp = GAN(generator=partial(MLPGenerator, hidden_dims=(8,)), critic=partial(MLPCritic, hidden_dims=(8,)), latent_dim=2)
    with pytest.raises(ConfigError, match=r"^ChannelsLast: neither the generator \(MLPGenerator\) nor the critic \(MLPCritic\)"
                                          r" has a convolution: remove the callback$"):
        ChannelsLast().setup(None, mlp, "fit")
