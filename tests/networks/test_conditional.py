"""Class-conditional networks: conditional BatchNorm and the projection term against hand
computations, labels that change the output, shapes, wrappers passing labels through, refusals,
unchanged state dicts of the unconditional generators, and specs."""

import io
from functools import partial

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from lit_gan.networks import (
    CodedCritic,
    CodedGenerator,
    ConditionalBatchNorm2d,
    DCGANCritic,
    DCGANGenerator,
    DiffAugment,
    LabelConcat,
    LabelConcatCritic,
    MLPCritic,
    MLPGenerator,
    Projection,
    ResNetCritic,
    ResNetGenerator,
)
from lit_gan.specs import from_spec, to_spec

K = 3


def _randomize_conditional_norms(net: nn.Module, seed: int = 0) -> nn.Module:
    """Gains 1 and biases 0 ignore the label: draw them apart, as training would."""
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, ConditionalBatchNorm2d):
            with torch.no_grad():
                m.gain.weight.copy_(1 + 0.5 * torch.randn(m.gain.weight.shape, generator=g))
                m.bias.weight.copy_(0.5 * torch.randn(m.bias.weight.shape, generator=g))
    return net


def test_conditional_batch_norm_against_a_hand_computation():
    torch.manual_seed(0)
    cbn = ConditionalBatchNorm2d(2, K)
    assert torch.equal(cbn.gain.weight, torch.ones(K, 2)) and torch.equal(cbn.bias.weight, torch.zeros(K, 2))
    assert not any(isinstance(p, nn.Parameter) for p in (cbn.bn.weight, cbn.bn.bias))  # BN without affine
    gain = torch.tensor([[1.0, 2.0], [-1.0, 0.5], [3.0, 0.0]])
    bias = torch.tensor([[0.0, 1.0], [2.0, -2.0], [0.5, 0.5]])
    with torch.no_grad():
        cbn.gain.weight.copy_(gain), cbn.bias.weight.copy_(bias)
    x, y = torch.randn(6, 2, 3, 3) * 2 + 1, torch.tensor([0, 1, 2, 2, 1, 0])

    cbn.train()
    out = cbn(x, y)
    mean, var = x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False)
    normed = (x - mean[:, None, None]) / torch.sqrt(var[:, None, None] + 1e-5)
    expected = gain[y][:, :, None, None] * normed + bias[y][:, :, None, None]
    torch.testing.assert_close(out, expected)
    # the running statistics move by momentum 0.1 (the unbiased variance, as BatchNorm2d's)
    torch.testing.assert_close(cbn.bn.running_mean, 0.1 * mean)
    torch.testing.assert_close(cbn.bn.running_var, 0.9 + 0.1 * x.var(dim=(0, 2, 3), unbiased=True))

    cbn.eval()
    x2 = torch.randn(4, 2, 3, 3)
    y2 = torch.tensor([2, 0, 1, 2])
    rm, rv = cbn.bn.running_mean[:, None, None], cbn.bn.running_var[:, None, None]
    expected = gain[y2][:, :, None, None] * (x2 - rm) / torch.sqrt(rv + 1e-5) + bias[y2][:, :, None, None]
    torch.testing.assert_close(cbn(x2, y2), expected)


def test_the_projection_term_against_a_hand_computation():
    torch.manual_seed(0)
    critic = Projection((2,), partial(MLPCritic, hidden_dims=(8, 5)), num_classes=K)
    assert critic.embed.weight.shape == (K, 5)  # the width of the inner critic's last features
    bound = (6 / (K + 5)) ** 0.5  # Xavier uniform
    assert critic.embed.weight.abs().max() <= bound and critic.embed.weight.abs().max() > bound / 2
    v = torch.arange(15.0).view(K, 5) / 10 - 0.7
    with torch.no_grad():
        critic.embed.weight.copy_(v)
    x, y = torch.randn(4, 2), torch.tensor([0, 2, 1, 2])
    phi = critic.critic.features(x)  # (4, 5)
    expected = torch.stack([sum(v[y[i], j] * phi[i, j] for j in range(5)) for i in range(4)])
    torch.testing.assert_close(critic(x, y) - critic.critic(x), expected)
    torch.testing.assert_close(critic.score(critic.features(x), y), critic(x, y))
    assert torch.equal(critic.features(x), phi)
    # a convolutional critic: the features (B, C, s0, s0) are flattened
    dcgan = Projection((1, 28, 28), partial(DCGANCritic, base_channels=8), num_classes=K)
    assert dcgan.embed.weight.shape == (K, 16 * 7 * 7)


