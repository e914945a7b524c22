"""Checks a checkpoint before Lightning restores it: readable, plain data, the right family and shapes.

Lightning (2.6) loads checkpoints with ``torch.load(weights_only=True)``, so a crafted pickle cannot
run code; these checks turn its multi-line errors, and the silent ones (a WGAN checkpoint restored
into an f-GAN: same parameter names), into one line that says what is wrong. Note that
``LightningCLI`` builds the model from the checkpoint's own hyperparameters when it has them (its
``_parse_ckpt_path``), so through ``lit-gan`` a checkpoint restores the family and networks it was
trained with; ``check_fits`` guards the other paths (Python API, hand-made checkpoints). A checkpoint
that Lightning finds itself (``--ckpt_path last``) gets the same checks when it is loaded, through
``lit_gan.checkpoint_io.AtomicCheckpointIO``.
"""

import pickle
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import LightningModule

from lit_gan.errors import UNREADABLE, ConfigError, unsafe_pickle_reason

FAMILY_KEY = "lit_gan_family"
SPECIAL = {"last", "best", "hpc", "registry"}  # ckpt_path values that Lightning resolves itself


def read_checkpoint(path: str) -> dict[str, Any]:
    """Load ``path`` as plain data; raise ``ConfigError`` if it is missing, unreadable or not plain data."""
    if not Path(path).is_file():
        raise ConfigError(f"`ckpt_path` {path} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except UNREADABLE as err:
        raise load_error(path, err) from err
    return check_loaded(checkpoint, path)


def load_error(path: str, err: BaseException) -> ConfigError:
    """The one-line ConfigError for a checkpoint that ``torch.load`` (``weights_only=True``) could not load."""
    if isinstance(err, FileNotFoundError):
        return ConfigError(f"`ckpt_path` {path} does not exist")
    if isinstance(err, pickle.UnpicklingError):
        why = unsafe_pickle_reason(err)
        return ConfigError(f"refusing to load `ckpt_path` {path}: it holds more than tensors and plain data ({why})")
    # truncated, corrupt, or another kind of file (YAML, empty): torch says it many ways
    why = next(iter(str(err).splitlines()), "") or type(err).__name__
    return ConfigError(f"`ckpt_path` {path} is not a readable checkpoint (truncated, corrupt or another kind of file): {why}")


def check_loaded(checkpoint: Any, path: str) -> dict[str, Any]:
    """``checkpoint`` (as loaded from ``path``) if it is a Lightning checkpoint, else a ConfigError."""
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ConfigError(f"`ckpt_path` {path} is not a Lightning checkpoint (no state_dict)")
    return checkpoint


def check_fits(checkpoint: dict[str, Any], path: str, model: LightningModule) -> None:
    """Raise ``ConfigError`` if ``checkpoint`` is of another family or its weights do not fit ``model``."""
    family, expected = checkpoint.get(FAMILY_KEY), type(model).__qualname__
    if family is not None and family not in {c.__qualname__ for c in type(model).__mro__}:
        raise ConfigError(f"`ckpt_path` {path} holds a {family}, but the config builds a {expected}")
    own = model.state_dict()
    for key, value in checkpoint["state_dict"].items():
        if key not in own:
            raise ConfigError(f"`ckpt_path` {path} does not fit the model: it has {key}, which the model has not")
        if tuple(value.shape) != tuple(own[key].shape):
            raise ConfigError(
                f"`ckpt_path` {path} does not fit the model: {key} is {tuple(value.shape)} there, {tuple(own[key].shape)} here"
            )
    missing = sorted(set(own) - set(checkpoint["state_dict"]))
    if missing:
        raise ConfigError(f"`ckpt_path` {path} does not fit the model: it lacks {missing[0]}")
