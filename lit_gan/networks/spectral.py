"""Spectral normalization (Miyato et al. 2018): every weight W of the critic is used as W / sigma(W),
sigma its largest singular value, W taken as a matrix (a convolution's as (C_out, C_in * kh * kw),
as in the paper). With 1-Lipschitz activations this bounds the critic's Lipschitz constant; other
layers are left alone (``norm: batch`` is allowed, but BatchNorm then rescales as it likes).

sigma is estimated by power iteration (Miyato et al. 2018, Algorithm 1), one step per forward
pass, on vectors u and v kept as buffers (``parametrizations.weight.0._u`` and ``_v``). The step
runs only in training-mode forwards; an eval-mode forward uses the last estimate and changes
nothing. The buffers are plain tensors: state dicts and checkpoints load with
``torch.load(weights_only=True)``, and ``copy.deepcopy`` copies them. Under DDP every rank runs
the same step on the same weights and the same u, so the ranks keep identical buffers.
"""

from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

_NORMALIZED = (nn.Linear, nn.modules.conv._ConvNd)  # Linear and every convolution (transposed ones on dim 1)


def is_spectrally_normalized(module: nn.Module) -> bool:
    """Whether any layer of ``module`` has a parametrized (spectrally normalized) weight."""
    return any(parametrize.is_parametrized(m) for m in module.modules())


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectrally normalize the weight of every Linear and convolution layer of ``module``, in
    place, and return it. Layers already normalized are left as they are. Raises ``ValueError``
    naming ``spectral_norm`` when ``module`` has no such layer: there would be nothing to normalize.
    """
    # is_parametrized first: reading a normalized weight in training mode would run a power iteration
    layers = [
        m for m in module.modules()
        if isinstance(m, _NORMALIZED) and (parametrize.is_parametrized(m, "weight") or m.weight is not None)
    ]
    if not layers:
        raise ValueError(
            f"Expected argument `spectral_norm` to apply to a network with a Linear or convolution layer,"
            f" {type(module).__name__} has none"
        )
    for layer in layers:
        if not parametrize.is_parametrized(layer, "weight"):
            spectral_norm(layer)  # one power iteration per training-mode forward, as in SNGAN
    return module