def test_a_spectrally_normalized_embedding_has_largest_singular_value_one():
    torch.manual_seed(0)
    critic = Projection((2,), partial(MLPCritic, hidden_dims=(8,)), num_classes=4, spectral_norm=True)
    assert parametrize.is_parametrized(critic.embed, "weight")
    with torch.no_grad():
        for _ in range(10):  # one power iteration per training-mode forward
            critic.train()(torch.randn(8, 2), torch.randint(0, 4, (8,)))
    critic.eval()
    sigma = torch.linalg.matrix_norm(critic.embed.weight, 2)
    raw = torch.linalg.matrix_norm(critic.embed.parametrizations.weight.original, 2)
    assert abs(sigma - 1) < 0.05 and abs(raw - 1) > 0.2


def conditional_networks() -> dict:
    """name -> (network, input shape); every one tiny."""
    torch.manual_seed(0)
    mlp_g, dcgan_g = partial(MLPGenerator, hidden_dims=(16,), tanh=True), partial(DCGANGenerator, base_channels=8)
    mlp_c, dcgan_c = partial(MLPCritic, hidden_dims=(16,)), partial(DCGANCritic, base_channels=8)
    mnist, cifar = (1, 28, 28), (3, 32, 32)
    randomized = _randomize_conditional_norms
    return {
        "label_concat_mlp": (LabelConcat(4, mnist, mlp_g, num_classes=K), (4,)),
        "label_concat_mlp_embed": (LabelConcat(4, (2,), mlp_g, num_classes=K, embed_dim=2), (4,)),
        "label_concat_dcgan": (LabelConcat(4, cifar, dcgan_g, num_classes=K), (4,)),
        "dcgan_g_28": (randomized(DCGANGenerator(4, mnist, 8, num_classes=K)), (4,)),
        "dcgan_g_32": (randomized(DCGANGenerator(4, cifar, 8, num_classes=K)), (4,)),
        "resnet_g_32": (randomized(ResNetGenerator(4, cifar, channels=8, num_classes=K)), (4,)),
        "projection_mlp_28": (Projection(mnist, mlp_c, num_classes=K), mnist),
        "projection_dcgan_28": (Projection(mnist, dcgan_c, num_classes=K), mnist),
        "projection_dcgan_32": (Projection(cifar, dcgan_c, num_classes=K, spectral_norm=True), cifar),
        "projection_resnet_32": (Projection(cifar, partial(ResNetCritic, channels=8), num_classes=K,
                                            spectral_norm=True), cifar),
        "projection_diffaugment": (Projection(mnist, partial(DiffAugment, critic=dcgan_c), num_classes=K), mnist),
        "diffaugment_projection": (DiffAugment(mnist, partial(Projection, critic=dcgan_c), num_classes=K), mnist),
        "label_concat_critic": (LabelConcatCritic((2,), mlp_c, num_classes=K), (2,)),
        "label_concat_critic_embed": (LabelConcatCritic((2,), mlp_c, num_classes=K, embed_dim=4), (2,)),
    }


@pytest.mark.parametrize("name", list(conditional_networks()))
def test_labels_change_the_output_and_the_same_label_gives_the_same_output(name):
    net, shape = conditional_networks()[name]
    assert net.num_classes == K
    net.eval()  # per-sample outputs: running statistics, no augmentation
    x = torch.randn(1, *shape).repeat(4, *[1] * len(shape))  # one input, four times
    y = torch.tensor([0, 1, 0, 2])
    with torch.no_grad():
        out = net(x, y)
    assert torch.allclose(out[0], out[2]), name
    assert not torch.allclose(out[0], out[1], atol=1e-4) and not torch.allclose(out[0], out[3], atol=1e-4), name
    assert not torch.allclose(out[1], out[3], atol=1e-4), name


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_shapes_of_conditional_generators_and_critics(shape):
    torch.manual_seed(0)
    generators = [
        LabelConcat(8, shape, partial(MLPGenerator, hidden_dims=(16,), tanh=True), num_classes=K),
        LabelConcat(8, shape, partial(DCGANGenerator, base_channels=8), num_classes=K, embed_dim=4),
        DCGANGenerator(8, shape, base_channels=8, num_classes=K),
    ]
    critics = [
        Projection(shape, partial(MLPCritic, hidden_dims=(16,)), num_classes=K),
        Projection(shape, partial(DCGANCritic, base_channels=8, norm="batch"), num_classes=K),
    ]
    if shape[1] == 32:
        generators.append(ResNetGenerator(8, shape, channels=8, num_classes=K))
        critics.append(Projection(shape, partial(ResNetCritic, channels=8), num_classes=K))
    y = torch.tensor([0, 1, 2, 1])
    for g in generators:
        x = g.train()(torch.randn(4, 8), y)
        assert x.shape == (4, *shape) and x.abs().max() <= 1, type(g).__name__
        for c in critics:
            assert c.train()(x, y).shape == (4,), type(c.critic).__name__
    flat = LabelConcatCritic((784,), partial(MLPCritic, hidden_dims=(16,)), num_classes=K)
    assert flat(torch.randn(4, 784), y).shape == (4,)


