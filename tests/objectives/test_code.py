"""InfoGAN's categorical code (``code_categories``): what the generator sees, Q's head on the
critic's features, the loss against a hand computation, the loop's use of it, refusals, and
exact resume."""

import math
from functools import partial

import pytest
import torch
import torch.nn.functional as F
from lightning.pytorch import seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn
from torch.nn.utils import parametrize

from lit_gan import GAN
from lit_gan.data import RingOfGaussians
from lit_gan.networks import CodedCritic, CodedGenerator, DCGANCritic, DiffAugment, MLPCritic, MLPGenerator, ResNetCritic
from lit_gan.networks.code import latent_code
from lit_gan.objectives import losses
from tests.conftest import cpu_trainer, tiny_networks
from tests.objectives.test_resume import _data


class Recorder(nn.Module):
    def forward(self, z):
        self.seen = z
        return z.sum(1)


def test_the_generator_sees_the_code_as_a_one_hot_in_place_of_the_first_entries():
    z = torch.tensor([[0.1, 2.0, -1.0, 0.5, 7.0], [3.0, -2.0, 0.0, -0.5, 8.0]])
    generator = CodedGenerator(Recorder(), categories=3)
    generator(z)
    assert torch.equal(latent_code(z, 3), torch.tensor([1, 0]))
    assert torch.equal(generator.generator.seen, torch.tensor([[0.0, 1.0, 0.0, 0.5, 7.0], [1.0, 0.0, 0.0, -0.5, 8.0]]))


def test_the_code_of_normal_latents_is_uniform():
    counts = torch.bincount(latent_code(torch.randn(40_000, 8, generator=torch.Generator().manual_seed(0)), 4), minlength=4)
    assert (counts - 10_000).abs().max() < 400  # 4 standard deviations of a binomial(40,000, 1/4)


@pytest.mark.parametrize(
    "critic,shape",
    [(partial(DCGANCritic, base_channels=8, norm="none", spectral_norm=True, extra_layers=1), (1, 28, 28)),
     (partial(MLPCritic, hidden_dims=(16, 8)), (2,)),
     (partial(ResNetCritic, channels=16), (3, 32, 32)),
     (partial(DiffAugment, critic=partial(DCGANCritic, base_channels=8, norm="none")), (1, 28, 28))],
    ids=["dcgan-sn", "mlp", "resnet-sn", "diffaugment"],
)
def test_q_reads_the_critics_last_features_and_the_score_is_unchanged(critic, shape):
    torch.manual_seed(0)
    inner = critic(shape)
    coded = CodedCritic(inner, categories=5, img_shape=shape).eval()
    x = torch.randn(4, *shape)
    scores, logits = coded.scores_and_logits(x)
    assert logits.shape == (4, 5)
    assert torch.equal(scores, inner(x)) and torch.equal(coded(x), inner(x))
    torch.testing.assert_close(logits, coded.q(inner.features(x).flatten(1)))
    normalized = any(parametrize.is_parametrized(m) for m in inner.modules())
    assert parametrize.is_parametrized(coded.q) == normalized  # Q is spectrally normalized when the critic is


def test_diffaugment_features_augment_in_training_only():
    inner = DCGANCritic((1, 28, 28), base_channels=8, norm="none")
    augmented = DiffAugment((1, 28, 28), critic=lambda shape: inner, policy=["cutout"])
    x = torch.randn(4, 1, 28, 28)
    torch.manual_seed(0)
    assert not torch.equal(augmented.train().features(x), inner.features(x))
    torch.manual_seed(0)
    cut = augmented.train().features(x)
    torch.manual_seed(0)
    from lit_gan.networks.augment import diff_augment

    torch.testing.assert_close(cut, inner.features(diff_augment(x, ["cutout"])))
    assert torch.equal(augmented.eval().features(x), inner.eval().features(x))


def test_a_critic_without_features_is_refused_naming_it():
    with pytest.raises(ValueError, match="argument `critic`.*`features` and `score`"):
        CodedCritic(nn.Sequential(nn.Flatten(), nn.Linear(2, 1)), categories=3, img_shape=(2,))


def test_info_loss_and_mutual_information_against_a_hand_computation():
    logits, code = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, -1.0]]), torch.tensor([0, 2])
    expected = -(math.log(math.exp(2) / (math.exp(2) + 2)) + math.log(math.exp(-1) / (1 + math.e + math.exp(-1)))) / 2
    assert losses.info_loss(logits, code).item() == pytest.approx(expected, rel=1e-6)
    bound = losses.mutual_information_bound(losses.info_loss(logits, code), 3)
    assert bound.item() == pytest.approx(math.log(3) - expected, rel=1e-6)
    certain = torch.tensor([[50.0, 0.0, 0.0], [0.0, 0.0, 50.0]])  # Q recovers every code: the bound is log k
    bound = losses.mutual_information_bound(losses.info_loss(certain, code), 3)
    assert bound.item() == pytest.approx(math.log(3), abs=1e-6)


