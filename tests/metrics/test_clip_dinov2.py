"""CLIP and DINOv2 features from local weights with the real keys and random values; how their weights
are found and which files are refused; the identity of every extractor."""

import hashlib
import urllib.error
import warnings

import pytest
import torch
from torch import nn
from torch_fidelity.feature_extractor_clip import MODEL_METADATA, CLIPVisual, FeatureExtractorCLIP

import lit_gan.metrics.clip as clip
import lit_gan.metrics.dinov2 as dinov2
import lit_gan.metrics.features as features_module
from lit_gan.errors import ConfigError
from lit_gan.metrics import ClassifierFeatures, FeatureExtractor, InceptionFeatures
from lit_gan.metrics.clip import CLIPFeatures
from lit_gan.metrics.dinov2 import Architecture, DINOv2Features, DINOv2ViT
from lit_gan.metrics.weights import WeightsNotFoundError
from tests.metrics.test_inception import RunsCode

CLIP_NAME = "clip-vit-l-14-336px"
CLIP_HASH = MODEL_METADATA[CLIP_NAME]["hash"]


def sha256_of(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def images(n: int, seed: int, channels: int = 3, size: int = 20) -> torch.Tensor:
    rng = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, channels, size, size), generator=rng, dtype=torch.uint8)


def randomized(module: nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """The module's keys and shapes with random values that keep activations of order 1."""
    rng = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in module.state_dict().items():
        if value.ndim >= 2 and value.shape[0] > 1:  # weight matrices and convolutions, CLIP's projection
            state[key] = torch.randn(value.shape, generator=rng) * value[0].numel() ** -0.5
        elif key.endswith(("gamma", "ln_1.weight", "ln_2.weight", "norm1.weight", "norm2.weight")) or key in (
            "norm.weight", "visual.ln_pre.weight", "visual.ln_post.weight",
        ):
            state[key] = 0.5 + torch.rand(value.shape, generator=rng)
        else:  # biases, tokens, position embeddings
            state[key] = 0.3 * torch.randn(value.shape, generator=rng)
    return state


# ---------------------------------------------------------------------------------------------- CLIP


class TinyCLIP(nn.Module):
    """A CLIP ViT with OpenAI's key names (width 64, 1 layer, patch 8, grid 2: 16 x 16 input, 32
    features) and a few of the text tower's keys, which ``build_model`` drops."""

    def __init__(self) -> None:
        super().__init__()
        self.visual = CLIPVisual(32, 16, 1, 64, 8).visual
        self.text_projection = nn.Parameter(torch.zeros(48, 32))
        self.positional_embedding = nn.Parameter(torch.zeros(8, 48))
        self.ln_final = nn.LayerNorm(48)
        self.logit_scale = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.visual(x)


@pytest.fixture(scope="module")
def tiny_clip() -> TinyCLIP:
    model = TinyCLIP()
    model.load_state_dict(randomized(model, seed=0))
    return model.eval()


@pytest.fixture(scope="module")
def clip_weights(tmp_path_factory, tiny_clip):
    """A plain state dict, as the documented conversion writes it."""
    path = tmp_path_factory.mktemp("clip") / f"{CLIP_NAME}.pth"
    torch.save(tiny_clip.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def clip_archive(tmp_path_factory, tiny_clip):
    """A TorchScript archive of the same weights, as OpenAI publishes its models (traced)."""
    path = tmp_path_factory.mktemp("clip-archive") / "ViT-L-14-336px.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(tiny_clip, torch.zeros(1, 3, 16, 16)), str(path))
    return path


def tiny_clip_features(path, **kwargs) -> CLIPFeatures:
    with pytest.warns(UserWarning, match=f"a CLIP of 16x16 input and 32 features, not {CLIP_NAME}'s .336x336, 768."):
        return CLIPFeatures(weights_path=None if path is None else str(path), **kwargs)


@pytest.mark.filterwarnings("ignore:.*torch.jit.load. is deprecated")  # torch-fidelity's load of the archive
def test_clip_state_dict_gives_torch_fidelitys_embeddings_of_unit_length(clip_weights, clip_archive):
    extractor = tiny_clip_features(clip_weights)
    batch = images(3, seed=0)
    features, logits = extractor.extract(batch)
    assert features.shape == (3, 32) and logits.shape == (3, 0) and logits.dtype == torch.float32
    assert extractor.num_features == 32 and extractor.num_classes == 0 and extractor.resolution == 16
    torch.testing.assert_close(features.norm(dim=1), torch.ones(3))
    # torch-fidelity's own extractor on the archive of the same weights: the same embeddings before normalization
    reference = FeatureExtractorCLIP(CLIP_NAME, ["clip"], feature_extractor_weights_path=str(clip_archive))
    ref, = reference(batch)
    raw, _ = tiny_clip_features(clip_weights, normalize=False).extract(batch)
    assert torch.equal(raw, ref) and raw.std() > 0.1
    torch.testing.assert_close(features, ref / ref.norm(dim=1, keepdim=True))
    # grayscale is three equal channels; images in [-1, 1] are quantized to the same uint8 first
    gray = images(2, seed=1, channels=1)
    torch.testing.assert_close(extractor.extract(gray)[0], extractor.extract(gray.repeat(1, 3, 1, 1))[0])
    torch.testing.assert_close(extractor.extract(batch.float() / 127.5 - 1)[0], features)
    assert not extractor.train().training and not any(p.requires_grad for p in extractor.parameters())
    with pytest.raises(ValueError, match="Expected argument `images` to have shape"):
        extractor.extract(images(1, seed=2, channels=2))


def test_clip_features_do_not_depend_on_the_batch(clip_weights):
    extractor = tiny_clip_features(clip_weights)
    batch = images(5, seed=3)
    together = extractor.extract(batch)[0]
    apart = torch.cat([extractor.extract(part)[0] for part in (batch[:2], batch[2:3], batch[3:])])
    torch.testing.assert_close(apart, together, rtol=0, atol=1e-6)


def test_openais_archive_is_loaded_only_with_its_published_hash(clip_weights, clip_archive, monkeypatch):
    digest = sha256_of(clip_archive)
    jit_load = torch.jit.load
    calls = []
    monkeypatch.setattr(torch.jit, "load", lambda *a, **k: calls.append(a) or jit_load(*a, **k))
    # another archive than the published one: refused before torch.jit.load reads (and compiles) its code
    refused = "refusing to load `weights_path` .*ViT-L-14-336px.pt: it is a TorchScript archive"
    with pytest.raises(ConfigError, match=refused) as info:
        CLIPFeatures(weights_path=str(clip_archive))
    message = str(info.value)
    assert calls == [] and "\n" not in message
    assert digest in message and CLIP_HASH in message and "torch.jit.load('ViT-L-14-336px.pt'" in message  # the conversion
    # the published archive of another model: says which
    monkeypatch.setitem(MODEL_METADATA["clip-vit-b-32"], "hash", digest)
    other = "OpenAI's archive of clip-vit-b-32, not of clip-vit-l-14-336px: pass `name`='clip-vit-b-32'"
    with pytest.raises(ConfigError, match=other):
        CLIPFeatures(weights_path=str(clip_archive))
    assert calls == []
    # the published archive of this model (here: its hash made this file's): loaded, the same embeddings
    monkeypatch.setitem(MODEL_METADATA[CLIP_NAME], "hash", digest)
    with pytest.warns(UserWarning, match="a CLIP of 16x16 input"):
        extractor = CLIPFeatures(weights_path=str(clip_archive))
    assert len(calls) == 1
    batch = images(2, seed=4)
    assert torch.equal(extractor.extract(batch)[0], tiny_clip_features(clip_weights).extract(batch)[0])


def test_a_crafted_pickle_is_refused_by_clip_and_dinov2_and_its_code_never_runs(tmp_path, clip_weights):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({**torch.load(clip_weights, weights_only=True), "payload": RunsCode(marker)}, path)
    builds = (lambda: CLIPFeatures(weights_path=str(path)), lambda: DINOv2Features("dinov2-vit-s-14", weights_path=str(path)))
    for build in builds:
        with pytest.raises(ConfigError, match="refusing to load `weights_path` .*evil.pth: it holds more than tensors") as info:
            build()
        message = str(info.value)
        assert "\n" not in message and "GLOBAL posix.system" in message and "weights_only" not in message
    assert not marker.exists()


def test_clip_weights_are_looked_for_under_their_names_and_missing_ones_say_where_to_put_them(
    tmp_path, monkeypatch, clip_weights
):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    with pytest.raises(WeightsNotFoundError) as info:
        CLIPFeatures(weights_path=str(tmp_path / "nowhere.pt"))
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ConfigError) and "\n" not in message
    assert "nowhere.pt" in message and f"{CLIP_NAME}-{CLIP_HASH}.pt" in message and clip.MODEL_URLS[CLIP_NAME] in message
    assert str(cache) in message and "`weights_path`" in message and f"{CLIP_NAME}.pth" in message

    calls = []

    def no_network(url, dst, hash_prefix=None, progress=True):
        calls.append((url, dst, hash_prefix))
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(clip, "download_url_to_file", no_network)
    with pytest.raises(WeightsNotFoundError, match="the download failed .URLError.*name resolution"):
        CLIPFeatures()
    # downloaded under torch hub's name, which carries the hash it checks
    assert calls == [(clip.MODEL_URLS[CLIP_NAME], str(cache / f"{CLIP_NAME}-{CLIP_HASH}.pt"), CLIP_HASH)]
    with pytest.raises(WeightsNotFoundError, match="`download` is false"):
        CLIPFeatures(download=False)
    folder = tmp_path / "models"
    folder.mkdir()
    names = f"{CLIP_NAME}-{CLIP_HASH}.pt or {CLIP_NAME}.pth or ViT-L-14-336px.pt"
    with pytest.raises(WeightsNotFoundError, match=f"is a folder without {names}"):
        CLIPFeatures(weights_path=str(folder))
    (folder / f"{CLIP_NAME}.pth").write_bytes(clip_weights.read_bytes())
    assert tiny_clip_features(folder).weights_path == str(folder / f"{CLIP_NAME}.pth")
    cache.mkdir(parents=True, exist_ok=True)  # the failed download made it
    (cache / f"{CLIP_NAME}.pth").write_bytes(clip_weights.read_bytes())
    assert tiny_clip_features(None, download=False).weights_path == str(cache / f"{CLIP_NAME}.pth")
    assert len(calls) == 1


def test_clip_arguments_and_files_of_another_kind_are_one_line_errors(tmp_path):
    with pytest.raises(ValueError, match="Expected argument `name` to be one of clip-rn50, .*clip-vit-l-14-336px, got 'clip-vit-h'"):
        CLIPFeatures(name="clip-vit-h")
    with pytest.raises(ValueError, match="Expected argument `normalize` to be a bool, got 'yes'"):
        CLIPFeatures(normalize="yes")
    path = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, path)
    not_clip = "`weights_path` .*other.pth could not be loaded as CLIP clip-vit-l-14-336px weights .KeyError"
    with pytest.raises(ConfigError, match=not_clip) as info:
        CLIPFeatures(weights_path=str(path))
    assert "\n" not in str(info.value)


