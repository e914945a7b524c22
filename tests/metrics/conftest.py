"""Fixtures of the metric tests: Inception weights with random values, and a trained digit classifier."""

from pathlib import Path
from unittest import mock

import pytest
import torch
import torch_fidelity.feature_extractor_inceptionv3 as tf_inception

from tests.metrics.helpers import digits_classifier_checkpoint, one_thread


def inception_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Every key and shape of torch-fidelity's Inception v3, with random values scaled so that
    activations stay of order 1 (He-normal convolutions, BatchNorm statistics near the identity)."""
    # Build the architecture once without its weights, only to read the keys and shapes.
    with mock.patch.object(tf_inception, "load_state_dict_from_url", lambda *a, **k: None), mock.patch.object(
        tf_inception.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state_dict: None
    ):
        skeleton = tf_inception.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    rng = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in skeleton.state_dict().items():
        if not value.is_floating_point():
            state[key] = value.clone()  # num_batches_tracked
        elif key.endswith("conv.weight") or key == "fc.weight":
            fan_in = value[0].numel()
            state[key] = torch.randn(value.shape, generator=rng) * (2 / fan_in) ** 0.5
        elif key.endswith("running_var") or key.endswith("bn.weight"):
            state[key] = 0.5 + torch.rand(value.shape, generator=rng)
        else:  # biases, running means
            state[key] = 0.1 * torch.randn(value.shape, generator=rng)
    return state


@pytest.fixture(scope="package", autouse=True)
def _one_thread():
    with one_thread():
        yield


@pytest.fixture(scope="session")
def inception_weights(tmp_path_factory) -> Path:
    """A local weights file with Inception's keys and random values (no download)."""
    path = tmp_path_factory.mktemp("inception") / "random-inception.pth"
    with one_thread():
        torch.save(inception_state_dict(), path)
    return path


@pytest.fixture(scope="session")
def digits_classifier(tmp_path_factory) -> Path:
    """A Classifier trained for 3 epochs on the 8x8 digits; the path of its checkpoint."""
    return digits_classifier_checkpoint(tmp_path_factory.getbasetemp() / "digits-classifier")
