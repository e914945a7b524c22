"""Inception v3 as torch-fidelity has it: the standard FID weights, from a local file when need be.

The weights are the TensorFlow Inception of Szegedy et al. (2016) that Heusel et al. (2017) used
for FID, converted to PyTorch by torch-fidelity: ``weights-inception-2015-12-05-6726825d.pth``,
whose name carries the first 8 hex digits of its sha256 (torch hub's convention). Only these
weights give FID and IS values comparable with published ones.

Cluster nodes often have no internet: pass ``weights_path`` (the file, or the folder that holds
it), or copy the file into torch hub's cache (``$TORCH_HOME/hub/checkpoints``), where a machine with
internet downloads it on first use.

The file is loaded here with ``torch.load(weights_only=True)`` and must be a plain state dict:
torch-fidelity's own loader uses ``weights_only=False``, which runs whatever code a crafted pickle
holds, so its network is built without it (``_InceptionV3``) and given the weights afterwards.
"""

import io
import warnings
from pathlib import Path
from typing import Literal, Optional

import torch
from torch import Tensor
from torch.hub import download_url_to_file
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3, FeatureExtractorInceptionV3

from lit_gan.checks import check_positive_ints
from lit_gan.errors import UNREADABLE, ConfigError
from lit_gan.metrics.features import FeatureExtractor, rgb_uint8
from lit_gan.metrics.weights import WeightsFile, WeightsNotFoundError, sha256  # noqa: F401 (sha256: public here before)

WEIGHTS_NAME = "weights-inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = URL_INCEPTION_V3
SHA256_PREFIX = "6726825d"


class InceptionWeightsNotFoundError(WeightsNotFoundError):
    """The Inception weights are neither where they were asked for nor downloadable."""


WEIGHTS = WeightsFile(
    kind="Inception v3 weights", use="FID/IS/KID", names=(WEIGHTS_NAME,), url=WEIGHTS_URL, sha256=SHA256_PREFIX,
    error=InceptionWeightsNotFoundError,
)


def default_weights_path() -> Path:
    """Where torch hub (and torch-fidelity) keep the downloaded weights."""
    return WEIGHTS.cache_path()


def missing_weights_message(where: str) -> str:
    return WEIGHTS.missing_message(where)


def resolve_weights(weights_path: Optional[str] = None, download: bool = True) -> Path:
    """The path of the weights: ``weights_path`` (a file, or a folder holding ``WEIGHTS_NAME``), else
    torch hub's cache, downloading into it when ``download``. Raises InceptionWeightsNotFoundError."""
    return WEIGHTS.resolve(weights_path, download, download_url_to_file)  # looked up here: tests replace it


def load_state_dict(path: Path) -> dict[str, Tensor]:
    """The weights file as a plain state dict (names to tensors), loaded with ``weights_only=True``:
    a pickle that would run code, or any other content, is refused with a ConfigError naming `weights_path`."""
    return WEIGHTS.load_state_dict(path)


class _InceptionV3(FeatureExtractorInceptionV3):
    """torch-fidelity's network and forward pass, with weights loaded by ``load_state_dict`` above.

    torch-fidelity's constructor builds the layers, then loads its weights file with
    ``torch.load(weights_only=False)``: here that load reads an empty state dict that this module
    wrote itself, which is not applied, and the checked weights are loaded into the layers after.
    The layers and their values are then those of torch-fidelity's own load: the same features.
    """

    def __init__(self, features_list: list[str], state_dict: dict[str, Tensor]) -> None:
        empty = io.BytesIO()
        torch.save({}, empty)
        empty.seek(0)
        object.__setattr__(self, "_building", True)  # before nn.Module's __init__: a plain attribute
        super().__init__("inception-v3-compat", features_list, feature_extractor_weights_path=empty)
        self._building = False
        self.load_state_dict(state_dict)  # strict: every key of Inception v3, and no other

    def load_state_dict(self, state_dict, *args, **kwargs):  # type: ignore[override]
        if self._building:  # torch-fidelity's own load, of the empty placeholder
            return None
        return super().load_state_dict(state_dict, *args, **kwargs)


