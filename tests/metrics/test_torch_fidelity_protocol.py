"""IS, KID and FID on a folder equal torch-fidelity's own ``calculate_metrics`` on it (issue 18, item 7):
the same files in the same order, the same features, the same random splits and subsets."""

import numpy as np
import pytest
import torch
import torch_fidelity
from PIL import Image
from torch.utils.data import DataLoader

from lit_gan.data.samples import SampleFolder
from lit_gan.metrics import ImageQualityMetrics, InceptionFeatures, InceptionScore, KernelDistance, PrecomputedFeatures


def write_folder(folder, n, seed, shift=0):
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(n):  # unsorted names and sizes: the order is the files' sorted real paths
        pixels = np.clip(rng.integers(0, 200, (24, 24, 3)) + shift, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{(i * 7) % n:03d}.png")
    (folder / "notes.txt").write_text("not an image")
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("protocol")
    return write_folder(root / "real", 30, 0), write_folder(root / "fake", 26, 1, shift=40)


def lit_gan_values(extractor, real, fake, **kwargs):
    metric = ImageQualityMetrics(extractor, **kwargs)
    for folder, is_real in ((real, True), (fake, False)):
        for batch in DataLoader(SampleFolder(str(folder)), batch_size=64):  # torch-fidelity's batch size
            metric.update(batch, real=is_real)
    return {k: v.item() for k, v in metric.compute().items()}, metric


def test_values_equal_torch_fidelity_calculate_metrics(folders, inception_weights):
    real, fake = folders
    theirs = torch_fidelity.calculate_metrics(
        input1=str(fake), input2=str(real), cuda=False, isc=True, fid=True, kid=True, verbose=False,
        isc_splits=4, kid_subsets=7, kid_subset_size=25, feature_extractor_weights_path=str(inception_weights),
    )
    with pytest.warns(UserWarning, match="not the standard FID weights"):
        extractor = InceptionFeatures(weights_path=str(inception_weights))
    ours, metric = lit_gan_values(extractor, real, fake, is_splits=4, kid_subsets=7, kid_subset_size=25)
    assert ours["fid"] == pytest.approx(theirs["frechet_inception_distance"], rel=1e-6, abs=1e-6)
    assert ours["is"] == pytest.approx(theirs["inception_score_mean"], rel=1e-6)
    assert ours["is_std"] == pytest.approx(theirs["inception_score_std"], rel=1e-6)
    assert ours["kid"] == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-6)
    assert ours["kid_std"] == pytest.approx(theirs["kernel_inception_distance_std"], rel=1e-6)
    assert ours["kid"] > 0 and ours["is_std"] > 0  # values that the draws change
    # lit-gan's own draws (torch.randperm) give other values on the same features
    inception_score = InceptionScore(PrecomputedFeatures(1008), splits=4, draws="torch")
    kid = KernelDistance(PrecomputedFeatures(2048), subsets=7, subset_size=25, draws="torch")
    inception_score.update(torch.cat(metric.inception_score.features))
    kid.update(torch.cat(metric.kid.real_features), real=True), kid.update(torch.cat(metric.kid.fake_features), real=False)
    assert inception_score.compute()[1].item() != pytest.approx(ours["is_std"], rel=1e-6)
    assert kid.compute()[0].item() != pytest.approx(ours["kid"], rel=1e-6)


def test_the_folder_is_read_in_torch_fidelitys_order(folders):
    from torch_fidelity.utils import glob_samples_paths

    real, _ = folders
    assert SampleFolder(str(real)).files == glob_samples_paths(str(real), False, "png,jpg,jpeg", verbose=False)
    assert len(SampleFolder(str(real), limit=5)) == 5


def test_an_unknown_draw_is_refused_naming_the_argument():
    for make in (lambda: InceptionScore(PrecomputedFeatures(3), draws="numpy"),
                 lambda: KernelDistance(PrecomputedFeatures(3), draws="numpy")):
        with pytest.raises(ValueError, match="Expected argument `draws` to be one of torch-fidelity, torch, got 'numpy'"):
            make()
