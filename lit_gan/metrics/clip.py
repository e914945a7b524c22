"""CLIP's image encoder (Radford et al. 2021) as torch-fidelity 0.4 has it: the embeddings of CMMD
(Jayasumana et al. 2024, "Rethinking FID: Towards a Better Evaluation Metric for Image Generation")
and of FD or KID on CLIP features.

OpenAI publishes each model as a TorchScript archive, ``<hash>/<name>.pt``, whose URL carries its
sha256. torch hub (and torch-fidelity) keep it as ``$TORCH_HOME/hub/checkpoints/<name>-<sha256>.pt``,
e.g. ``clip-vit-l-14-336px-3035c92b...02.pt``. A TorchScript archive holds code, and
``torch.load(weights_only=True)`` refuses it; here such an archive is loaded (``torch.jit.load``)
only when its sha256 is OpenAI's published one, and any other is refused unread. Weights from
elsewhere go in as a plain state dict, converted once on a trusted machine::

    python -c "import torch; torch.save(torch.jit.load('ViT-L-14-336px.pt', map_location='cpu').state_dict(), \\
        'clip-vit-l-14-336px.pth')"

and loaded with ``weights_only=True``. torch-fidelity's ``build_model`` builds the visual tower from
the state dict's shapes; its text tower is dropped.
"""

import warnings
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from torch import Tensor
from torch.hub import download_url_to_file
from torch_fidelity.feature_extractor_clip import MODEL_METADATA, MODEL_URLS, build_model
from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

from lit_gan.errors import UNREADABLE, ConfigError
from lit_gan.metrics.features import FeatureExtractor, rgb_uint8
from lit_gan.metrics.weights import WeightsFile, is_torchscript_archive

NAMES = tuple(MODEL_METADATA)  # clip-rn50, ..., clip-vit-l-14-336px
# (input resolution, embedding size) of each published model (OpenAI's model card): a state dict
# that builds another is not the model its `name` says.
ARCHITECTURES = {
    "clip-rn50": (224, 1024), "clip-rn101": (224, 512), "clip-rn50x4": (288, 640), "clip-rn50x16": (384, 768),
    "clip-rn50x64": (448, 1024), "clip-vit-b-32": (224, 512), "clip-vit-b-16": (224, 512),
    "clip-vit-l-14": (224, 768), "clip-vit-l-14-336px": (336, 768),
}
MEAN = tuple(255 * m for m in (0.48145466, 0.4578275, 0.40821073))  # CLIP's normalization, on the 0-255 scale
STD = tuple(255 * s for s in (0.26862954, 0.26130258, 0.27577711))


def conversion(name: str) -> str:
    """The command that turns OpenAI's archive into a state dict, run once on a trusted machine."""
    source = f"{MODEL_METADATA[name]['filename']}.pt"
    return (
        f"python -c \"import torch; torch.save(torch.jit.load('{source}', map_location='cpu').state_dict(),"
        f" '{name}.pth')\""
    )


def weights_file(name: str) -> WeightsFile:
    digest = MODEL_METADATA[name]["hash"]
    return WeightsFile(
        kind=f"CLIP {name} weights",
        use="CMMD and FD on CLIP features",
        names=(f"{name}-{digest}.pt", f"{name}.pth", f"{MODEL_METADATA[name]['filename']}.pt"),
        url=MODEL_URLS[name],
        sha256=digest,
        note=f"A state dict converted from it ({conversion(name)}) is taken too, as {name}.pth.",
    )