def test_every_batch_norm_of_a_conditional_generator_is_conditional():
    builds = (partial(DCGANGenerator, 4, (3, 32, 32), 8, extra_layers=1), partial(ResNetGenerator, 4, (3, 32, 32), 8))
    for build in builds:
        plain, conditional = build(), build(num_classes=K)
        n = sum(isinstance(m, nn.BatchNorm2d) for m in plain.modules())
        norms = [m for m in conditional.modules() if isinstance(m, ConditionalBatchNorm2d)]
        assert n > 0 and len(norms) == n and all(m.num_classes == K for m in norms)
        assert not any(isinstance(m, nn.BatchNorm2d) and m.affine for m in conditional.modules())
        assert plain.num_classes == 0 and conditional.num_classes == K


class Recorder(nn.Module):
    def __init__(self, latent_dim, img_shape):
        super().__init__()
        self.latent_dim = latent_dim

    def forward(self, z):
        self.seen = z
        return z.sum(1)


def test_label_concat_feeds_the_inner_generator_z_and_the_label_code():
    z, y = torch.randn(3, 4), torch.tensor([2, 0, 1])
    one_hot = LabelConcat(4, (2,), Recorder, num_classes=K)
    assert one_hot.generator.latent_dim == 4 + K and one_hot.embed is None
    one_hot(z, y)
    assert torch.equal(one_hot.generator.seen, torch.cat([z, torch.eye(K)[y]], dim=1))
    embedded = LabelConcat(4, (2,), Recorder, num_classes=K, embed_dim=5)
    assert embedded.generator.latent_dim == 9
    embedded(z, y)
    assert torch.equal(embedded.generator.seen, torch.cat([z, embedded.embed.weight[y]], dim=1))
    mlp = LabelConcat(4, (2,), partial(MLPGenerator, hidden_dims=(8,)), num_classes=K)
    assert mlp.generator.net[0].in_features == 4 + K
    dcgan = LabelConcat(4, (1, 28, 28), {"class_path": "lit_gan.networks.DCGANGenerator",
                                         "init_args": {"base_channels": 8}}, num_classes=K, embed_dim=6)
    assert isinstance(dcgan.generator, DCGANGenerator) and dcgan.generator.net[0].in_channels == 10
    assert dcgan.generator.num_classes == 0  # the inner generator is unconditional


def unconditional_networks() -> dict:
    return {
        "MLPGenerator": (MLPGenerator(4, (2,), hidden_dims=(8,)), (4,)),
        "MLPCritic": (MLPCritic((2,), hidden_dims=(8,)), (2,)),
        "DCGANGenerator": (DCGANGenerator(4, (1, 28, 28), 8), (4,)),
        "DCGANCritic": (DCGANCritic((1, 28, 28), 8), (1, 28, 28)),
        "ResNetGenerator": (ResNetGenerator(4, (3, 32, 32), 8), (4,)),
        "ResNetCritic": (ResNetCritic((3, 32, 32), 8), (3, 32, 32)),
        "DiffAugment": (DiffAugment((1, 28, 28), partial(DCGANCritic, base_channels=8)), (1, 28, 28)),
        "CodedGenerator": (CodedGenerator(MLPGenerator(4, (2,), hidden_dims=(8,)), 2), (4,)),
        "CodedCritic": (CodedCritic(MLPCritic((2,), hidden_dims=(8,)), 2, (2,)), (2,)),
    }


