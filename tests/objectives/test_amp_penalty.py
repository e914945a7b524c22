"""16-mixed and the penalties on the critic's input gradient (issue 39, item 4): the inner gradient is taken
at the grad scaler's scale and unscaled after, in float32 (PyTorch's AMP recipe, "Gradient penalty").

What these tests show, on the CPU (no GPU here): a critic whose input gradient is about 1e-8, below
float16's smallest number (6e-8), run in float16 (its weights and inputs in float16, and through
Lightning under CPU autocast to float16 with a CPU GradScaler, the 16-mixed plugin that a GPU run gets
with ``device="cuda"``). Without the scale the gradient underflows to exactly 0; with it, WGAN-GP's
penalty, R1 and R2 and the penalty's gradients match float32. CUDA's float16 kernels are not run.
"""

from functools import partial

import pytest
import torch
from lightning.pytorch.plugins.precision import MixedPrecision
from torch import nn

from lit_gan import GAN, WGANGP
from lit_gan.data import RingOfGaussians
from lit_gan.networks import MLPGenerator
from lit_gan.objectives.losses import gradient_penalty, input_gradient, zero_centered_gradient_penalty
from lit_gan.objectives.penalties import grad_scale, r1_r2
from tests.conftest import cpu_trainer


class QuietCritic(nn.Module):
    """x (B, *img_shape) -> score (B,) = 1e-3 * w2 . tanh(W1 x), weights of about 1e-2: its input gradient
    is about 1e-8 per entry, which a float16 backward rounds to 0 (and the 1e-3 factor alone to 6e-8)."""

    def __init__(self, img_shape, hidden: int = 32) -> None:
        super().__init__()
        self.l1, self.l2 = nn.Linear(int(torch.tensor(img_shape).prod()), hidden), nn.Linear(hidden, 1)
        with torch.no_grad():
            self.l1.weight.mul_(1e-2)
            self.l2.weight.mul_(1e-2)

    def forward(self, x):
        return 1e-3 * self.l2(torch.tanh(self.l1(x.flatten(1)))).squeeze(1)


def scaler_scale() -> torch.Tensor:
    return torch.amp.GradScaler("cpu").scale(torch.ones(()))  # its initial scale, 2**16, as a tensor


def half_copy(critic: nn.Module) -> nn.Module:
    half = QuietCritic((16,))
    half.load_state_dict(critic.state_dict())
    return half.half()


def test_an_input_gradient_that_underflows_in_float16_is_kept_at_the_scalers_scale():
    torch.manual_seed(0)
    critic, x = QuietCritic((16,)), torch.randn(8, 16)
    exact = input_gradient(critic(x.requires_grad_(True)), x)
    assert 1e-9 < exact.abs().mean() < 6e-8  # below float16's smallest subnormal
    half, x16 = half_copy(critic), x.detach().half().requires_grad_(True)
    assert torch.count_nonzero(input_gradient(half(x16), x16)) == 0  # without the scale: all underflowed
    scaled = input_gradient(half(x16), x16, scaler_scale())
    assert scaled.dtype == torch.float32
    torch.testing.assert_close(scaled, exact.detach(), rtol=1e-2, atol=1e-10)


def test_gradient_penalty_and_its_gradients_match_float32_under_the_scale():
    torch.manual_seed(0)
    critic, real, fake, t = QuietCritic((16,)), torch.randn(8, 16), torch.randn(8, 16), torch.rand(8)
    penalty, norm = gradient_penalty(critic, real, fake, t)
    penalty.backward()
    half = half_copy(critic)
    _, zero = gradient_penalty(half, real.half(), fake.half(), t)
    assert zero == 0  # without the scale the penalty sees no gradient at all
    scale = scaler_scale()
    penalty16, norm16 = gradient_penalty(half, real.half(), fake.half(), t, scale)
    (penalty16 * scale).backward()  # the outer backward at the scaler's scale too, as 16-mixed's backward
    assert norm16.item() == pytest.approx(norm.item(), rel=1e-2, abs=0)
    assert penalty16.item() == pytest.approx(penalty.item(), rel=1e-3)
    for (name, p), p16 in zip(critic.named_parameters(), half.parameters()):
        if p.grad is not None and p.grad.abs().max() > 0:
            torch.testing.assert_close(p16.grad.float() / scale, p.grad, rtol=2e-2, atol=1e-3 * p.grad.abs().max().item(),
                                       msg=lambda m: f"{name}: {m}")


