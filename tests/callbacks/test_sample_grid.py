"""SampleGrid: a grid of the same latents' samples every N generator updates, in [0, 1]."""

from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger

from lit_gan import WGANGP
from lit_gan.callbacks import SampleGrid
from lit_gan.callbacks.sample_grid import to_unit_interval
from lit_gan.data import RingOfGaussians
from lit_gan.networks import MLPCritic, MLPGenerator
from tests.callbacks.conftest import TinyImages, decode, read_events, tensorboard
from tests.conftest import cpu_trainer, tiny_networks


def image_model(img_shape=(1, 8, 8)):
    return WGANGP(
        generator=partial(MLPGenerator, hidden_dims=(16,), tanh=True),
        critic=partial(MLPCritic, hidden_dims=(16,)),
        latent_dim=4, img_shape=img_shape, n_critic=2,
    )


def test_to_unit_interval_maps_the_data_range_to_0_1_and_clamps():
    x = torch.tensor([-1.5, -1.0, 0.0, 0.5, 1.0, 2.0])
    assert to_unit_interval(x, (-1, 1)).tolist() == [0.0, 0.0, 0.5, 0.75, 1.0, 1.0]
    assert to_unit_interval(torch.tensor([0.0, 127.5, 255.0]), (0, 255)).tolist() == [0.0, 0.5, 1.0]


@pytest.mark.parametrize("img_shape", [(1, 8, 8), (3, 8, 8)])
def test_grids_are_logged_every_n_steps_with_the_right_shape_and_range(tmp_path, img_shape):
    logger = tensorboard(tmp_path)
    grid = SampleGrid(every_n_steps=2, n_samples=6, nrow=3, padding=2)
    model = image_model(img_shape)
    cpu_trainer(tmp_path, max_steps=5, logger=logger, callbacks=[grid]).fit(model, TinyImages(img_shape))
    events = read_events(logger)
    images = events.Images("samples")
    assert [e.step for e in images] == [2, 4, 5]  # every 2 generator updates, and the final state
    # make_grid: 2 rows x 3 columns of 8x8 with 2 px padding around each; 1 channel repeated to RGB
    assert all((e.height, e.width) == (2 * 10 + 2, 3 * 10 + 2) for e in images)
    last = decode(images[-1])
    assert last.shape == (22, 32, 3)
    # the logged picture is the generator's samples mapped from [-1, 1] to [0, 1]
    expected = to_unit_interval(model.sample(6, z=grid._z), (-1, 1))  # (6, C, 8, 8)
    first = last[2:10, 2:10, :].astype(np.float32) / 255  # the first sample's cell of the grid
    want = expected[0].expand(3, 8, 8).permute(1, 2, 0).numpy()
    assert np.abs(first - want).max() <= 1 / 255 + 1e-6
    assert last[2:10, 2:10].std() > 0  # not a blank image


def test_the_latents_are_fixed_and_leave_the_training_rng_alone(tmp_path):
    grids = [SampleGrid(every_n_steps=1, seed=3), SampleGrid(every_n_steps=1, seed=3)]
    models = []
    for i, grid in enumerate(grids):
        torch.manual_seed(0)
        models.append(image_model())
        callbacks = [grid] if i == 0 else []
        cpu_trainer(tmp_path, max_steps=3, logger=tensorboard(tmp_path / str(i)), callbacks=callbacks).fit(
            models[-1], TinyImages()
        )
    a, b = (m.state_dict() for m in models)
    assert all(torch.equal(a[k], b[k]) for k in a)  # the same run with and without the callback
    assert torch.equal(grids[0]._z, torch.randn(64, 4, generator=torch.Generator().manual_seed(3)))


def test_switched_off_with_a_warning_on_2d_points(tmp_path):
    logger = tensorboard(tmp_path)
    with pytest.warns(UserWarning, match="SampleGrid is switched off"):
        cpu_trainer(tmp_path, max_steps=2, logger=logger, callbacks=[SampleGrid(every_n_steps=1)]).fit(
            WGANGP(n_critic=1, **tiny_networks()), RingOfGaussians(batch_size=8, n_train=64)
        )
    assert "samples" not in read_events(logger).Tags()["images"]


def test_a_logger_that_takes_no_images_gets_png_files(tmp_path):  # every logger kind: test_image_loggers.py
    logger = CSVLogger(tmp_path)
    trainer = cpu_trainer(tmp_path, max_steps=2, logger=logger, callbacks=[SampleGrid(every_n_steps=1)])
    trainer.fit(image_model(), TinyImages())
    assert sorted(p.name for p in (Path(logger.log_dir) / "images" / "samples").iterdir()) == [
        "step=000001.png", "step=000002.png"]


@pytest.mark.parametrize("kwargs", [{"every_n_steps": 0}, {"n_samples": 0}, {"value_range": (1, -1)}, {"padding": -1}])
def test_bad_arguments_are_refused(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        SampleGrid(**kwargs)
