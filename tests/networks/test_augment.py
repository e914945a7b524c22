"""DiffAugment (Zhao et al. 2020): each operation against what it must do, gradients through it,
the critic wrapper's train/eval behaviour, and its bad arguments."""

import pytest
import torch
import torch.nn.functional as F

from lit_gan.networks import DCGANCritic, DiffAugment
from lit_gan.networks.augment import brightness, contrast, cutout, diff_augment, saturation, translation


def _images(b=16, c=1, h=28, w=28, seed=0):
    return torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_translation_is_an_integer_shift_within_the_ratio_zero_filled():
    x = _images(b=32) + 3.0  # no pixel is 0, so the zero border is visible
    torch.manual_seed(1)
    y = translation(x, ratio=0.125)
    assert y.shape == x.shape
    s = int(28 * 0.125 + 0.5)  # 4 pixels, as in the reference
    shifts = set()
    for i in range(x.shape[0]):
        found = []
        for dy in range(-s, s + 1):
            for dx in range(-s, s + 1):
                # y[i, :, r, c] = x[i, :, r + dy, c + dx] where that exists, else 0
                padded = F.pad(x[i], [s, s, s, s])
                expected = padded[:, s + dy: s + dy + 28, s + dx: s + dx + 28]
                if torch.equal(y[i], expected):
                    found.append((dy, dx))
        assert len(found) == 1, (i, found)
        shifts.add(found[0])
    assert len(shifts) > 10  # drawn per sample, not once per batch


def test_cutout_zeroes_one_square_of_half_the_side_and_nothing_else():
    x = _images(b=32) + 3.0
    torch.manual_seed(2)
    y = cutout(x, ratio=0.5)
    for i in range(x.shape[0]):
        zero = y[i, 0] == 0
        assert torch.equal(y[i][:, ~zero], x[i][:, ~zero])  # the rest untouched
        rows, cols = zero.any(dim=1).nonzero().flatten(), zero.any(dim=0).nonzero().flatten()
        # a 14 x 14 square clipped by the image's border: a full rectangle, at most 14 on a side
        assert 1 <= len(rows) <= 14 and 1 <= len(cols) <= 14
        assert zero.sum() == len(rows) * len(cols)
        assert torch.equal(rows, torch.arange(rows[0], rows[0] + len(rows)))
        assert torch.equal(cols, torch.arange(cols[0], cols[0] + len(cols)))
    assert (y == 0).flatten(1).sum(1).float().mean() > 14 * 14 * 0.5  # mostly inside


def test_color_operations_match_their_ranges():
    x = _images(b=64, c=3)
    torch.manual_seed(3)
    shift = (brightness(x) - x).flatten(1)
    assert torch.allclose(shift, shift[:, :1].expand_as(shift), atol=1e-6)  # one offset per image
    assert shift.min() >= -0.5 and shift.max() <= 0.5 and shift[:, 0].std() > 0.2
    mean = x.mean(dim=1, keepdim=True)
    factor = ((saturation(x) - mean) / (x - mean)).flatten(1)
    assert factor.min() >= -1e-4 and factor.max() <= 2 + 1e-4
    img_mean = x.mean(dim=[1, 2, 3], keepdim=True)
    factor = ((contrast(x) - img_mean) / (x - img_mean)).flatten(1).median(dim=1).values
    assert factor.min() >= 0.5 - 1e-4 and factor.max() <= 1.5 + 1e-4
    grey = _images(b=4, c=1)
    assert torch.allclose(saturation(grey), grey, atol=1e-6)  # one channel: nothing to saturate


def test_gradients_pass_through_every_operation():
    x = _images(b=8).requires_grad_()
    torch.manual_seed(4)
    diff_augment(x, ["color", "translation", "cutout"]).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    x.grad = None
    diff_augment(x, ["translation", "cutout"]).square().sum().backward()
    assert (x.grad == 0).any() and (x.grad != 0).any()  # the cut and shifted-out pixels get none