# -------------------------------------------------------------------------------------------- DINOv2


def vits14_keys() -> dict[str, tuple[int, ...]]:
    """The keys and shapes of Meta's dinov2_vits14_pretrain.pth (as facebookresearch/dinov2's hub
    builds ViT-S/14 to load it strictly): written out here, not read from the module under test."""
    d, hidden = 384, 1536
    keys = {"cls_token": (1, 1, d), "pos_embed": (1, 37 * 37 + 1, d), "mask_token": (1, d),
            "patch_embed.proj.weight": (d, 3, 14, 14), "patch_embed.proj.bias": (d,), "norm.weight": (d,), "norm.bias": (d,)}
    for i in range(12):
        keys.update({
            f"blocks.{i}.norm1.weight": (d,), f"blocks.{i}.norm1.bias": (d,),
            f"blocks.{i}.attn.qkv.weight": (3 * d, d), f"blocks.{i}.attn.qkv.bias": (3 * d,),
            f"blocks.{i}.attn.proj.weight": (d, d), f"blocks.{i}.attn.proj.bias": (d,), f"blocks.{i}.ls1.gamma": (d,),
            f"blocks.{i}.norm2.weight": (d,), f"blocks.{i}.norm2.bias": (d,),
            f"blocks.{i}.mlp.fc1.weight": (hidden, d), f"blocks.{i}.mlp.fc1.bias": (hidden,),
            f"blocks.{i}.mlp.fc2.weight": (d, hidden), f"blocks.{i}.mlp.fc2.bias": (d,), f"blocks.{i}.ls2.gamma": (d,),
        })
    return keys


