"""FID, IS and KID through torch-fidelity's Inception v3, with a local state dict of random values;
where the weights are looked for, and the error when they are missing."""

import os
import shutil
import urllib.error

import pytest
import torch
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
from torchmetrics.image.fid import FrechetInceptionDistance

import lit_gan.metrics.inception as inception
from lit_gan.errors import ConfigError
from lit_gan.metrics import (
    FrechetDistance,
    InceptionFeatures,
    InceptionScore,
    InceptionWeightsNotFoundError,
    KernelDistance,
    PrecomputedFeatures,
)


@pytest.fixture(scope="module")
def extractor(inception_weights) -> InceptionFeatures:
    with pytest.warns(UserWarning, match="not the standard FID weights"):  # random values: another sha256
        return InceptionFeatures(weights_path=str(inception_weights))


@pytest.fixture(scope="module")
def extractor64(inception_weights) -> InceptionFeatures:
    """64 features: the whole network still runs (to the logits), the FID statistics are cheap."""
    with pytest.warns(UserWarning, match="not the standard FID weights"):
        return InceptionFeatures(feature=64, weights_path=str(inception_weights))


def images(n: int, seed: int, channels: int = 1, low: int = 0, high: int = 256) -> torch.Tensor:
    return torch.randint(low, high, (n, channels, 16, 16), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def test_grayscale_goes_in_as_three_equal_channels_of_uint8(extractor, inception_weights):
    gray = images(2, seed=0)
    features, logits = extractor.extract(gray)
    assert features.shape == (2, 2048) and logits.shape == (2, 1008)
    reference = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                            feature_extractor_weights_path=str(inception_weights))
    ref_features, ref_logits = reference(gray.repeat(1, 3, 1, 1))
    assert torch.equal(features, ref_features) and torch.equal(logits, ref_logits)  # bit-identical to torch-fidelity's
    # images in [-1, 1] are quantized to the same uint8 values first
    float_features, _ = extractor.extract(gray.float() / 127.5 - 1)
    torch.testing.assert_close(float_features, features)
    assert features.std() > 0.1  # the random weights keep activations of order 1: the values mean something
    assert not extractor.training and not any(p.requires_grad for p in extractor.parameters())
    assert not extractor.train().training  # always in eval mode
    with pytest.raises(ValueError, match="Expected argument `images`"):
        extractor.extract(images(1, seed=1, channels=2))


