"""CriticLandscape: critic contours with real and generated 2D points, an RGB image every N steps."""

import numpy as np
import pytest
import torch

from lit_gan import GAN, WGANGP
from lit_gan.callbacks import CriticLandscape
from lit_gan.data import RingOfGaussians
from tests.callbacks.conftest import TinyImages, decode, read_events, tensorboard
from tests.conftest import cpu_trainer, tiny_networks


@pytest.mark.parametrize("family", [WGANGP, GAN])
def test_figures_are_logged_every_n_steps_as_rgb_images(tmp_path, family):
    logger = tensorboard(tmp_path)
    landscape = CriticLandscape(every_n_steps=2, n_points=64, resolution=16, size_px=200)
    model = family(n_critic=3, **tiny_networks())
    cpu_trainer(tmp_path, max_steps=4, logger=logger, callbacks=[landscape]).fit(
        model, RingOfGaussians(batch_size=16, n_train=256)
    )
    images = read_events(logger).Images("critic_landscape")
    assert [e.step for e in images] == [2, 4]
    for event in images:
        image = decode(event)
        assert image.shape[:2] == (200, 240) and image.shape[2] in (3, 4)  # (size_px, 1.2 size_px, RGB)
        assert len(np.unique(image.reshape(-1, image.shape[2]), axis=0)) > 20  # contours and points, not blank
    assert sum(len(r) for r in landscape._real) == 64  # the first 64 real points seen in training


def test_critic_values_are_those_of_the_critic_on_the_grid(tmp_path):
    landscape = CriticLandscape(resolution=5, n_points=8)
    model = WGANGP(**tiny_networks())
    landscape.on_fit_start(cpu_trainer(tmp_path), model)
    f, fake = landscape.values(model, extent=2.0)
    assert f.shape == (5, 5) and fake.shape == (8, 2) and np.isfinite(f).all()
    # row i is y = ticks[i], column j is x = ticks[j] (matplotlib's contour convention)
    x, y = 0.0, -2.0  # column 2, row 0
    with torch.no_grad():
        want = model.critic(torch.tensor([[x, y]])).item()
    assert f[0, 2] == pytest.approx(want, abs=1e-6)
    assert model.critic.training  # the mode is restored


def test_switched_off_with_a_warning_on_images(tmp_path):
    from functools import partial

    from lit_gan.networks import MLPCritic, MLPGenerator

    logger = tensorboard(tmp_path)
    model = WGANGP(generator=partial(MLPGenerator, hidden_dims=(8,)), critic=partial(MLPCritic, hidden_dims=(8,)),
                   latent_dim=2, img_shape=(1, 8, 8), n_critic=1)
    with pytest.warns(UserWarning, match="CriticLandscape is switched off"):
        trainer = cpu_trainer(tmp_path, max_steps=2, logger=logger, callbacks=[CriticLandscape(every_n_steps=1)])
        trainer.fit(model, TinyImages())
    assert "critic_landscape" not in read_events(logger).Tags()["images"]


BAD = [{"every_n_steps": 0}, {"n_points": 1}, {"resolution": 1}, {"extent": 0.0}, {"size_px": 10}]


@pytest.mark.parametrize("kwargs", BAD)
def test_bad_arguments_are_refused(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        CriticLandscape(**kwargs)