def test_dinov2_state_dicts_have_the_checkpoints_keys_and_shapes():
    with torch.device("meta"):  # shapes only, no memory
        models = {name: DINOv2ViT(a.embed_dim, a.depth, a.num_heads, a.ffn) for name, a in dinov2.ARCHITECTURES.items()}
    assert {k: tuple(v.shape) for k, v in models["dinov2-vit-s-14"].state_dict().items()} == vits14_keys()
    # parameter counts of the official hub models (facebookresearch/dinov2, counted once from its code)
    counts = {name: sum(v.numel() for v in model.state_dict().values()) for name, model in models.items()}
    assert counts == {"dinov2-vit-s-14": 22_056_576, "dinov2-vit-b-14": 86_580_480,
                      "dinov2-vit-l-14": 304_368_640, "dinov2-vit-g-14": 1_136_480_768}
    assert "blocks.39.mlp.w12.weight" in models["dinov2-vit-g-14"].state_dict()  # g14's SwiGLU


@pytest.fixture(scope="module")
def vits14_weights(tmp_path_factory):
    """Every key and shape of dinov2_vits14_pretrain.pth, random values (88 MB)."""
    path = tmp_path_factory.mktemp("dinov2") / "dinov2_vits14_pretrain.pth"
    with torch.device("meta"):
        model = DINOv2ViT()
    torch.save(randomized(model, seed=1), path)
    return path