def test_r1_and_r2_match_float32_under_the_scale():
    torch.manual_seed(0)
    critic, real, fake = QuietCritic((16,)), torch.randn(8, 16), torch.randn(8, 16)
    exact, _ = zero_centered_gradient_penalty(critic, real)
    half = half_copy(critic)
    _, unscaled = r1_r2(half, half, real.half(), fake.half(), 1.0, 1.0)
    assert unscaled["r1"] == 0 and unscaled["r2"] == 0
    total, logs = r1_r2(half, half, real.half(), fake.half(), 1.0, 1.0, scale=scaler_scale())
    assert logs["r1"].item() == pytest.approx(exact.item(), rel=2e-2, abs=0)
    assert total.item() == pytest.approx((logs["r1"] + logs["r2"]).item() / 2, rel=1e-6, abs=0)


def fit_logged(tmp_path, key: str = "train/grad_norm", precision_plugin=None, family=WGANGP, **kwargs) -> float:
    """``key`` logged by one update of a QuietCritic (the value at its initial weights)."""
    torch.manual_seed(0)
    model = family(generator=partial(MLPGenerator, hidden_dims=(16,)), critic=QuietCritic, latent_dim=2, img_shape=(2,),
                   **kwargs)
    trainer = cpu_trainer(tmp_path, max_steps=1, **({"plugins": [precision_plugin]} if precision_plugin else {}))
    trainer.fit(model, RingOfGaussians(batch_size=64, n_train=256, n_val=64))
    assert (grad_scale(model) is not None) == (precision_plugin is not None and precision_plugin.scaler.is_enabled())
    return trainer.callback_metrics[key].item()


def sixteen_mixed(enabled: bool = True) -> MixedPrecision:
    """16-mixed on the CPU: autocast to float16 and a CPU GradScaler (Lightning picks bf16 for "16-mixed" on a CPU)."""
    return MixedPrecision("16-mixed", "cpu", torch.amp.GradScaler("cpu", enabled=enabled))


def test_16_mixed_takes_wgan_gp_penalty_at_the_scalers_scale_through_the_loop(tmp_path):
    """16-mixed on the CPU (autocast to float16, a CPU GradScaler): the logged gradient norm is float32's;
    with the scaler disabled it underflows to 0. ``grad_scale`` finds the trainer's scaler."""
    exact = fit_logged(tmp_path)
    assert 1e-8 < exact < 1e-6
    assert fit_logged(tmp_path, precision_plugin=sixteen_mixed()) == pytest.approx(exact, rel=2e-2, abs=0)
    assert fit_logged(tmp_path, precision_plugin=sixteen_mixed(enabled=False)) == 0


def test_16_mixed_takes_r1_at_the_scalers_scale_through_the_loop(tmp_path):
    exact = fit_logged(tmp_path, "train/r1", family=GAN, r1_gamma=1.0)
    assert 1e-18 < exact < 1e-12  # ||grad||^2 of a gradient of about 1e-8 per entry
    assert fit_logged(tmp_path, "train/r1", sixteen_mixed(), family=GAN, r1_gamma=1.0) == pytest.approx(exact, rel=4e-2, abs=0)


def test_no_scale_without_a_trainer_or_a_scaler(tmp_path):
    model = WGANGP(generator=partial(MLPGenerator, hidden_dims=(16,)), critic=QuietCritic, latent_dim=2, img_shape=(2,))
    assert grad_scale(model) is None
