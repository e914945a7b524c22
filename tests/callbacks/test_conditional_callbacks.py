"""The callbacks of a class-conditional model: a grid row per class, coverage by class, the landscape
and the diagnostics with labels."""

from functools import partial

import torch
from torchvision.utils import make_grid

from lit_gan import GAN
from lit_gan.callbacks import SampleGrid
from lit_gan.cli import run_cli
from lit_gan.metrics import ModeCoverage
from lit_gan.networks import ConditionalBatchNorm2d, DCGANCritic, DCGANGenerator, Projection
from lit_gan.tensors import fixed_latents, to_unit_interval
from tests.conftest import REPO


def test_coverage_by_class_counts_a_sample_near_another_class_s_mode_as_missed():
    centers = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    metric = ModeCoverage(centers, std=0.1, by_class=True)
    samples = torch.tensor([[0.0, 0.0], [10.0, 0.0], [10.0, 0.1], [5.0, 5.0]])
    metric.update(samples, labels=torch.tensor([0, 1, 0, 1]))  # the third is at class 1's mode, drawn for class 0
    values = metric.compute()
    assert values["hq_fraction"] == 0.75 and values["class_hq_fraction"] == 0.5 and values["modes"] == 2
    plain = ModeCoverage(centers, std=0.1)
    plain.update(samples)
    assert set(plain.compute()) == {"modes", "hq_fraction"}


def test_the_grid_of_a_conditional_model_has_a_row_per_class_of_the_same_latents():
    model = GAN(generator=DCGANGenerator, critic=partial(Projection, critic=DCGANCritic), latent_dim=8,
                img_shape=(1, 16, 16), num_classes=4)
    with torch.no_grad():  # per-class biases of the conditional BatchNorms, as training would make them
        for module in model.generator.modules():
            if isinstance(module, ConditionalBatchNorm2d):
                module.bias.weight.normal_()
    callback = SampleGrid(n_samples=12, nrow=5)
    callback._z = fixed_latents(12, 8, 0)
    grid = callback.grid(model)
    z = callback._z[:3]  # 12 // 4 classes: 3 a row
    rows = [model.sample(3, z=z, labels=torch.full((3,), c)) for c in range(4)]
    expected = make_grid(to_unit_interval(torch.cat(rows), (-1.0, 1.0)), nrow=3, padding=2)
    torch.testing.assert_close(grid, expected, rtol=1e-5, atol=1e-6)  # one batch of 12 or four of 3: float order
    assert not torch.allclose(rows[0], rows[1])  # the rows differ by class


def test_a_conditional_ring_logs_its_coverage_by_class_and_draws_its_landscape_and_diagnostics(tmp_path):
    cli = run_cli(["fit", "--config", str(REPO / "configs" / "toys" / "conditional_ring.yaml"),
                   "--trainer.max_steps", "4", "--trainer.enable_progress_bar", "false",
                   "--data.init_args.n_train", "2048", "--trainer.default_root_dir", str(tmp_path),
                   "--trainer.callbacks+=lit_gan.callbacks.CriticLandscape", "--trainer.callbacks.every_n_steps=2",
                   "--trainer.callbacks+=lit_gan.callbacks.GradientDiagnostics", "--trainer.log_every_n_steps", "2"])
    metrics = cli.trainer.callback_metrics
    assert 0.0 <= float(metrics["val/class_hq_fraction"]) <= float(metrics["val/hq_fraction"]) <= 1.0
    assert cli.model.num_classes == 8 and cli.datamodule.num_classes == 8
    assert any(k.startswith("critic.") and "embed" in k for k in cli.model.state_dict())


def test_sample_writer_draws_the_classes_asked_for(tmp_path):
    import numpy as np
    import pytest

    from lit_gan.callbacks import SampleWriter
    from lit_gan.errors import ConfigError

    model = GAN(generator=DCGANGenerator, critic=partial(Projection, critic=DCGANCritic), latent_dim=8,
                img_shape=(1, 16, 16), num_classes=4)
    with torch.no_grad():
        for module in model.generator.modules():
            if isinstance(module, ConditionalBatchNorm2d):
                module.bias.weight.normal_()
    writer = SampleWriter(dirpath=str(tmp_path / "sevens"), num_samples=6, batch_size=4, classes=[3, 1], seed=2)
    writer.setup(None, model, "predict")
    assert writer.write(model) is None
    saved = np.load(tmp_path / "sevens" / "samples.npz")
    assert saved["labels"].tolist() == [3, 1, 3, 1, 3, 1]
    expected = model.sample(6, z=fixed_latents(6, 8, 2), labels=torch.tensor([3, 1, 3, 1, 3, 1]))
    torch.testing.assert_close(torch.from_numpy(saved["samples"]), expected, rtol=1e-5, atol=1e-6)
    every = SampleWriter(dirpath=str(tmp_path / "all"), num_samples=5)
    assert every.labels(model).tolist() == [0, 1, 2, 3, 0]  # without classes: each in turn
    with pytest.raises(ConfigError, match=r"Expected argument `classes` to be class indices in 0\.\.3, got \[4\]"):
        SampleWriter(dirpath=str(tmp_path / "x"), classes=[4]).setup(None, model, "predict")
    unconditional = GAN(generator=DCGANGenerator, critic=DCGANCritic, latent_dim=8, img_shape=(1, 16, 16))
    with pytest.raises(ConfigError, match=r"Expected argument `classes` to be left out: the model is not class-conditional"):
        SampleWriter(dirpath=str(tmp_path / "y"), classes=[1]).setup(None, unconditional, "predict")
    with pytest.raises(ValueError, match=r"`classes` to be a list of class indices >= 0, got \[-1\]"):
        SampleWriter(classes=[-1])