class CLIPFeatures(FeatureExtractor):
    """The image embeddings of OpenAI's CLIP, through torch-fidelity's network and preprocessing.

    Images go in as uint8 in [0, 255] (float images in [-1, 1] are quantized to uint8 first) with 3
    channels; grayscale images are repeated to 3 channels. They are resized to the model's
    resolution (336 x 336 for the default) with TensorFlow 1.x's bilinear interpolation, as
    torch-fidelity does, and normalized with CLIP's mean and std. CMMD's reference code
    (google-research/google-research ``cmmd/embedding.py``) resizes bicubically instead, so its
    embeddings differ slightly from these.

    Args:
        name: the model, one of torch-fidelity's: ``clip-vit-l-14-336px`` (the default, the model
            of CMMD), ``clip-vit-l-14``, ``clip-vit-b-16``, ``clip-vit-b-32``, ``clip-rn50``,
            ``clip-rn101``, ``clip-rn50x4``, ``clip-rn50x16``, ``clip-rn50x64``.
        weights_path: OpenAI's archive, or a state dict converted from it (see the module's doc), or
            a folder that holds ``<name>-<sha256>.pt``, ``<name>.pth`` or OpenAI's ``<file>.pt``;
            None: torch hub's cache (``$TORCH_HOME/hub/checkpoints``), downloaded there if missing.
        download: when ``weights_path`` is None and the cache lacks the file, download it.
        normalize: scale each embedding to unit length, as CMMD does.

    There are no logits (``num_classes`` is 0): ``extract`` returns an empty (B, 0) tensor for them.
    """

    num_classes = 0

    def __init__(
        self,
        name: str = "clip-vit-l-14-336px",
        weights_path: Optional[str] = None,
        download: bool = True,
        normalize: bool = True,
    ) -> None:
        super().__init__()
        if name not in MODEL_METADATA:
            raise ValueError(f"Expected argument `name` to be one of {', '.join(NAMES)}, got {name!r}")
        if not isinstance(normalize, bool):
            raise ValueError(f"Expected argument `normalize` to be a bool, got {normalize!r}")
        self.name, self.normalize = name, normalize
        spec = weights_file(name)
        path = spec.resolve(weights_path, download, download_url_to_file)  # looked up here: tests replace it
        self.weights_path = str(path)
        if is_torchscript_archive(path):
            state_dict = self._load_archive(path)
        else:
            state_dict = spec.load_state_dict(path)
        try:
            self.model = build_model(dict(state_dict), torch.float32)  # the visual tower; the text one is dropped
        except UNREADABLE as err:  # not CLIP's keys, or other shapes
            raise ConfigError(spec.unreadable_message(path, err)) from err
        self.resolution = int(self.model.visual.input_resolution)
        self.num_features = int(self.model.visual.output_dim)
        if (self.resolution, self.num_features) != ARCHITECTURES[name]:
            resolution, features = ARCHITECTURES[name]
            warnings.warn(
                f"{path}: these weights build a CLIP of {self.resolution}x{self.resolution} input and"
                f" {self.num_features} features, not {name}'s ({resolution}x{resolution}, {features}); pass the"
                " `name` of the model they are, or CMMD and FD values will not be comparable with published ones",
                stacklevel=2,
            )
        self.requires_grad_(False).eval()

    def _load_archive(self, path: Path) -> dict[str, Tensor]:
        """OpenAI's TorchScript archive, loaded only when its sha256 is the published one."""
        digest, published = self._file_sha256(path), MODEL_METADATA[self.name]["hash"]
        if digest != published:
            other = next((n for n, meta in MODEL_METADATA.items() if meta["hash"] == digest), None)
            if other is not None:
                raise ConfigError(
                    f"`weights_path` {path} is OpenAI's archive of {other}, not of {self.name}: pass `name`={other!r}"
                )
            raise ConfigError(
                f"refusing to load `weights_path` {path}: it is a TorchScript archive, which holds code, and its sha256"
                f" {digest} is not that of OpenAI's {MODEL_METADATA[self.name]['filename']}.pt ({published}); give a"
                f" state dict instead, converted once on a trusted machine: {conversion(self.name)}"
            )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*torch.jit.load. is deprecated")  # TorchScript is
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            return torch.jit.load(str(path), map_location="cpu").state_dict()

    def extract(self, images: Tensor) -> tuple[Tensor, Tensor]:
        x = rgb_uint8(images)  # (B, 3, H, W) uint8
        size = (self.resolution, self.resolution)
        x = interpolate_bilinear_2d_like_tensorflow1x(x.float(), size=size, align_corners=False)
        x = TF.normalize(x, MEAN, STD)  # (B, 3, R, R)
        features = self.model.visual(x).float()  # (B, num_features)
        if self.normalize:
            features = F.normalize(features, dim=1)
        return features, features.new_zeros(features.shape[0], 0)

    def identity(self) -> dict[str, str]:
        r = self.resolution
        return {
            "extractor": self.name,
            "features": str(self.num_features),
            "weights_sha256": self._file_sha256(self.weights_path),
            "resize": f"uint8 RGB (grayscale repeated), TF1 bilinear to {r}x{r}, CLIP mean/std",
            "normalize": "L2 to unit length" if self.normalize else "none",
        }