def test_the_wrapper_augments_in_training_only():
    torch.manual_seed(0)
    critic = DiffAugment((1, 28, 28), critic=lambda shape: DCGANCritic(shape, base_channels=8, norm="none"),
                         policy=["translation", "cutout"])
    x = _images(b=8)
    critic.eval()
    assert torch.equal(critic(x), critic.critic(x))
    critic.train()
    torch.manual_seed(5)
    a = critic(x)
    torch.manual_seed(5)
    b = critic.critic(diff_augment(x, ["translation", "cutout"]))
    assert torch.equal(a, b) and not torch.equal(a, critic.critic(x))
    assert sum(p.numel() for p in critic.parameters()) == sum(p.numel() for p in critic.critic.parameters())


def test_the_wrapper_builds_its_critic_from_a_class_path_dict():
    critic = DiffAugment((1, 28, 28), critic={"class_path": "lit_gan.networks.DCGANCritic",
                                              "init_args": {"base_channels": 8}})
    assert isinstance(critic.critic, DCGANCritic) and critic.policy == ("color", "translation", "cutout")


@pytest.mark.parametrize("kwargs,key", [({"policy": ["flip"]}, "policy"), ({"policy": []}, "policy"),
                                        ({"policy": ["cutout", "cutout"]}, "policy"),
                                        ({"policy": ("color", "translation", "color")}, "policy"),
                                        ({"img_shape": (2,)}, "img_shape")])
def test_bad_arguments_are_named(kwargs, key):
    args = {"img_shape": (1, 28, 28), "critic": DCGANCritic, **kwargs}
    with pytest.raises(ValueError, match=f"`{key}`"):
        DiffAugment(**args)


def _augmented_quickstart(tmp_path):
    """configs/quickstart_mnist.yaml with its critic wrapped in DiffAugment, on a small CSV of digits."""
    import yaml

    from tests.conftest import REPO
    from tests.data.test_mnist5k import write_csv

    config = yaml.safe_load((REPO / "configs" / "quickstart_mnist.yaml").read_text())
    inner = config["model"]["init_args"]["critic"]
    config["model"]["init_args"]["critic"] = {
        "class_path": "lit_gan.networks.DiffAugment", "init_args": {"critic": inner, "policy": ["translation", "cutout"]}}
    config["data"]["init_args"].update(path=str(write_csv(tmp_path / "digits.csv.gz")), batch_size=4, num_workers=0)
    config["trainer"]["callbacks"] = []
    path = tmp_path / "augmented.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_cli_trains_and_reloads_an_augmented_critic(tmp_path, monkeypatch):
    from lit_gan import GAN
    from lit_gan.cli import run_cli

    monkeypatch.chdir(tmp_path)
    cli = run_cli(["fit", "--config", str(_augmented_quickstart(tmp_path)), "--trainer.max_steps", "2",
                   "--trainer.limit_val_batches", "1", "--trainer.enable_progress_bar", "false"])
    augmented = cli.model.critic.critic  # the quickstart's code_categories wraps the critic in CodedCritic
    assert cli.trainer.global_step == 2 and isinstance(augmented, DiffAugment)
    ckpt = next(tmp_path.glob("lightning_logs/version_0/checkpoints/*.ckpt"))
    model = GAN.load_from_checkpoint(ckpt, weights_only=True)  # the nested class_path is plain data
    assert model.critic.critic.policy == ("translation", "cutout") and isinstance(model.critic.critic.critic, DCGANCritic)
    for key, value in cli.model.critic.state_dict().items():
        assert torch.equal(model.critic.state_dict()[key], value), key


def test_a_bad_policy_is_refused_at_parse_time_naming_the_key(tmp_path, monkeypatch, capsys):
    from lit_gan.cli import run_cli

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        run_cli(["fit", "--config", str(_augmented_quickstart(tmp_path)), "--model.init_args.critic.init_args.policy=[flip]"])
    assert exit_info.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and 'Parser key "model.init_args.critic.init_args.policy"' in err[0], err
    assert not (tmp_path / "lightning_logs").exists()


def test_a_repeated_policy_name_is_refused_in_one_line_before_training(tmp_path, monkeypatch, capsys):
    from lit_gan.cli import run_cli

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        run_cli(["fit", "--config", str(_augmented_quickstart(tmp_path)),
                 "--model.init_args.critic.init_args.policy=[cutout, cutout]"])
    assert exit_info.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "`policy` to be a non-empty list of distinct names" in err[0], err
    assert "['cutout', 'cutout']" in err[0] and not (tmp_path / "lightning_logs").exists()
