"""The reference cache (issue 18, item 1): a hit reuses the features, a changed image or extractor
is a miss, a corrupt or forged entry is recomputed and replaced, never trusted."""

import os
import pickle

import pytest
import torch
from torch import nn

from lit_gan.metrics.features import FeatureExtractor
from lit_gan.metrics.reference import ReferenceCache, cached_features, cached_outputs, default_cache_dir, images_digest


class Counting(FeatureExtractor):
    """Features = a fixed projection of the pixels; counts its passes; says who it is."""

    num_features, num_classes = 5, 0

    def __init__(self, weights_sha256: str = "ab" * 32) -> None:
        super().__init__()
        self.proj = nn.Linear(3 * 4 * 4, 5)
        torch.nn.init.normal_(self.proj.weight, generator=torch.Generator().manual_seed(0))
        self.passes, self.sha = 0, weights_sha256
        self.requires_grad_(False).eval()

    def extract(self, images):
        self.passes += 1
        x = images.float().flatten(1)
        return self.proj(x), x.new_empty(len(x), 0)

    def identity(self):
        return {"extractor": "counting", "features": "5", "weights_sha256": self.sha, "resize": "none"}


def batches(seed=0, n=3, changed=False):
    g = torch.Generator().manual_seed(seed)
    images = [torch.randint(0, 256, (4, 3, 4, 4), generator=g, dtype=torch.uint8) for _ in range(n)]
    if changed:
        images[1][0, 0, 0, 0] ^= 1  # one bit of one pixel
    return lambda: iter(images)


SOURCE = {"data": "Toy", "split": "val"}


def test_the_second_evaluation_loads_what_the_first_extracted(tmp_path):
    cache, extractor = ReferenceCache(str(tmp_path)), Counting()
    first, hit = cached_features(batches(), extractor, cache, SOURCE)
    assert hit is False and extractor.passes == 3 and first.shape == (12, 5)
    second, hit = cached_features(batches(), extractor, cache, SOURCE)
    assert hit is True and extractor.passes == 3  # nothing extracted again
    assert torch.equal(first, second)
    assert len(list(tmp_path.glob("*.pt"))) == 1 and not list(tmp_path.glob(".*tmp"))


@pytest.mark.parametrize("change", ["pixel", "order", "count", "weights", "source"])
def test_a_change_of_the_images_or_the_extractor_is_a_miss(tmp_path, change):
    cache = ReferenceCache(str(tmp_path))
    cached_features(batches(), Counting(), cache, SOURCE)
    images = {"pixel": batches(changed=True), "order": lambda: reversed(list(batches()())),
              "count": batches(n=2)}.get(change, batches())
    extractor = Counting("cd" * 32) if change == "weights" else Counting()
    source = {"data": "Toy", "split": "test"} if change == "source" else SOURCE
    features, hit = cached_features(images, extractor, cache, source)
    assert hit is False and extractor.passes == (2 if change == "count" else 3)
    assert len(list(tmp_path.glob("*.pt"))) == 2  # the other entry is kept


class WithLogits(Counting):
    """Counting's features, and 2 logits per image (the first two features, doubled)."""

    num_classes = 2

    def extract(self, images):
        features, _ = super().extract(images)
        return features, 2 * features[:, :2]


@pytest.mark.parametrize("how", [None, "logits_changed", "logits_missing", "logits_short"])
def test_generated_images_keep_their_logits_under_a_key_of_their_own(tmp_path, how):
    cache, extractor = ReferenceCache(str(tmp_path)), WithLogits()
    features, logits, hit = cached_outputs(batches(), extractor, cache, SOURCE)
    assert hit is False and extractor.passes == 3 and logits.shape == (12, 2)
    assert torch.equal(logits, 2 * features[:, :2])
    assert cached_features(batches(), extractor, cache, SOURCE)[1] is False  # features alone: another entry
    assert extractor.passes == 6 and len(list(tmp_path.glob("*.pt"))) == 2
    (entry_path,) = [p for p in tmp_path.glob("*.pt") if "logits" in torch.load(p, weights_only=True)]
    if how is not None:
        entry = torch.load(entry_path, weights_only=True)
        if how == "logits_changed":
            entry["logits"][0, 0] += 1
        elif how == "logits_missing":
            del entry["logits"]
        else:
            entry["logits"] = entry["logits"][:-1]
        torch.save(entry, entry_path)
        with pytest.warns(UserWarning, match="ignored and recomputed"):
            assert cached_outputs(batches(), extractor, cache, SOURCE)[2] is False
        assert extractor.passes == 9
    again_features, again_logits, hit = cached_outputs(batches(), extractor, cache, SOURCE)
    assert hit is True and torch.equal(again_features, features) and torch.equal(again_logits, logits)
    assert extractor.passes == (9 if how else 6)  # nothing extracted


