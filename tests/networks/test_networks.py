"""Networks: shapes for every supported image size, output ranges, and refused sizes."""

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from lit_gan.networks import DCGANCritic, DCGANGenerator, MLPCritic, MLPGenerator


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 28, 28), (1, 32, 32), (3, 32, 32), (1, 64, 64), (3, 64, 64), (1, 8, 8)])
@pytest.mark.parametrize("norm", ["layer", "none", "batch"])
def test_dcgan_produces_and_scores_every_supported_size(shape, norm):
    g, c = DCGANGenerator(16, shape, base_channels=8), DCGANCritic(shape, base_channels=8, norm=norm)
    x = g(torch.randn(4, 16))
    assert x.shape == (4, *shape)
    assert x.min() >= -1 and x.max() <= 1  # tanh: the data's [-1, 1]
    assert c(x).shape == (4,)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (3, 64, 64)])
def test_resize_convolution_generator_sizes_and_no_checkerboard_at_the_start(shape):
    from benchmarks.dots import periodic_shares

    g = DCGANGenerator(16, shape, base_channels=8, upsampling="nearest")
    x = g(torch.randn(4, 16))
    assert x.shape == (4, *shape) and x.min() >= -1 and x.max() <= 1
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in g.net[3:])  # only the first layer (z -> s0 x s0)
    if shape[1] == 28:  # the share of power at period 2 of untrained samples, 8 seeds
        shares = {}
        for upsampling in ("transposed", "nearest"):
            torch.manual_seed(0)
            nets = [DCGANGenerator(32, shape, base_channels=16, upsampling=upsampling) for _ in range(8)]
            with torch.no_grad():
                shares[upsampling] = [periodic_shares(n(torch.randn(64, 32)))["p2"] for n in nets]
        assert max(shares["nearest"]) < 0.02 < min(shares["transposed"]), shares


def test_dcgan_generator_refuses_an_unknown_upsampling():
    with pytest.raises(ValueError, match="`upsampling`.*'nearest', 'transposed'.*'bilinear'"):
        DCGANGenerator(16, (1, 28, 28), upsampling="bilinear")


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_dcgan_extra_layers_add_stride_1_convolutions_at_half_the_side(shape):
    # WGAN's n_extra_layers: 3x3 convolutions of base_channels at side/2, last in G, first in D
    half = shape[1] // 2
    for extra in (0, 2):
        g = DCGANGenerator(16, shape, base_channels=8, upsampling="nearest", extra_layers=extra)
        d = DCGANCritic(shape, base_channels=8, norm="batch", spectral_norm=False, extra_layers=extra)
        sides = {}

        def hook(module, inputs, output):
            sides[module] = output.shape

        stride_1 = [m for m in [*g.modules(), *d.modules()] if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)
                    and m.in_channels == m.out_channels == 8]
        for m in stride_1:
            m.register_forward_hook(hook)
        x = g(torch.randn(4, 16))
        assert x.shape == (4, *shape) and d(x).shape == (4,)
        assert len(stride_1) == 2 * extra and all(s == (4, 8, half, half) for s in sides.values()) and len(sides) == 2 * extra
        doublings = {28: 2, 32: 3}[shape[1]]
        assert sum(isinstance(m, nn.BatchNorm2d) for m in g.modules()) == doublings + extra  # one per hidden layer
        assert sum(isinstance(m, nn.BatchNorm2d) for m in d.modules()) == doublings - 1 + extra
    for extra in (0, 1):  # spectral normalization reaches the extra convolutions too
        critic = DCGANCritic(shape, 8, norm="none", spectral_norm=True, extra_layers=extra)
        convs = [m for m in critic.modules() if isinstance(m, nn.Conv2d)]
        assert len(convs) == {28: 3, 32: 4}[shape[1]] + extra and all(parametrize.is_parametrized(m, "weight") for m in convs)
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="`extra_layers` to be an integer >= 0"):
            DCGANGenerator(16, shape, extra_layers=bad)
        with pytest.raises(ValueError, match="`extra_layers` to be an integer >= 0"):
            DCGANCritic(shape, extra_layers=bad)


def test_gradient_penalty_critics_are_per_sample():
    # "layer" and "none" have no batch coupling: one sample's score ignores the rest of the batch
    for critic in (DCGANCritic((3, 32, 32), 8, norm="layer"), DCGANCritic((3, 32, 32), 8, norm="none"), MLPCritic((2,), norm="layer")):
        critic.train()
        shape = (5, 3, 32, 32) if isinstance(critic, DCGANCritic) else (5, 2)
        x = torch.randn(shape)
        assert torch.allclose(critic(x)[:1], critic(x[:1]), atol=1e-5)
        assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in critic.modules())


@pytest.mark.parametrize("shape", [(3, 30, 30), (1, 28, 32), (2, 32, 32), (3, 4, 4), (784,)])
def test_dcgan_refuses_sizes_it_cannot_produce(shape):
    with pytest.raises(ValueError, match=r"img_shape.*" + str(tuple(shape)).replace("(", r"\(").replace(")", r"\)")):
        DCGANGenerator(16, shape)
    if shape[0] == 2:  # a critic reads any channels (a packed one, lit_gan.networks.Packed, m times the data's)
        assert DCGANCritic(shape)(torch.zeros(1, *shape)).shape == (1,)
        return
    with pytest.raises(ValueError, match="img_shape"):
        DCGANCritic(shape)


def test_mlp_shapes_for_toy_data_and_flattened_images():
    assert MLPGenerator(2, (2,))(torch.randn(7, 2)).shape == (7, 2)
    g = MLPGenerator(10, (1, 8, 8), hidden_dims=(32,), tanh=True)
    x = g(torch.randn(3, 10))
    assert x.shape == (3, 1, 8, 8) and x.abs().max() <= 1
    assert MLPCritic((1, 8, 8), hidden_dims=(32,), norm="batch")(x).shape == (3,)


@pytest.mark.parametrize("kwargs,name", [(dict(latent_dim=0), "latent_dim"), (dict(hidden_dims=(8, 0)), "hidden_dims")])
def test_mlp_refuses_non_positive_sizes(kwargs, name):
    with pytest.raises(ValueError, match=name):
        MLPGenerator(**{"latent_dim": 2, "img_shape": (2,), **kwargs})