def _coded_gan(**kwargs):
    return GAN(generator=partial(MLPGenerator, hidden_dims=(16,)), critic=partial(MLPCritic, hidden_dims=(16,)),
               latent_dim=5, img_shape=(2,), code_categories=3, **kwargs)


def test_both_losses_gain_info_weight_times_the_cross_entropy_of_q():
    torch.manual_seed(0)
    model = _coded_gan(info_weight=0.5)
    z = torch.randn(6, 5)
    fake = model.generator(z)
    scores, info, logs = model.score_generated(fake, z)
    logits = model.critic.q(model.critic.critic.features(fake))
    expected = F.cross_entropy(logits, z[:, :3].argmax(1))
    torch.testing.assert_close(info, 0.5 * expected)
    torch.testing.assert_close(scores, model.critic.critic(fake))
    torch.testing.assert_close(logs["mutual_info"], math.log(3) - expected.detach())
    off = GAN(generator=partial(MLPGenerator, hidden_dims=(16,)), critic=partial(MLPCritic, hidden_dims=(16,)),
              latent_dim=5, img_shape=(2,))
    assert off.score_generated(fake, z)[1] is None and off.score_generated(fake, z)[2] == {}  # nothing added


class OnlyTheCode(GAN):
    """A GAN whose generator loss is 0 but for the code's term."""

    def generator_loss(self, fake_scores, real_scores=None):
        return fake_scores.sum() * 0


@pytest.mark.parametrize("info_weight", [0.0, 1.0])
def test_the_generator_is_trained_by_the_codes_term(tmp_path, info_weight):
    seed_everything(0)
    model = OnlyTheCode(generator=partial(MLPGenerator, hidden_dims=(16,)), critic=partial(MLPCritic, hidden_dims=(16,)),
                        latent_dim=5, img_shape=(2,), code_categories=3, info_weight=info_weight)
    before = [p.detach().clone() for p in model.generator.parameters()]
    cpu_trainer(tmp_path, max_steps=2).fit(model, RingOfGaussians(batch_size=8, n_train=64))
    moved = [not torch.equal(p, b) for p, b in zip(model.generator.parameters(), before)]
    assert all(moved) if info_weight else not any(moved)  # Adam moves no weight whose gradients were all 0


def test_training_updates_q_with_the_critic_and_logs_the_bound(tmp_path):
    seed_everything(0)
    model = _coded_gan()
    q_before = model.critic.q.weight.detach().clone()
    trainer = cpu_trainer(tmp_path, max_steps=4)
    trainer.fit(model, RingOfGaussians(batch_size=8, n_train=64))
    assert not torch.equal(model.critic.q.weight, q_before)
    assert trainer.logged_metrics["train/mutual_info"].isfinite()  # logged; negative while Q guesses worse than uniform
    assert trainer.logged_metrics["train/d_loss"].isfinite()


@pytest.mark.parametrize("categories,latent_dim", [(1, 5), (5, 5), (6, 5)])
def test_a_code_outside_2_to_latent_dim_minus_1_is_refused_naming_it(categories, latent_dim):
    with pytest.raises(ValueError, match=r"argument `code_categories` to be 0 \(off\) or 2 to latent_dim - 1 \(4\)"):
        GAN(generator=MLPGenerator, critic=MLPCritic, latent_dim=latent_dim, img_shape=(2,), code_categories=categories)


@pytest.mark.parametrize("categories", [-2, 2.5])
def test_a_code_that_is_not_a_count_is_refused_naming_it(categories):
    with pytest.raises(ValueError, match=r"argument `code_categories` to be an integer >= 0"):
        GAN(generator=MLPGenerator, critic=MLPCritic, latent_dim=5, img_shape=(2,), code_categories=categories)


def _coded(n):
    adam = partial(torch.optim.Adam, lr=1e-3)
    return GAN(n_critic=2, g_optimizer=adam, d_optimizer=adam, **{**tiny_networks(), "latent_dim": 4},
               code_categories=2, ema_decay=0.7)


def test_a_resumed_run_with_a_code_ends_bit_for_bit_as_an_uninterrupted_one(tmp_path):
    n = 7
    seed_everything(0)
    uninterrupted = _coded(n)
    cpu_trainer(tmp_path, max_steps=n, limit_val_batches=2).fit(uninterrupted, _data())

    seed_everything(0)
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=3, save_top_k=-1)
    cpu_trainer(tmp_path, max_steps=3, callbacks=[ckpt], enable_checkpointing=True, limit_val_batches=2).fit(_coded(n), _data())
    (path,) = (tmp_path / "ckpt").iterdir()
    assert any(".q." in key for key in torch.load(path, weights_only=True)["state_dict"])

    seed_everything(123)
    resumed = _coded(n)
    cpu_trainer(tmp_path, max_steps=n, limit_val_batches=2).fit(resumed, _data(), ckpt_path=path)
    expected = uninterrupted.state_dict()
    for key, value in resumed.state_dict().items():
        assert torch.equal(value, expected[key]), key
