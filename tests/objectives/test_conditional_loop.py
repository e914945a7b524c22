"""Labels through the loop (issue 38, item 1): the real samples' labels reach the critic with them, the
generated ones are drawn from the latents' stream, every family trains conditionally, a resume is exact,
``sample`` draws by class, and wrong combinations are one line."""

from functools import partial

import pytest
import torch
from lightning.pytorch import seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn

from lit_gan.objectives.terms import ClassTerm
from lit_gan import FGAN, GAN, LSGAN, WGAN, WGANGP, Hinge, RpGAN
from lit_gan.data import RingOfGaussians
from lit_gan.errors import ConfigError
from lit_gan.networks import LabelConcat, MLPCritic, MLPGenerator, Projection
from tests.conftest import cpu_trainer

FAMILIES = {"gan": GAN, "lsgan": LSGAN, "wgan": WGAN, "wgan_gp": WGANGP, "hinge": Hinge,
            "rpgan": partial(RpGAN, r1_gamma=0.5, r2_gamma=0.5), "fgan": partial(FGAN, divergence="kl", gp_lambda=1.0)}


class LabelReader(nn.Module):
    """A critic that reads only y: its score is a learned value per class (x is ignored but for a zero
    term, so that input gradients exist); it records every (x, y) it scores."""

    def __init__(self, img_shape, num_classes=0):
        super().__init__()
        self.num_classes, self.value = num_classes, nn.Embedding(num_classes, 1)
        self.seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, x, y=None):
        self.seen.append((x.detach().clone(), y.clone()))
        return self.value(y).flatten() + 0.0 * x.flatten(1).sum(1)


def conditional(family=WGANGP, critic=None, **kwargs):
    generator = partial(LabelConcat, generator=partial(MLPGenerator, hidden_dims=(16,)), embed_dim=3)
    critic = critic or partial(Projection, critic=partial(MLPCritic, hidden_dims=(16,)))
    return family(generator=generator, critic=critic, img_shape=(2,), num_classes=8, n_critic=2, **{"latent_dim": 2, **kwargs})


def ring(**kwargs):
    return RingOfGaussians(batch_size=8, n_train=64, n_val=16, labelled=True, **kwargs)


@pytest.mark.parametrize("name", FAMILIES)
def test_every_family_scores_real_samples_with_their_own_labels(tmp_path, name):
    model = conditional(FAMILIES[name], critic=LabelReader)
    data = ring()
    cpu_trainer(tmp_path, max_steps=2).fit(model, data)
    seen = model.critic.seen
    assert seen and all(y.dtype == torch.long and y.shape == (len(x),) for x, y in seen)
    centers = data.centers
    # the batches of real points: each point's label is its nearest mode (std 0.02 against radius 2)
    real = [(x, y) for x, y in seen if (torch.cdist(x, centers).min(1).values < 0.2).all()]
    assert len(real) >= 4  # 2 iterations x 2 critic updates at least (gradient penalties score real points too)
    assert all(torch.equal(torch.cdist(x, centers).argmin(1), y) for x, y in real)
    # the critic's per-class values moved: the losses reached the labels
    assert not torch.equal(model.critic.value.weight, LabelReader((2,), 8).value.weight)


def test_generated_labels_are_drawn_uniformly_from_the_latents_stream():
    model = conditional()
    torch.manual_seed(0)
    labels = model.sample_labels(4000)
    assert labels.dtype == torch.long and labels.min() == 0 and labels.max() == 7
    assert (torch.bincount(labels, minlength=8).float() / 4000 - 1 / 8).abs().max() < 0.03
    torch.manual_seed(0)
    assert torch.equal(model.sample_labels(4000), labels)  # the global stream, as the latents


def test_sample_draws_the_classes_asked_for_and_fixed_latents_take_the_classes_in_turn():
    model = conditional()
    z = torch.randn(16, 2)
    per_class = model.sample(16, z=z, labels=torch.arange(16) % 8)
    assert torch.equal(model.sample(16, z=z), per_class)  # given z: classes 0..7, 0..7, and no draw
    other = model.sample(16, z=z, labels=(torch.arange(16) + 1) % 8)
    assert not torch.allclose(per_class, other)  # the label changes the sample
    state = torch.get_rng_state()
    model.sample(16, z=z)
    assert torch.equal(torch.get_rng_state(), state)  # fixed latents draw nothing from the stream


@pytest.mark.parametrize("labels, message", [
    (torch.arange(3), r"`labels` to be a LongTensor of 4 class indices, shape \(4,\), got a torch.int64 tensor of shape \(3,\)"),
    (torch.tensor([0.0, 1.0, 2.0, 3.0]), r"got a torch.float32 tensor"),
    (torch.tensor([0, 1, 2, 8]), r"class indices in 0..7, got 0..8"),
    (torch.tensor([-1, 1, 2, 3]), r"class indices in 0..7, got -1..3"),
])
def test_bad_labels_in_sample_are_one_line(labels, message):
    with pytest.raises(ValueError, match=message):
        conditional().sample(4, labels=labels)


