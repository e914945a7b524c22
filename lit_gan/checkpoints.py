"""What a GAN checkpoint holds beyond Lightning's, and the checks of a checkpoint before Lightning
restores it: readable, plain data, the right family and shapes.

Training state. Beside the weights, optimizers, schedulers and loops that Lightning saves, a GAN
checkpoint holds the critic's phase (``critic_steps``: critic updates so far, so that a resumed
run makes its next generator update where the uninterrupted run would), the updates skipped for
non-finite values, the family (``lit_gan_family``) and the random states of torch, CUDA, numpy
and python (rank 0's, the same on every rank: see ``AdversarialModule.draw``), all plain data.

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
import random
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from lightning.pytorch import LightningModule, Trainer

from lit_gan.errors import UNREADABLE, ConfigError, NonFiniteError, unsafe_pickle_reason

FAMILY_KEY = "lit_gan_family"
SPECIAL = {"last", "best", "hpc", "registry"}  # ckpt_path values that Lightning resolves itself


def rng_states() -> dict[str, Any]:
    """The random states of torch (CPU and CUDA), numpy and python, as plain data (weights_only loads them)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [kind, keys.tolist(), pos, has_gauss, cached],
        "python": random.getstate(),
    }


def set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    random.setstate(tuple(x if not isinstance(x, list) else tuple(x) for x in states["python"]))


def other_family(checkpoint: dict[str, Any], model: LightningModule) -> Optional[str]:
    """The family a checkpoint holds when ``model`` cannot load it (subclasses load their bases'); else None."""
    family = checkpoint.get(FAMILY_KEY)
    return family if family is not None and family not in {c.__qualname__ for c in type(model).__mro__} else None


def save_training_state(checkpoint: dict[str, Any], model: LightningModule, critic_steps: int, skipped_updates: int) -> None:
    """Add the GAN's training state to ``checkpoint``; refuse one with NaN/Inf weights before anything
    is written, so that it never replaces a good one."""
    bad = [k for k, v in checkpoint["state_dict"].items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise NonFiniteError(f"refusing to save a checkpoint at step {model.global_step}: non-finite weights in {bad[0]}")
    checkpoint["critic_steps"] = int(critic_steps)
    checkpoint["skipped_updates"] = int(skipped_updates)
    checkpoint[FAMILY_KEY] = type(model).__qualname__
    checkpoint["rng_states"] = rng_states()


def load_training_state(checkpoint: dict[str, Any], model: LightningModule) -> tuple[int, int, Optional[dict[str, Any]]]:
    """(critic_steps, skipped_updates, random states) of ``checkpoint``, refused if of another family.
    The random states are to be set when training starts, after Lightning's own seeding."""
    family = other_family(checkpoint, model)
    if family is not None:
        raise ConfigError(f"the checkpoint holds a {family}, not a {type(model).__qualname__}")
    return int(checkpoint.get("critic_steps", 0)), int(checkpoint.get("skipped_updates", 0)), checkpoint.get("rng_states")


def check_resumed_step(max_steps: int, step: int) -> None:
    """Refuse a ``max_steps`` below the ``step`` a run resumes at (it counts every generator update,
    the checkpoint's included); equal is a finished run resumed (a requeued job), which ends at once."""
    if 0 <= max_steps < step:
        raise ConfigError(
            f"`trainer.max_steps` ({max_steps}) is below the step of `ckpt_path` ({step}):"
            f" max_steps counts all generator updates, the checkpoint's included; give more than {step}"
        )


def mark_checkpoints_saved(trainer: Trainer) -> None:
    """Tell every ModelCheckpoint that this step's checkpoint exists. Lightning keeps the step it last
    saved at out of the checkpoint, and after a resume at step N with n_critic > 1 the step stays N for
    n_critic - 1 batches: ``every_n_train_steps`` would write step N's file again, a batch later, over
    the one the run resumed from. (0 at the start of a run, as Lightning starts it.)"""
    for callback in trainer.checkpoint_callbacks:
        if hasattr(callback, "_last_global_step_saved"):
            callback._last_global_step_saved = trainer.global_step


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
    family = other_family(checkpoint, model)
    if family is not None:
        raise ConfigError(f"`ckpt_path` {path} holds a {family}, but the config builds a {type(model).__qualname__}")
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