@pytest.mark.parametrize("name", list(unconditional_networks()))
def test_unconditional_networks_take_none_and_refuse_labels_in_one_line(name):
    net, shape = unconditional_networks()[name]
    assert net.num_classes == 0
    x = torch.randn(2, *shape)
    net.eval()
    assert torch.equal(net(x, None), net(x))
    refused = rf"^`{name}` is not conditional \(num_classes 0\): it got class labels `y`"
    with pytest.raises(ValueError, match=refused) as info:
        net(x, torch.tensor([0, 1]))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["dcgan_g_28", "resnet_g_32", "label_concat_mlp", "projection_mlp_28",
                                  "label_concat_critic", "diffaugment_projection"])
def test_conditional_networks_refuse_missing_or_misshapen_labels_in_one_line(name):
    net, shape = conditional_networks()[name]
    x = torch.randn(2, *shape)
    for y, what in ((None, "got None"), (torch.tensor([[0], [1]]), "of shape \\(2, 1\\)"),
                    (torch.tensor([0.0, 1.0]), "torch.float32")):
        refused = rf"is conditional \(num_classes {K}\): expected class labels `y`.*{what}"
        with pytest.raises(ValueError, match=refused) as info:
            net(x, y)
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("build,name", [
    (lambda k: LabelConcat(4, (2,), MLPGenerator, num_classes=k), "LabelConcat"),
    (lambda k: Projection((2,), MLPCritic, num_classes=k), "Projection"),
    (lambda k: LabelConcatCritic((2,), MLPCritic, num_classes=k), "LabelConcatCritic"),
])
def test_wrappers_refuse_an_unconditional_model(build, name):
    with pytest.raises(ValueError, match=rf"^`{name}` needs a conditional model: set the model's `num_classes` > 0$"):
        build(0)
    with pytest.raises(ValueError, match=r"Expected argument `num_classes` to be an integer >= 0, got -1"):
        build(-1)


def test_other_refusals_name_the_argument():
    with pytest.raises(ValueError, match=r"`img_shape` to be flat \(D,\) for LabelConcatCritic.*\(1, 28, 28\).*Projec"):
        LabelConcatCritic((1, 28, 28), MLPCritic, num_classes=K)
    with pytest.raises(ValueError, match="`embed_dim` to be an integer >= 1"):
        LabelConcat(4, (2,), MLPGenerator, num_classes=K, embed_dim=0)
    with pytest.raises(ValueError, match="`critic` to have `features` and `score` methods for Projection, Recorder"):
        Projection((2,), lambda shape: Recorder(0, shape), num_classes=K)
    for bad in (-1, 1.5, True):
        for build in (partial(DCGANGenerator, 4, (1, 28, 28)), partial(ResNetGenerator, 4, (3, 32, 32), 8),
                      partial(DiffAugment, (1, 28, 28), DCGANCritic)):
            with pytest.raises(ValueError, match="`num_classes` to be an integer >= 0"):
                build(num_classes=bad)
    with pytest.raises(ValueError, match="`num_classes` to be an integer >= 1"):
        ConditionalBatchNorm2d(4, 0)


def test_wrappers_pass_labels_through_and_take_num_classes_from_the_wrapped_network():
    torch.manual_seed(0)
    calls = []

    def factory(img_shape, **kwargs):
        calls.append(kwargs)
        return DCGANCritic(img_shape, base_channels=8)

    DiffAugment((1, 28, 28), factory)
    assert calls == [{}]  # unconditional: the inner factory is called as before
    inner = partial(Projection, critic=partial(DCGANCritic, base_channels=8))
    augmented = DiffAugment((1, 28, 28), inner, num_classes=K)
    assert augmented.critic.num_classes == K and augmented.num_classes == K
    x, y = torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 2, 0])
    augmented.eval()
    assert torch.equal(augmented(x, y), augmented.critic(x, y))
    assert torch.equal(augmented.score(augmented.features(x), y), augmented.critic(x, y))

    generator = _randomize_conditional_norms(DCGANGenerator(4, (1, 28, 28), 8, num_classes=K)).eval()
    coded = CodedGenerator(generator, categories=2)
    z = torch.randn(4, 4)
    assert coded.num_classes == K
    expected = generator(torch.cat([torch.eye(2)[z[:, :2].argmax(1)], z[:, 2:]], dim=1), y)
    assert torch.equal(coded(z, y), expected) and not torch.equal(coded(z, y), coded(z, y.flip(0)))

    projection = Projection((1, 28, 28), partial(DCGANCritic, base_channels=8), num_classes=K, spectral_norm=True)
    critic = CodedCritic(projection, categories=2, img_shape=(1, 28, 28)).eval()
    assert critic.num_classes == K and parametrize.is_parametrized(critic.q, "weight")  # SN reaches Q
    scores, logits = critic.scores_and_logits(x, y)
    assert torch.equal(scores, projection(x, y)) and torch.equal(critic(x, y), scores) and logits.shape == (4, 2)


_BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
# taken from the code before conditional networks existed: old checkpoints must still load
DCGAN_28_KEYS = [
    "net.0.weight", *(f"net.1.{k}" for k in _BN), "net.3.weight", *(f"net.4.{k}" for k in _BN),
    "net.6.weight", "net.6.bias",
]
DCGAN_32_NEAREST_EXTRA_KEYS = [
    "net.0.weight", *(f"net.1.{k}" for k in _BN), "net.3.1.weight", *(f"net.4.{k}" for k in _BN), "net.6.1.weight",
    *(f"net.7.{k}" for k in _BN), "net.9.weight", *(f"net.10.{k}" for k in _BN), "net.12.1.weight", "net.12.1.bias",
]
RESNET_32_KEYS = [
    "linear.weight", "linear.bias",
    *(key for i in range(3) for key in (
        *(f"blocks.{i}.b1.{k}" for k in _BN), f"blocks.{i}.c1.weight", f"blocks.{i}.c1.bias",
        *(f"blocks.{i}.b2.{k}" for k in _BN), f"blocks.{i}.c2.weight", f"blocks.{i}.c2.bias",
        f"blocks.{i}.shortcut.weight", f"blocks.{i}.shortcut.bias",
    )),
    *(f"out.0.{k}" for k in _BN), "out.2.weight", "out.2.bias",
]


def test_the_unconditional_generators_keep_their_state_dict_keys():
    cases = [
        (DCGANGenerator(16, (1, 28, 28), base_channels=8), DCGAN_28_KEYS),
        (DCGANGenerator(16, (3, 32, 32), 8, upsampling="nearest", extra_layers=1), DCGAN_32_NEAREST_EXTRA_KEYS),
        (ResNetGenerator(16, (3, 32, 32), channels=8), RESNET_32_KEYS),
    ]
    for net, keys in cases:
        assert list(net.state_dict()) == keys
    assert tuple(cases[0][0].state_dict()["net.0.weight"].shape) == (16, 16, 7, 7)
    conditional = ResNetGenerator(16, (3, 32, 32), channels=8, num_classes=K).state_dict()
    assert "blocks.0.b1.gain.weight" in conditional and "blocks.0.b1.weight" not in conditional


def test_conditional_networks_round_trip_through_specs_and_weights_only_state_dicts():
    torch.manual_seed(0)
    factories = {
        "critic": partial(Projection, critic=partial(DCGANCritic, base_channels=8, norm="none", spectral_norm=True),
                          spectral_norm=True),
        "generator": partial(DCGANGenerator, base_channels=8),
        "label_concat": partial(LabelConcat, generator=partial(MLPGenerator, hidden_dims=(8,)), embed_dim=3),
    }
    spec = to_spec(factories)
    assert spec["critic"] == {"class_path": "lit_gan.networks.conditional.Projection", "init_args": {
        "critic": {"class_path": "lit_gan.networks.dcgan.DCGANCritic",
                   "init_args": {"base_channels": 8, "norm": "none", "spectral_norm": True}},
        "spectral_norm": True}}
    x, y, z = torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 2, 0]), torch.randn(4, 6)
    for name, args, inputs in (("critic", ((1, 28, 28),), (x, y)), ("generator", (6, (1, 28, 28)), (z, y)),
                               ("label_concat", (6, (2,)), (z, y))):
        original = factories[name](*args, num_classes=K)
        _randomize_conditional_norms(original, seed=1)
        original.train()(*inputs)  # move running statistics and power-iteration vectors
        buffer = io.BytesIO()
        torch.save(original.state_dict(), buffer)
        buffer.seek(0)
        rebuilt = from_spec(spec[name])(*args, num_classes=K)
        assert type(rebuilt) is type(original) and rebuilt.num_classes == K
        rebuilt.load_state_dict(torch.load(buffer, weights_only=True))
        original.eval(), rebuilt.eval()
        assert torch.equal(rebuilt(*inputs), original(*inputs)), name