def test_on_the_cpu_the_network_runs_on_a_few_images_at_a_time_with_the_same_values(extractor, inception_weights):
    batch = images(10, seed=2, channels=3)
    sizes = []
    hook = extractor.net.register_forward_pre_hook(lambda module, args: sizes.append(len(args[0])))
    try:
        features, logits = extractor.extract(batch)  # the default: 4 at a time
        extractor.cpu_batch_size = None
        whole_features, whole_logits = extractor.extract(batch)
    finally:
        extractor.cpu_batch_size = 4
        hook.remove()
    assert sizes == [4, 4, 2, 10]
    assert features.shape == (10, 2048) and logits.shape == (10, 1008)
    # the same values, in the same order (the rows differ from image to image, so a mix-up would show)
    assert (whole_features[1:] - whole_features[:-1]).abs().amax() > 0.1
    torch.testing.assert_close(features, whole_features, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(logits, whole_logits, rtol=1e-5, atol=1e-4)
    assert extractor.identity()["forward"] == "4 images at a time"  # a cache key of its own: not the whole batch's
    extractor.cpu_batch_size = None
    assert extractor.identity()["forward"] == "whole batches"
    extractor.cpu_batch_size = 4
    with pytest.raises(ValueError, match="Expected argument `cpu_batch_size` to be an integer >= 1, got 0"):
        InceptionFeatures(weights_path=str(inception_weights), check_hash=False, cpu_batch_size=0)


def test_fid_is_kid_through_inception(extractor64, inception_weights):
    real, fake = images(4, seed=2, high=128), images(4, seed=3, low=128)
    real_features, _ = extractor64.extract(real)
    fake_features, fake_logits = extractor64.extract(fake)
    assert real_features.shape == (4, 64) and fake_logits.shape == (4, 1008)

    fid = FrechetDistance(PrecomputedFeatures(64))
    fid.update(real_features, real=True)
    fid.update(fake_features, real=False)
    value = fid.compute()
    # torchmetrics' own FID, with its own Inception (same weights, torch-fidelity's resize) on the images
    theirs = FrechetInceptionDistance(feature=64, feature_extractor_weights_path=str(inception_weights), antialias=False)
    theirs.update(real.repeat(1, 3, 1, 1), real=True)
    theirs.update(fake.repeat(1, 3, 1, 1), real=False)
    assert value.item() == pytest.approx(theirs.compute().item(), rel=1e-4)  # theirs: float32 features and result
    assert value.item() > 1.0

    # the same images on both sides: FID 0
    same = FrechetDistance(PrecomputedFeatures(64))
    same.update(real_features, real=True)
    same.update(real_features, real=False)
    assert abs(same.compute().item()) < 1e-6 * value.item()

    score = InceptionScore(PrecomputedFeatures(1008), splits=2)
    score.update(fake_logits)
    is_mean, is_std = score.compute()
    assert 1.0 <= is_mean.item() <= 1008 and is_std.item() >= 0

    kid = KernelDistance(PrecomputedFeatures(64), subsets=3, subset_size=4)
    kid.update(real_features, real=True)
    kid.update(fake_features, real=False)
    kid_mean, _ = kid.compute()
    assert kid_mean.item() > 0


def test_missing_weights_file_names_the_file_its_hash_and_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(ValueError, match="Expected argument `feature`"):
        InceptionFeatures(feature=100)
    with pytest.raises(InceptionWeightsNotFoundError) as info:
        InceptionFeatures(weights_path=str(tmp_path / "nowhere.pth"))
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert "weights-inception-2015-12-05-6726825d.pth" in message and "sha256 starting with 6726825d" in message
    assert "nowhere.pth" in message and str(tmp_path / "torch" / "hub" / "checkpoints") in message


def test_failed_download_says_why_and_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    calls = []

    def no_network(url, dst, hash_prefix=None, progress=True):
        calls.append((url, dst, hash_prefix))
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(inception, "download_url_to_file", no_network)
    with pytest.raises(InceptionWeightsNotFoundError, match="the download failed .URLError.*name resolution") as info:
        InceptionFeatures()
    assert calls == [(inception.WEIGHTS_URL, str(tmp_path / "torch" / "hub" / "checkpoints" / inception.WEIGHTS_NAME), "6726825d")]
    assert "weights-inception-2015-12-05-6726825d.pth" in str(info.value) and "`weights_path`" in str(info.value)
    with pytest.raises(InceptionWeightsNotFoundError, match="`download` is false"):
        InceptionFeatures(download=False)
    assert len(calls) == 1


@pytest.mark.parametrize(
    "write", [lambda p: p.write_text("trainer: {}\n"), lambda p: torch.save({"fc.weight": torch.zeros(2)}, p)],
    ids=["yaml", "other-keys"],
)
def test_a_file_that_is_not_inception_weights_is_one_error_naming_weights_path(tmp_path, write):
    path = tmp_path / "not-inception.pth"
    write(path)
    with pytest.raises(ConfigError, match="`weights_path` .*not-inception.pth could not be loaded as Inception") as info:
        InceptionFeatures(weights_path=str(path), check_hash=False)
    assert "\n" not in str(info.value) and inception.WEIGHTS_NAME in str(info.value)


def test_weights_are_found_in_a_folder_and_in_torch_hubs_cache(tmp_path, monkeypatch, inception_weights):
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(inception_weights, folder / inception.WEIGHTS_NAME)
    assert inception.resolve_weights(str(folder)) == folder / inception.WEIGHTS_NAME
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    shutil.copy(inception_weights, cache / inception.WEIGHTS_NAME)
    monkeypatch.setattr(inception, "download_url_to_file", lambda *a, **k: pytest.fail("must not download"))
    assert inception.resolve_weights(None) == cache / inception.WEIGHTS_NAME


class RunsCode:
    """A pickle that runs ``touch marker`` when loaded with weights_only=False."""

    def __init__(self, marker) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_pickle_as_weights_path_is_refused_and_its_code_never_runs(tmp_path, inception_weights):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({**torch.load(inception_weights, weights_only=True), "payload": RunsCode(marker)}, path)
    with pytest.warns(UserWarning, match="not the standard FID weights"):  # the hash check still warns first
        with pytest.raises(ConfigError, match="refusing to load `weights_path` .*evil.pth: it holds more than tensors") as info:
            InceptionFeatures(weights_path=str(path))
    assert not marker.exists()
    assert "\n" not in str(info.value) and "GLOBAL posix.system" in str(info.value)
    assert "weights_only=False" not in str(info.value) and "`weights_only`" not in str(info.value)


@pytest.mark.parametrize("content", [[torch.zeros(2)], {"state_dict": {"fc.weight": torch.zeros(2)}}], ids=["list", "nested"])
def test_weights_that_are_not_a_plain_state_dict_are_refused_naming_weights_path(tmp_path, content):
    path = tmp_path / "not-a-state-dict.pth"
    torch.save(content, path)
    with pytest.raises(ConfigError, match="`weights_path` .*not-a-state-dict.pth could not be loaded .*not a state dict") as info:
        InceptionFeatures(weights_path=str(path), check_hash=False)
    assert "\n" not in str(info.value)