def corrupt(path, how):
    entry = torch.load(path, weights_only=True)
    if how == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    elif how == "features_changed":  # the checksum no longer matches
        entry["features"][0, 0] += 1
        torch.save(entry, path)
    elif how == "key_changed":  # an entry copied under another entry's name
        entry["key"]["images_sha256"] = "0" * 64
        torch.save(entry, path)
    elif how == "runs_code":
        class Evil:
            def __reduce__(self):
                return (os.system, ("touch " + str(path.parent / "pwned"),))
        path.write_bytes(pickle.dumps({"features": Evil()}))
    elif how == "not_features":
        entry["features"] = entry["features"].double()
        torch.save(entry, path)


@pytest.mark.parametrize("how", ["truncated", "features_changed", "key_changed", "runs_code", "not_features"])
def test_a_corrupt_entry_is_recomputed_and_replaced(tmp_path, how):
    cache, extractor = ReferenceCache(str(tmp_path)), Counting()
    good, _ = cached_features(batches(), extractor, cache, SOURCE)
    (path,) = tmp_path.glob("*.pt")
    corrupt(path, how)
    with pytest.warns(UserWarning, match=f"reference cache entry {path} ignored and recomputed"):
        again, hit = cached_features(batches(), extractor, cache, SOURCE)
    assert hit is False and extractor.passes == 6 and torch.equal(again, good)
    assert not (tmp_path / "pwned").exists()  # the pickle's code never ran
    assert cached_features(batches(), extractor, cache, SOURCE)[1] is True  # replaced by a good entry


def test_a_cache_that_cannot_be_written_warns_and_still_gives_the_features(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache folder should be")
    extractor = Counting()
    with pytest.warns(UserWarning, match="could not write"):
        features, hit = cached_features(batches(), extractor, ReferenceCache(str(blocked / "cache")), SOURCE)
    assert hit is False and features.shape == (12, 5)


def test_no_cache_or_no_identity_extracts_without_storing(tmp_path):
    features, hit = cached_features(batches(), Counting(), None, SOURCE)
    assert hit is None and features.shape == (12, 5)

    class Anonymous(Counting):
        def identity(self):
            raise NotImplementedError

    with pytest.warns(UserWarning, match="reference cache off: Anonymous has no identity"):
        _, hit = cached_features(batches(), Anonymous(), ReferenceCache(str(tmp_path)), SOURCE)
    assert hit is None and not list(tmp_path.iterdir())


def test_the_digest_sees_bytes_shape_and_dtype_and_the_default_folder(monkeypatch, tmp_path):
    x = torch.zeros(2, 1, 2, 2, dtype=torch.uint8)
    assert images_digest([x])[0] != images_digest([x.view(2, 1, 1, 4)])[0]
    assert images_digest([x])[0] != images_digest([x.float()])[0]
    assert images_digest([x, x])[1] == 4
    monkeypatch.setenv("LIT_GAN_CACHE_DIR", str(tmp_path))
    assert default_cache_dir() == tmp_path


def test_images_that_differ_between_the_two_passes_are_not_cached(tmp_path):
    calls = []

    def shuffled():  # another order at every call, as a shuffled loader would give
        calls.append(1)
        return reversed(list(batches()())) if len(calls) % 2 else batches()()

    with pytest.warns(UserWarning, match="differ from one pass to the next"):
        features, hit = cached_features(shuffled, Counting(), ReferenceCache(str(tmp_path)), SOURCE)
    assert hit is None and features.shape == (12, 5) and not list(tmp_path.glob("*.pt"))


def test_the_key_holds_the_versions_of_the_code_that_computed_the_features(tmp_path):
    from lit_gan.metrics import reference

    cache = ReferenceCache(str(tmp_path))
    cached_features(batches(), Counting(), cache, SOURCE)
    (entry,) = tmp_path.glob("*.pt")
    assert torch.load(entry, weights_only=True)["key"]["lit_gan"] == reference.VERSIONS["lit_gan"]
    old = dict(reference.VERSIONS)
    try:
        reference.VERSIONS["torch_fidelity"] = "0.0.1"  # features of another torch-fidelity: a miss
        assert cached_features(batches(), Counting(), cache, SOURCE)[1] is False
    finally:
        reference.VERSIONS.update(old)