def test_labels_for_an_unconditional_model_are_one_line():
    model = WGANGP(generator=partial(MLPGenerator, hidden_dims=(16,)), critic=partial(MLPCritic, hidden_dims=(16,)),
                   latent_dim=2, img_shape=(2,))
    with pytest.raises(ValueError, match=r"`labels` to be None: the model is not conditional \(`num_classes` 0\)"):
        model.sample(2, labels=torch.tensor([0, 1]))


def test_a_conditional_run_resumes_bit_for_bit(tmp_path):
    seed_everything(0)
    (tmp_path / "a").mkdir()
    full = conditional()
    cpu_trainer(tmp_path / "a", max_steps=6).fit(full, ring())
    seed_everything(0)
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=3, save_top_k=-1)
    cpu_trainer(tmp_path, max_steps=3, callbacks=[ckpt], enable_checkpointing=True).fit(conditional(), ring())
    resumed = conditional()
    cpu_trainer(tmp_path, max_steps=6).fit(resumed, ring(), ckpt_path=tmp_path / "ckpt" / "epoch=0-step=3.ckpt")
    for key, value in full.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], value), key


def test_a_conditional_model_on_data_without_labels_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"`num_classes` is 8, but RingOfGaussians has no class labels"):
        cpu_trainer(tmp_path, max_steps=1).fit(conditional(), RingOfGaussians(batch_size=8, n_train=64))


def test_num_classes_that_differ_from_the_data_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"`num_classes` \(8\) differs from the 5 classes of RingOfGaussians"):
        cpu_trainer(tmp_path, max_steps=1).fit(conditional(), RingOfGaussians(batch_size=8, n_train=64, n_modes=5, labelled=True))


def test_networks_that_do_not_fit_the_model_are_one_line():
    with pytest.raises(ConfigError, match=r"`generator` MLPGenerator takes no labels, and the model is conditional"
                                          r" \(`num_classes` 8\): use LabelConcat"):
        WGANGP(generator=partial(MLPGenerator, hidden_dims=(16,)), critic=partial(Projection, critic=MLPCritic),
               latent_dim=2, img_shape=(2,), num_classes=8)
    with pytest.raises(ValueError, match=r"`Projection` needs a conditional model"):
        WGANGP(generator=MLPGenerator, critic=partial(Projection, critic=MLPCritic), latent_dim=2, img_shape=(2,))
    with pytest.raises(ValueError, match=r"`num_classes` to be 0 \(unconditional\) or at least 2 classes, got 1"):
        WGANGP(generator=MLPGenerator, critic=MLPCritic, latent_dim=2, img_shape=(2,), num_classes=1)


def test_the_auxiliary_classifier_loss_is_the_cross_entropy_of_the_class_head(tmp_path):
    from lit_gan.objectives.losses import auxiliary_class_loss

    logits, labels = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]]), torch.tensor([0, 2])
    by_hand = -(logits.log_softmax(1)[0, 0] + logits.log_softmax(1)[1, 2]) / 2  # -E log P(C = c | X)
    torch.testing.assert_close(auxiliary_class_loss(logits, labels), by_hand)
    model = conditional(ac_weight=0.5)
    x, y, x2, y2 = torch.randn(6, 2), torch.randint(8, (6,)), torch.randn(4, 2), torch.randint(8, (4,))
    (term,) = [t for t in model.terms if isinstance(t, ClassTerm)]  # AC-GAN is one of the loop's pieces
    loss, logs = term.loss(model, (x, y), (x2, y2))
    expected = auxiliary_class_loss(model.critic.class_logits(x), y) + auxiliary_class_loss(model.critic.class_logits(x2), y2)
    torch.testing.assert_close(loss, 0.5 * expected)
    torch.testing.assert_close(logs["ac_loss"], expected.detach())
    head = model.critic.head.weight.detach().clone()
    cpu_trainer(tmp_path, max_steps=3).fit(model, ring())
    assert not torch.equal(model.critic.head.weight, head)  # the head is the critic's: its optimizer moved it
    assert "train/ac_loss" in model.trainer.callback_metrics
    assert not any(isinstance(t, ClassTerm) for t in conditional().terms)  # off: not in the loop at all


def test_ac_gans_critic_may_take_no_labels_its_head_reads_the_class(tmp_path):
    # AC-GAN (Odena et al. 2017): the critic's score is of x alone; the class loss on its features conditions it
    model = conditional(critic=partial(MLPCritic, hidden_dims=(16,)), ac_weight=1.0)
    assert isinstance(model.critic.critic, MLPCritic) and model.critic.num_classes == 8
    x = torch.randn(5, 2)
    assert torch.equal(model.critic(x, torch.zeros(5, dtype=torch.long)), model.critic(x, torch.full((5,), 7)))
    head = model.critic.head.weight.detach().clone()
    cpu_trainer(tmp_path, max_steps=3).fit(model, ring())
    assert not torch.equal(model.critic.head.weight, head) and torch.isfinite(model.trainer.callback_metrics["train/ac_loss"])
    with pytest.raises(ConfigError, match=r"`critic` MLPCritic takes no labels, .* or `ac_weight` > 0 \(AC-GAN's class head\)"):
        conditional(critic=partial(MLPCritic, hidden_dims=(16,)))  # without the class loss nothing would read the class


