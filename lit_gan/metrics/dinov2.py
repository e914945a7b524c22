"""DINOv2 (Oquab et al. 2023) image features: FD on them is FD_DINOv2 (Stein et al. 2023, "Exposing
flaws of generative model evaluation metrics and their unfair treatment of diffusion models").

torch-fidelity 0.4 has DINOv2 only through ``torch.hub.load("facebookresearch/dinov2", ...)``, which
needs GitHub and takes no local weights; here the network is a plain ViT whose state dict has
exactly the keys and shapes of Meta's checkpoints (``dinov2_vits14_pretrain.pth`` and the b14, l14,
g14 ones), and whose forward pass is that of facebookresearch/dinov2's ``DinoVisionTransformer``
(``dinov2/models/vision_transformer.py``, main branch): patch embedding, CLS token, the 37 x 37
position embedding (trained at 518 x 518) resized bicubically to the patch grid, pre-norm blocks
with LayerScale, the final norm; the features are the normed CLS token (``x_norm_clstoken``; the
hub models' head is the identity). The preprocessing is torch-fidelity's ``FeatureExtractorDinoV2``.

The checkpoint is loaded with ``torch.load(weights_only=True)`` and strict keys, from
``weights_path`` or torch hub's cache, ``$TORCH_HOME/hub/checkpoints/dinov2_vitl14_pretrain.pth``.
"""

import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from torch import Tensor, nn
from torch.hub import download_url_to_file
from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

from lit_gan.errors import UNREADABLE, ConfigError
from lit_gan.metrics.features import FeatureExtractor, rgb_uint8
from lit_gan.metrics.weights import WeightsFile

BASE_URL = "https://dl.fbaipublicfiles.com/dinov2"
INPUT_SIZE = 224  # torch-fidelity's FeatureExtractorDinoV2.INPUT_IMAGE_SIZE
MEAN = tuple(255 * m for m in (0.485, 0.456, 0.406))  # ImageNet's, on the 0-255 scale
STD = tuple(255 * s for s in (0.229, 0.224, 0.225))


@dataclass(frozen=True)
class Architecture:
    hub_name: str  # torch hub's entry point, and the checkpoint's name
    embed_dim: int
    depth: int
    num_heads: int
    ffn: str = "mlp"  # "mlp" or "swiglu" (g14)


# The four released backbones (dinov2/hub/backbones.py), by torch-fidelity's names.
ARCHITECTURES = {
    "dinov2-vit-s-14": Architecture("dinov2_vits14", 384, 12, 6),
    "dinov2-vit-b-14": Architecture("dinov2_vitb14", 768, 12, 12),
    "dinov2-vit-l-14": Architecture("dinov2_vitl14", 1024, 24, 16),
    "dinov2-vit-g-14": Architecture("dinov2_vitg14", 1536, 40, 24, ffn="swiglu"),
}


