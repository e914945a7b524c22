"""A folder is read as torch-fidelity reads it, and the IS and KID draws (issue 18, item 7); the values
equal ``torch_fidelity.calculate_metrics``: tests/metrics/test_evaluate.py, through ``lit-gan evaluate``."""

import numpy as np
import pytest
import torch
from PIL import Image

from lit_gan.data.samples import SampleFolder
from lit_gan.metrics import InceptionScore, KernelDistance, PrecomputedFeatures


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


def test_torch_draws_differ_from_torch_fidelitys_on_the_same_features():
    g = torch.Generator().manual_seed(0)
    logits, real, fake = torch.randn(40, 7, generator=g), torch.randn(30, 4, generator=g), torch.randn(30, 4, generator=g) + 1
    values = {}
    for draws in ("torch-fidelity", "torch"):
        inception_score = InceptionScore(PrecomputedFeatures(7), splits=4, draws=draws)
        kid = KernelDistance(PrecomputedFeatures(4), subsets=5, subset_size=20, draws=draws)
        inception_score.update(logits), kid.update(real, real=True), kid.update(fake, real=False)
        values[draws] = [v.item() for v in (*inception_score.compute(), *kid.compute())]
    assert all(a != b for a, b in zip(values["torch"], values["torch-fidelity"]))
    assert values["torch"][0] == pytest.approx(values["torch-fidelity"][0], rel=0.1)  # the same score, other splits


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
