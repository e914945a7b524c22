"""The gradient penalty: per-sample t and per-sample norm, against independent computations."""

import pytest
import torch
from torch import nn

from lit_gan.networks import DCGANCritic
from lit_gan.objectives.losses import gradient_penalty


def test_penalty_of_a_quadratic_critic_matches_the_closed_form():
    # f(x) = ||x||^2 / 2 has grad f(x_hat) = x_hat, so ||grad|| = ||x_hat_i|| per sample.
    real, fake = torch.randn(6, 3, 4, 4), torch.randn(6, 3, 4, 4)
    torch.manual_seed(1)
    penalty, mean_norm = gradient_penalty(lambda x: 0.5 * x.pow(2).flatten(1).sum(1), real, fake)
    torch.manual_seed(1)
    t = torch.rand(6)  # one t per sample, drawn like the implementation does
    x_hat = t[:, None, None, None] * real + (1 - t[:, None, None, None]) * fake
    norms = torch.tensor([x_hat[i].flatten().norm().item() for i in range(6)])
    assert penalty.item() == pytest.approx(((norms - 1) ** 2).mean().item(), rel=1e-5)
    assert mean_norm.item() == pytest.approx(norms.mean().item(), rel=1e-5)


def test_t_is_drawn_per_sample():
    # With x = 1 and G(z) = 0, x_hat = t, and the gradient of f(x) = ||x||^2 / 2 is t itself.
    seen = {}

    def critic(x):
        seen["x_hat"] = x.detach().clone()
        return 0.5 * x.pow(2).flatten(1).sum(1)

    gradient_penalty(critic, torch.ones(64, 2, 3), torch.zeros(64, 2, 3))
    t = seen["x_hat"]
    assert torch.equal(t, t[:, :1, :1].expand_as(t))  # one t within a sample
    assert t[:, 0, 0].unique().numel() == 64  # a different t for every sample
    assert 0 <= t.min() and t.max() <= 1


def test_penalty_of_a_network_matches_per_sample_autograd_and_reaches_parameters():
    torch.manual_seed(0)
    critic = DCGANCritic((1, 8, 8), base_channels=4, norm="layer")
    real, fake = torch.randn(5, 1, 8, 8), torch.randn(5, 1, 8, 8)
    torch.manual_seed(3)
    penalty, _ = gradient_penalty(critic, real, fake)
    torch.manual_seed(3)
    t = torch.rand(5, 1, 1, 1)
    expected = 0.0
    for i in range(5):  # one sample at a time: no batch coupling can hide here
        x = (t[i] * real[i] + (1 - t[i]) * fake[i])[None].requires_grad_(True)
        (g,) = torch.autograd.grad(critic(x).sum(), x)
        expected += (g.norm() - 1) ** 2 / 5
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-4)
    penalty.backward()  # create_graph=True: the penalty trains the critic
    weights = [p for name, p in critic.named_parameters() if name.endswith("weight")]  # biases shift f, not its gradient
    assert all(p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0 for p in weights)


def test_penalty_leaves_inputs_without_gradients():
    real, fake = torch.randn(4, 2, requires_grad=True), torch.randn(4, 2, requires_grad=True)
    penalty, _ = gradient_penalty(nn.Linear(2, 1), real, fake)
    penalty.backward()
    assert real.grad is None and fake.grad is None