@pytest.fixture
def two_blocks(monkeypatch, tmp_path):
    """DINOv2Features("dinov2-vit-s-14") cut to its first 2 blocks: weights file, extractor."""
    monkeypatch.setitem(dinov2.ARCHITECTURES, "dinov2-vit-s-14", Architecture("dinov2_vits14", 384, 2, 6))
    path = tmp_path / "dinov2_vits14_pretrain.pth"
    torch.save(randomized(DINOv2ViT(384, 2, 6), seed=2), path)
    return path, DINOv2Features("dinov2-vit-s-14", weights_path=str(path))


def test_dinov2_vits14_checkpoint_loads_strictly_and_gives_cls_features(vits14_weights):
    extractor = DINOv2Features("dinov2-vit-s-14", weights_path=str(vits14_weights))
    features, logits = extractor.extract(images(2, seed=5))
    assert features.shape == (2, 384) and logits.shape == (2, 0) and extractor.num_features == 384 and extractor.num_classes == 0
    assert 0.3 < features.std() < 3  # the final LayerNorm: of order 1, not constant
    assert not extractor.train().training and not any(p.requires_grad for p in extractor.parameters())
    # the checkpoint of another backbone (b14 expected): strict keys refuse it, in one line
    not_b14 = "`weights_path` .*could not be loaded as DINOv2 dinov2-vit-b-14 weights .RuntimeError: Error"
    with pytest.raises(ConfigError, match=not_b14) as info:
        DINOv2Features("dinov2-vit-b-14", weights_path=str(vits14_weights))
    assert "\n" not in str(info.value) and "dinov2_vitb14_pretrain.pth" in str(info.value)


def test_dinov2_features_are_torch_fidelitys_preprocessing_then_the_cls_token(two_blocks):
    path, extractor = two_blocks
    batch = images(3, seed=6, size=30)
    features, _ = extractor.extract(batch)
    # by hand: TF1 bilinear to 224, ImageNet mean/std on the 0-255 scale, the ViT
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    x = interpolate_bilinear_2d_like_tensorflow1x(batch.float(), size=(224, 224), align_corners=False)
    x = (x - torch.tensor(dinov2.MEAN)[:, None, None]) / torch.tensor(dinov2.STD)[:, None, None]
    torch.testing.assert_close(features, extractor.model(x), rtol=1e-5, atol=1e-5)
    gray = images(2, seed=7, channels=1)
    torch.testing.assert_close(extractor.extract(gray)[0], extractor.extract(gray.repeat(1, 3, 1, 1))[0])
    torch.testing.assert_close(extractor.extract(batch.float() / 127.5 - 1)[0], features)
    with pytest.raises(ValueError, match="Expected argument `images` to have shape"):
        extractor.extract(batch[:, :2])
    with pytest.raises(ValueError, match="Expected argument `x` to have a height and width that are multiples of 14, got 20x28"):
        extractor.model(torch.zeros(1, 3, 20, 28))


def test_dinov2_features_do_not_depend_on_the_batch(two_blocks):
    _, extractor = two_blocks
    batch = images(4, seed=8)
    together = extractor.extract(batch)[0]
    apart = torch.cat([extractor.extract(batch[:1])[0], extractor.extract(batch[1:])[0]])
    torch.testing.assert_close(apart, together, rtol=0, atol=1e-5)


def test_dinov2_position_embedding_is_resized_as_dinov2_does():
    model = DINOv2ViT(8, 0, 2)
    model.pos_embed.data = torch.randn(1, 37 * 37 + 1, 8, generator=torch.Generator().manual_seed(9))
    assert model.interpolate_pos_encoding(37 * 37, 518, 518) is model.pos_embed  # the training size: as it is
    resized = model.interpolate_pos_encoding(16 * 16, 224, 224)
    grid = model.pos_embed[:, 1:].reshape(1, 37, 37, 8).permute(0, 3, 1, 2)
    # DINOv2's scale factor (16 + 0.1) / 37, not the output size 16: other sampling positions
    kludge = nn.functional.interpolate(grid, scale_factor=(16.1 / 37, 16.1 / 37), mode="bicubic")
    by_size = nn.functional.interpolate(grid, size=(16, 16), mode="bicubic")
    assert resized.shape == (1, 257, 8) and torch.equal(resized[:, 0], model.pos_embed[:, 0])
    assert torch.equal(resized[:, 1:], kludge.permute(0, 2, 3, 1).reshape(1, 256, 8))
    assert not torch.allclose(kludge, by_size, atol=1e-3)


