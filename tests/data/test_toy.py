"""Offline 2D toy data: the mixtures, their exposed centers and std, and the swiss roll."""

import math

import pytest
import torch

from lit_gan import WGANGP
from lit_gan.data import GridOfGaussians, RingOfGaussians, SwissRoll
from tests.conftest import cpu_trainer, tiny_networks


@pytest.mark.parametrize("dm,k", [(RingOfGaussians(n_modes=6, radius=3.0, std=0.1), 6), (GridOfGaussians(side=4, spacing=1.5, std=0.05), 16)])
def test_mixtures_expose_their_modes_and_std(dm, k):
    dm.setup()
    x = dm._train
    assert x.shape == (dm.n_train, 2) and dm.img_shape == (2,)
    assert dm.centers.shape == (k, 2)
    nearest = torch.cdist(x, dm.centers).min(dim=1)
    counts = torch.bincount(nearest.indices, minlength=k)
    assert (counts > 0.8 * dm.n_train / k).all()  # every mode is drawn about equally
    # within 3 std of its mode with probability 1 - exp(-9/2) in 2D
    assert (nearest.values < 3 * dm.std).float().mean().item() == pytest.approx(1 - math.exp(-4.5), abs=0.005)


def test_ring_and_grid_geometry():
    assert torch.allclose(RingOfGaussians(n_modes=4, radius=2.0).centers.norm(dim=1), torch.full((4,), 2.0))
    grid = GridOfGaussians(side=5, spacing=2.0).centers
    assert grid.min().item() == -4.0 and grid.max().item() == 4.0 and len(torch.unique(grid[:, 0])) == 5


def test_same_seed_same_points_and_held_out_differs():
    a, b = (RingOfGaussians(seed=3, n_train=100, batch_size=50) for _ in range(2))
    a.setup(), b.setup()
    assert torch.equal(a._train, b._train) and not torch.equal(a._train[:50], a._val[:50])


def test_swiss_roll_is_a_scaled_spiral():
    dm = SwissRoll(noise=0.0, scale=1.0, n_train=2000)
    dm.setup()
    r = dm._train.norm(dim=1)
    assert r.min() >= 1.5 * math.pi - 1e-4 and r.max() <= 4.5 * math.pi + 1e-4  # sklearn's t range


@pytest.mark.parametrize("make", [RingOfGaussians, GridOfGaussians, SwissRoll], ids=["ring", "grid", "swiss_roll"])
def test_fast_dev_run_on_every_toy(tmp_path, make):
    trainer = cpu_trainer(tmp_path, fast_dev_run=1)  # one batch: one generator iteration
    trainer.fit(WGANGP(n_critic=2, **tiny_networks()), make(batch_size=16, n_train=128, n_val=32))
    assert trainer.global_step == 1


@pytest.mark.parametrize(
    "kwargs,name",
    [(dict(batch_size=0), "batch_size"), (dict(std=0.0), "std"),
     (dict(batch_size=256, n_train=100), r"`batch_size` \(256\).*`n_train` \(100\)")],
)
def test_bad_toy_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        RingOfGaussians(**kwargs)


@pytest.mark.parametrize("kwargs,name", [(dict(noise=-1.0), "noise"), (dict(noise=float("nan")), "noise"),
                                         (dict(scale=0.0), "scale")])
def test_bad_swiss_roll_arguments(kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}` to be"):
        SwissRoll(**kwargs)


def test_a_negative_swiss_roll_noise_is_refused_at_parse_time(tmp_path, monkeypatch, capsys):
    from lit_gan.cli import run_cli
    from tests.conftest import REPO

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        run_cli(["fit", "--config", str(REPO / "configs" / "toy_wgan_gp.yaml"), "--data", "lit_gan.data.SwissRoll",
                 "--data.init_args.noise", "-1", "--trainer.fast_dev_run", "true"])
    assert exit_info.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and 'Parser key "data.init_args.noise"' in err[0] and "v>=0" in err[0], err
    assert not (tmp_path / "lightning_logs").exists()