def test_an_ac_weight_without_classes_or_below_zero_is_one_line():
    with pytest.raises(ValueError, match=r"`ac_weight` \(1.0\) to come with a conditional model: set `num_classes`"):
        WGANGP(generator=MLPGenerator, critic=MLPCritic, latent_dim=2, img_shape=(2,), ac_weight=1.0)
    with pytest.raises(ValueError, match=r"`ac_weight`.*-1"):
        conditional(ac_weight=-1.0)
    with pytest.raises(ValueError, match=r"`ac_weight` \(1.0\) to be 0 with `code_categories` \(3\): AC-GAN's class head and"):
        WGANGP(generator=partial(LabelConcat, generator=MLPGenerator), critic=partial(Projection, critic=MLPCritic),
               latent_dim=4, img_shape=(2,), num_classes=8, code_categories=3, ac_weight=1.0)


class Skewed(RingOfGaussians):
    """A labelled ring whose training classes are counted 1, ..., 1, 9: class 7 is nine times as common."""

    def class_counts(self):
        return torch.tensor([1.0] * 7 + [9.0])


def test_generated_labels_follow_the_datas_class_frequencies_when_asked(tmp_path):
    model = conditional(label_frequencies="data")
    cpu_trainer(tmp_path, max_steps=1).fit(model, Skewed(batch_size=8, n_train=64, n_val=16, labelled=True))
    torch.testing.assert_close(model.label_probabilities, torch.tensor([1 / 16] * 7 + [9 / 16]))
    torch.manual_seed(0)
    drawn = torch.bincount(model.sample_labels(16000), minlength=8).float() / 16000
    assert abs(drawn[7].item() - 9 / 16) < 0.02 and (drawn[:7] - 1 / 16).abs().max() < 0.01
    data = ring()
    data.setup("fit")
    assert data.class_counts().sum() == 64 and data.class_counts().numel() == 8
    uniform = conditional()
    assert uniform.label_probabilities is None  # the default: uniform, as before (randint)


def test_label_frequencies_are_checked_in_one_line(tmp_path):
    with pytest.raises(ValueError, match=r"`label_frequencies` \(data\) to come with a conditional model"):
        WGANGP(generator=MLPGenerator, critic=MLPCritic, latent_dim=2, img_shape=(2,), label_frequencies="data")
    with pytest.raises(ValueError, match=r"`label_frequencies` to be uniform or data, got 'often'"):
        conditional(label_frequencies="often")

    class Unknown(RingOfGaussians):
        def class_counts(self):
            return None

    with pytest.raises(ConfigError, match=r"Unknown cannot count its classes \(`class_counts`\): use `uniform`"):
        cpu_trainer(tmp_path, max_steps=1).fit(conditional(label_frequencies="data"),
                                              Unknown(batch_size=8, n_train=64, n_val=16, labelled=True))


@pytest.mark.parametrize("name", FAMILIES)
def test_the_ac_loss_trains_in_every_family(tmp_path, name):
    # an option of any family (issue 38, item 2): the class head is the critic's in each, and the critic's and
    # the generator's steps both add its loss
    model = conditional(FAMILIES[name], ac_weight=0.5)
    head, generator = model.critic.head.weight.detach().clone(), [p.detach().clone() for p in model.generator.parameters()]
    cpu_trainer(tmp_path, max_steps=2).fit(model, ring())
    assert not torch.equal(model.critic.head.weight, head)
    assert any(not torch.equal(p, q) for p, q in zip(model.generator.parameters(), generator))
    assert torch.isfinite(model.trainer.callback_metrics["train/ac_loss"])


def test_infogans_code_trains_beside_the_labels(tmp_path):
    # the generator sees the code in z's first entries and the label beside z; Q guesses the code from the
    # critic's features, the critic scores (x, y): the mutual information term and the labels both train
    model = conditional(latent_dim=4, code_categories=3)
    q, embed = model.critic.q.weight.detach().clone(), model.critic.critic.embed.weight.detach().clone()
    cpu_trainer(tmp_path, max_steps=2).fit(model, ring())
    assert not torch.equal(model.critic.q.weight, q)  # Q learned the code
    assert not torch.equal(model.critic.critic.embed.weight, embed)  # the projection's class embedding learned
    assert torch.isfinite(model.trainer.callback_metrics["train/mutual_info"])
    x = model.sample(4, z=torch.zeros(4, 4), labels=torch.tensor([0, 1, 2, 3]))
    assert x.shape == (4, 2) and not torch.allclose(x[0], x[1])  # one z, other classes: other points