class InceptionFeatures(FeatureExtractor):
    """torch-fidelity's Inception v3: its 2048 pool features (FID, KID) and 1008 unbiased logits (IS).

    Images go in as uint8 in [0, 255] (float images in [-1, 1] are quantized to uint8 first) with
    3 channels; grayscale images are repeated to 3 channels. torch-fidelity resizes them to 299 x
    299 with TensorFlow 1.x's bilinear interpolation, as the original FID code did.

    Args:
        feature: which features: 2048 (the final pool, the standard), or 64, 192, 768 (earlier pools,
            as torchmetrics offers; cheaper statistics, values not comparable with published FIDs).
        weights_path: the weights file, or a folder that holds ``weights-inception-2015-12-05-6726825d.pth``;
            None: torch hub's cache (``$TORCH_HOME/hub/checkpoints``), downloaded there if missing.
        download: when ``weights_path`` is None and the cache lacks the file, download it.
        check_hash: warn when the file's sha256 does not start with ``6726825d`` (other weights give
            values that cannot be compared with published ones).
        cpu_batch_size: on the CPU, run the network on this many images at a time (None: the whole
            batch at once). Inception's first activations at 299 x 299 are about 3 MB per image, so
            a batch of 64 leaves the CPU's caches; 4 at a time was 1.5x (1 thread) to 1.8x (2
            threads) as fast here, with the same features up to floating-point rounding
            (BENCHMARKS.md). On a GPU the whole batch runs at once. Part of ``identity``.

    The file must be a plain state dict: it is loaded with ``weights_only=True``, and a pickle that
    holds anything else (code to run) is refused, its code never run.
    """

    num_classes = 1008

    def __init__(
        self,
        feature: Literal[64, 192, 768, 2048] = 2048,
        weights_path: Optional[str] = None,
        download: bool = True,
        check_hash: bool = True,
        cpu_batch_size: Optional[int] = 4,
    ) -> None:
        super().__init__()
        if feature not in (64, 192, 768, 2048):
            raise ValueError(f"Expected argument `feature` to be one of 64, 192, 768, 2048, got {feature}")
        check_positive_ints(cpu_batch_size=cpu_batch_size)
        self.cpu_batch_size = cpu_batch_size
        self.num_features = int(feature)
        path = resolve_weights(weights_path, download)
        if check_hash and not self._file_sha256(path).startswith(SHA256_PREFIX):
            warnings.warn(
                f"{path}: its sha256 does not start with {SHA256_PREFIX}, so these are not the standard FID weights"
                f" ({WEIGHTS_NAME}); FID, KID and IS will not be comparable with published values",
                stacklevel=2,
            )
        self.weights_path = str(path)
        state_dict = load_state_dict(path)
        try:
            self.net = _InceptionV3([str(feature), "logits_unbiased"], state_dict)
        except UNREADABLE as err:  # a state dict without Inception's keys, or of other shapes
            raise ConfigError(WEIGHTS.unreadable_message(path, err)) from err
        self.requires_grad_(False).eval()

    def extract(self, images: Tensor) -> tuple[Tensor, Tensor]:
        x = rgb_uint8(images)  # (B, 3, H, W) uint8
        if not self._chunked() or len(x) <= self.cpu_batch_size:
            return tuple(self.net(x))  # (B, num_features), (B, 1008)
        features, logits = zip(*(self.net(chunk) for chunk in x.split(self.cpu_batch_size)))
        return torch.cat(features), torch.cat(logits)

    def identity(self) -> dict[str, str]:
        return {
            "extractor": "inception-v3-compat",  # torch-fidelity's name for these weights and this network
            "features": str(self.num_features),
            "weights_sha256": self._file_sha256(self.weights_path),
            "resize": "uint8 RGB (grayscale repeated), TF1 bilinear to 299x299",
            "forward": f"{self.cpu_batch_size} images at a time" if self._chunked() else "whole batches",
        }

    def _chunked(self) -> bool:
        """Whether ``extract`` runs the network on ``cpu_batch_size`` images at a time (on the CPU)."""
        return self.cpu_batch_size is not None and next(self.net.parameters()).device.type == "cpu"