def test_dinov2_weights_missing_say_which_file_and_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    with pytest.raises(ValueError, match="Expected argument `name` to be one of dinov2-vit-s-14, .*, got 'dinov2-vit-h-14'"):
        DINOv2Features("dinov2-vit-h-14")
    with pytest.raises(WeightsNotFoundError) as info:
        DINOv2Features(weights_path=str(tmp_path / "nowhere.pth"))
    message = str(info.value)
    assert "\n" not in message and "nowhere.pth" in message and "DINOv2 dinov2-vit-l-14 weights for FD_DINOv2 not found" in message
    assert "dinov2_vitl14_pretrain.pth" in message and str(cache / "dinov2_vitl14_pretrain.pth") in message
    assert "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_pretrain.pth" in message

    calls = []

    def broken(url, dst, hash_prefix=None, progress=True):
        calls.append((url, dst, hash_prefix))
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(dinov2, "download_url_to_file", broken)
    with pytest.raises(WeightsNotFoundError, match="the download failed .ZeroDivisionError"):
        DINOv2Features("dinov2-vit-s-14")
    assert calls == [("https://dl.fbaipublicfiles.com/dinov2/dinov2_vits14/dinov2_vits14_pretrain.pth",
                      str(cache / "dinov2_vits14_pretrain.pth"), None)]  # no hash is published


def test_a_torchscript_archive_is_refused_where_a_state_dict_is_expected(tmp_path, clip_archive, monkeypatch):
    monkeypatch.setattr(torch.jit, "load", lambda *a, **k: pytest.fail("must not read the archive's code"))
    for build in (lambda: DINOv2Features(weights_path=str(clip_archive)),
                  lambda: InceptionFeatures(weights_path=str(clip_archive), check_hash=False)):
        with pytest.raises(ConfigError, match="refusing to load `weights_path` .*ViT-L-14-336px.pt: it is a TorchScript") as info:
            build()
        assert "\n" not in str(info.value) and "weights_only" not in str(info.value)


# ------------------------------------------------------------------------------------------ identity


def test_every_extractor_says_which_network_weights_and_resize_it_is(
    clip_weights, two_blocks, inception_weights, digits_classifier, monkeypatch
):
    with pytest.warns(UserWarning, match="not the standard FID weights"):
        inception = InceptionFeatures(feature=64, weights_path=str(inception_weights))
    dino_path, dino = two_blocks
    expected = {
        inception: {"extractor": "inception-v3-compat", "features": "64", "weights_sha256": sha256_of(inception_weights),
                    "resize": "uint8 RGB (grayscale repeated), TF1 bilinear to 299x299", "forward": "4 images at a time"},
        ClassifierFeatures(str(digits_classifier)): {
            "extractor": "classifier", "features": "128", "weights_sha256": sha256_of(digits_classifier),
            "resize": "none: images of shape 1x8x8 as trained, uint8 mapped to [-1, 1]"},
        tiny_clip_features(clip_weights): {
            "extractor": CLIP_NAME, "features": "32", "weights_sha256": sha256_of(clip_weights),
            "resize": "uint8 RGB (grayscale repeated), TF1 bilinear to 16x16, CLIP mean/std", "normalize": "L2 to unit length"},
        dino: {"extractor": "dinov2-vit-s-14", "features": "384", "weights_sha256": sha256_of(dino_path),
               "resize": "uint8 RGB (grayscale repeated), TF1 bilinear to 224x224, ImageNet mean/std"},
    }
    for extractor, identity in expected.items():
        assert extractor.identity() == identity
    assert tiny_clip_features(clip_weights, normalize=False).identity()["normalize"] == "none"
    # the hashes are remembered: no file is read again
    monkeypatch.setattr(features_module, "file_digest", lambda *a: pytest.fail("hashed twice"))
    assert [extractor.identity() for extractor in expected] == list(expected.values())

    class Unnamed(FeatureExtractor):
        num_features, num_classes = 1, 0

    with pytest.raises(NotImplementedError, match="Unnamed does not implement `identity`"):
        Unnamed().identity()