class LayerScale(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads)
        q, k, v = (t.transpose(1, 2) for t in qkv.unbind(2))  # (B, nh, N, hs) each
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(B, N, C))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class SwiGLU(nn.Module):
    """g14's feed-forward (SwiGLUFFNFused): both gates in one ``w12``, hidden size rounded to 8."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        hidden = (int(hidden * 2 / 3) + 7) // 8 * 8
        self.w12, self.w3 = nn.Linear(dim, 2 * hidden), nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        x1, x2 = self.w12(x).chunk(2, dim=-1)
        return self.w3(F.silu(x1) * x2)


class Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, ffn: str) -> None:
        super().__init__()
        self.norm1, self.attn, self.ls1 = nn.LayerNorm(dim, eps=1e-6), Attention(dim, num_heads), LayerScale(dim)
        feed_forward = SwiGLU if ffn == "swiglu" else Mlp
        self.norm2, self.mlp, self.ls2 = nn.LayerNorm(dim, eps=1e-6), feed_forward(dim, 4 * dim), LayerScale(dim)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    def __init__(self, patch_size: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # (B, 3, H, W) -> (B, H/p * W/p, dim)


class DINOv2ViT(nn.Module):
    """DINOv2's ViT backbone without registers, as the hub builds it (``img_size=518``, ``patch_size=14``,
    ``init_values=1.0``, ``block_chunks=0``, ``interpolate_offset=0.1``, no antialiasing); maps images
    (B, 3, H, W), H and W multiples of 14, to the normed CLS token (B, embed_dim)."""

    def __init__(
        self, embed_dim: int = 384, depth: int = 12, num_heads: int = 6, ffn: str = "mlp",
        patch_size: int = 14, img_size: int = 518,
    ) -> None:
        super().__init__()
        if ffn not in ("mlp", "swiglu"):
            raise ValueError(f"Expected argument `ffn` to be 'mlp' or 'swiglu', got {ffn!r}")
        self.patch_size = patch_size
        self.patch_embed = PatchEmbed(patch_size, embed_dim)
        grid = img_size // patch_size  # 37
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + 1, embed_dim))
        self.mask_token = nn.Parameter(torch.zeros(1, embed_dim))  # used in training only; in the checkpoint
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads, ffn) for _ in range(depth))
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)

    def interpolate_pos_encoding(self, num_patches: int, h: int, w: int) -> Tensor:
        """The position embedding resized to the patch grid of an (h, w) image, as DINOv2 does it."""
        N = self.pos_embed.shape[1] - 1
        if num_patches == N and w == h:
            return self.pos_embed
        pos_embed = self.pos_embed.float()
        dim, M = pos_embed.shape[-1], int(math.sqrt(N))
        h0, w0 = h // self.patch_size, w // self.patch_size
        # DINOv2's "historical kludge": a scale factor of (grid + 0.1) / M, not the output size; the
        # output size floors to the grid, and the sampling positions follow the scale factor.
        patch_pos_embed = F.interpolate(
            pos_embed[:, 1:].reshape(1, M, M, dim).permute(0, 3, 1, 2),
            scale_factor=((h0 + 0.1) / M, (w0 + 0.1) / M),
            mode="bicubic",
            antialias=False,
        )  # (1, dim, h0, w0)
        patch_pos_embed = patch_pos_embed.permute(0, 2, 3, 1).reshape(1, -1, dim)
        return torch.cat((pos_embed[:, :1], patch_pos_embed), dim=1).to(self.pos_embed.dtype)

    def forward(self, x: Tensor) -> Tensor:
        B, _, h, w = x.shape
        if h % self.patch_size or w % self.patch_size:
            raise ValueError(
                f"Expected argument `x` to have a height and width that are multiples of {self.patch_size}, got {h}x{w}"
            )
        x = self.patch_embed(x)  # (B, N, dim)
        x = torch.cat((self.cls_token.expand(B, -1, -1), x), dim=1)  # (B, 1 + N, dim)
        x = x + self.interpolate_pos_encoding(x.shape[1] - 1, h, w)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)[:, 0]  # x_norm_clstoken


def weights_file(name: str) -> WeightsFile:
    hub_name = ARCHITECTURES[name].hub_name
    return WeightsFile(
        kind=f"DINOv2 {name} weights",
        use="FD_DINOv2",
        names=(f"{hub_name}_pretrain.pth",),
        url=f"{BASE_URL}/{hub_name}/{hub_name}_pretrain.pth",  # no sha256 is published (torch hub checks none)
    )


class DINOv2Features(FeatureExtractor):
    """DINOv2's CLS features, with torch-fidelity's preprocessing: FD on them is FD_DINOv2.

    Images go in as uint8 in [0, 255] (float images in [-1, 1] are quantized to uint8 first) with 3
    channels; grayscale images are repeated to 3 channels. They are resized to 224 x 224 with
    TensorFlow 1.x's bilinear interpolation and normalized with ImageNet's mean and std, as
    torch-fidelity does.

    Args:
        name: the backbone: ``dinov2-vit-l-14`` (the default: the one of Stein et al.'s FD_DINOv2, and
            of EDM2's), ``dinov2-vit-s-14``, ``dinov2-vit-b-14``, ``dinov2-vit-g-14``.
        weights_path: Meta's checkpoint (``dinov2_vitl14_pretrain.pth`` for the default), or a folder
            that holds it; None: torch hub's cache (``$TORCH_HOME/hub/checkpoints``), downloaded there
            if missing.
        download: when ``weights_path`` is None and the cache lacks the file, download it.

    There are no logits (``num_classes`` is 0): ``extract`` returns an empty (B, 0) tensor for them.
    """

    num_classes = 0

    def __init__(
        self, name: str = "dinov2-vit-l-14", weights_path: Optional[str] = None, download: bool = True
    ) -> None:
        super().__init__()
        if name not in ARCHITECTURES:
            raise ValueError(f"Expected argument `name` to be one of {', '.join(ARCHITECTURES)}, got {name!r}")
        self.name = name
        arch = ARCHITECTURES[name]
        spec = weights_file(name)
        path = spec.resolve(weights_path, download, download_url_to_file)  # looked up here: tests replace it
        self.weights_path = str(path)
        state_dict = spec.load_state_dict(path)
        with torch.device("meta"):  # no memory, no random init: the checkpoint's tensors become the parameters
            self.model = DINOv2ViT(arch.embed_dim, arch.depth, arch.num_heads, arch.ffn)
        try:
            self.model.load_state_dict(state_dict, assign=True)  # strict: the checkpoint's keys and shapes, no other
        except UNREADABLE as err:  # another backbone's checkpoint, or other keys
            raise ConfigError(spec.unreadable_message(path, err)) from err
        self.model.float()
        self.num_features = arch.embed_dim
        self.requires_grad_(False).eval()

    def extract(self, images: Tensor) -> tuple[Tensor, Tensor]:
        x = rgb_uint8(images)  # (B, 3, H, W) uint8
        x = interpolate_bilinear_2d_like_tensorflow1x(x.float(), size=(INPUT_SIZE, INPUT_SIZE), align_corners=False)
        features = self.model(TF.normalize(x, MEAN, STD)).float()  # (B, embed_dim)
        return features, features.new_zeros(features.shape[0], 0)

    def identity(self) -> dict[str, str]:
        return {
            "extractor": self.name,
            "features": str(self.num_features),
            "weights_sha256": self._file_sha256(self.weights_path),
            "resize": f"uint8 RGB (grayscale repeated), TF1 bilinear to {INPUT_SIZE}x{INPUT_SIZE}, ImageNet mean/std",
        }
