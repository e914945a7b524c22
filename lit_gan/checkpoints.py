"""What a GAN checkpoint holds beyond Lightning's, and the checks of a checkpoint before Lightning
restores it: readable, plain data, whole (tensors in its state_dict, none NaN or Inf, counters that
count), the right family and shapes, and, to resume ``fit``, more than the weights.

Training state. Beside the weights, optimizers, schedulers and loops that Lightning saves, a GAN
checkpoint holds the updates skipped for non-finite values, the family (``lit_gan_family``) and the random states of torch, CUDA, numpy
and python (rank 0's, the same on every rank: see ``AdversarialModule.draw``), all plain data.

Every checkpoint lit-gan reads comes through one door, ``open_checkpoint``: ``torch.load(weights_only=True)``,
so a crafted pickle cannot run code, then the checks below, which turn torch's and Lightning's multi-line
errors, and the silent ones (a WGAN checkpoint restored into an f-GAN: same parameter names), into one
line that says what is wrong, and refuse hyperparameters that would import a module outside lit-gan and
torch before anything is built from them. Through ``lit-gan``, the CLI opens an explicit ``ckpt_path``
before anything is set up or written, and LightningCLI's model is built from the hyperparameters it read
(``compat.config_from_checkpoint``, not a second read of the file); a checkpoint that Lightning finds
itself (``--ckpt_path last``) comes through ``lit_gan.checkpoint_io.AtomicCheckpointIO``, and
``AdversarialModule.on_load_checkpoint`` checks it again against the model. ``load_from_checkpoint``
(of every family and of the Classifier) reads through ``load_through_door``; ``lit_gan.load`` too.
"""

import contextlib
import io
import pickle
import random
import reprlib
from typing import Any, Collection, Optional

import numpy as np
import torch
from fsspec.core import url_to_fs
from lightning.pytorch import LightningModule

from lit_gan.compat import default_map_location
from lit_gan.errors import UNREADABLE, ConfigError, NonFiniteError, one_line, unsafe_pickle_reason
from lit_gan.specs import untrusted_import

FAMILY_KEY = "lit_gan_family"
SPECIAL = {"last", "best", "hpc", "registry"}  # ckpt_path values that Lightning resolves itself

# The counters a checkpoint holds beside the weights, and what each counts (all ints >= 0).
COUNTS = {"global_step": "generator updates", "critic_steps": "critic updates", "skipped_updates": "updates skipped"}


def _holds(value: Any) -> str:
    """'a str ('abc')', 'an int (3)': what an edited entry holds, in a message (a long value cut short)."""
    name = type(value).__name__
    shown = " ".join(reprlib.repr(value).split())  # one line (a tensor's repr has several)
    return f"{'an' if name[:1] in 'aeiou' else 'a'} {name} ({shown})"


def _named(path: Optional[str]) -> str:
    return f"`ckpt_path` {path}" if path else "the checkpoint"  # load_from_checkpoint has no trainer to name it


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


def first_nonfinite(state_dict: dict[str, Any]) -> Optional[str]:
    """The name of the first floating tensor of ``state_dict`` that holds a NaN or an Inf, else None."""
    return next((k for k, v in state_dict.items()
                 if isinstance(v, torch.Tensor) and v.is_floating_point() and not torch.isfinite(v).all()), None)


def save_training_state(checkpoint: dict[str, Any], model: LightningModule, skipped_updates: int) -> None:
    """Add the GAN's training state to ``checkpoint``; refuse one with NaN/Inf weights before anything
    is written, so that it never replaces a good one."""
    bad = first_nonfinite(checkpoint["state_dict"])
    if bad is not None:
        raise NonFiniteError(f"refusing to save a checkpoint at step {model.global_step}: non-finite weights in {bad}")
    checkpoint["skipped_updates"] = int(skipped_updates)
    checkpoint[FAMILY_KEY] = type(model).__qualname__
    checkpoint["rng_states"] = rng_states()


def load_training_state(checkpoint: dict[str, Any], model: LightningModule,
                        path: Optional[str] = None) -> tuple[int, Optional[dict[str, Any]]]:
    """(skipped_updates, random states) of ``checkpoint`` (read from ``path``), refused if of another family.
    The random states are to be set when training starts, after Lightning's own seeding."""
    family = other_family(checkpoint, model)
    if family is not None:
        own = type(model).__qualname__
        raise ConfigError(f"{_named(path)} holds a {family}, not a {own} (the model loading it): give a checkpoint"
                          f" of a {own}, or build a {family}")
    return int(checkpoint.get("skipped_updates", 0)), checkpoint.get("rng_states")


def check_iteration_boundary(checkpoint: dict[str, Any], n_critic: int, path: Optional[str] = None) -> None:
    """Refuse to resume a checkpoint that an earlier lit-gan wrote between two critic updates of one generator
    iteration (its ``critic_steps`` not a multiple of ``n_critic``): a batch is a whole iteration now, and
    the run cannot go on from the middle of one exactly. One written at an iteration's end resumes."""
    critic_steps = checkpoint.get("critic_steps")
    if isinstance(critic_steps, int) and critic_steps % n_critic:
        raise ConfigError(
            f"{_named(path)} was written by an earlier lit-gan after critic update {critic_steps % n_critic} of"
            f" {n_critic} of a generator iteration, which this version (one batch, one whole iteration) cannot go on"
            " from exactly: resume it with the lit-gan that wrote it, or start a new fit from its weights"
            " (`validate`, `test`, `predict` and `evaluate` take it as it is)"
        )


def check_resumed_step(max_steps: int, step: int) -> None:
    """Refuse a ``max_steps`` below the ``step`` a run resumes at (it counts every generator update,
    the checkpoint's included); equal is a finished run resumed (a requeued job), which ends at once."""
    if 0 <= max_steps < step:
        raise ConfigError(
            f"`trainer.max_steps` ({max_steps}) is below the step of `ckpt_path` ({step}):"
            f" max_steps counts all generator updates, the checkpoint's included; give more than {step}"
        )


def open_checkpoint(
    path: Any,
    name: str = "ckpt_path",
    *,
    allowed_imports: Optional[Collection[str]] = None,
    trust_hint: str = "",
    gan: Optional[bool] = None,
    builds: str = "",
    resume: bool = False,
    model: Optional[LightningModule] = None,
    map_location: Any = "cpu",
) -> dict[str, Any]:
    """The one door through which lit-gan opens a checkpoint, for every caller: ``fit``'s and the other
    subcommands' ``ckpt_path`` (an explicit path, and the ``last`` or ``hpc`` file Lightning finds, through
    ``AtomicCheckpointIO``), ``lit_gan.load`` and ``load_from_checkpoint``, ``evaluate``, ``generate``, and
    ``ClassifierFeatures``. In order, each step a one-line ``ConfigError`` naming the argument ``name``:

    1. read as plain data (``torch.load(weights_only=True)``, local or through fsspec) and whole: a
       Lightning checkpoint whose state_dict holds tensors, none NaN or Inf, with counters that count;
    2. its imports, where ``allowed_imports`` is given: a class or function its hyperparameters name outside
       lit_gan, torch.optim, torch.nn and ``allowed_imports`` is refused before anything is imported
       (``trust_hint``: how the caller lets a user trust one);
    3. its kind, where ``gan`` is given (True: the caller builds a GAN; False: a classifier; ``builds``:
       what it builds, in words, "the config builds a lit_gan.GAN"):
       the other kind is refused; ``resume``: ``fit`` goes on from it, so it must hold more than weights;
    4. its fit to ``model``, where given: the same family, every weight's name and shape.

    Where the model is built only later (the CLI: after the checks that must come before a run folder is
    written), its caller runs step 4 then with ``check_fits``."""
    try:
        checkpoint = _read(path, map_location)
        if allowed_imports is not None:
            _check_imports(checkpoint, path, allowed_imports, trust_hint)
        if gan is not None:
            _check_kind(checkpoint, path, gan, builds)
        if resume:
            check_resumable(checkpoint, path)
        if model is not None:
            check_fits(checkpoint, path, model, name)
    except ConfigError as err:
        if name == "ckpt_path":
            raise
        raise ConfigError(str(err).replace("`ckpt_path`", f"`{name}`")) from err
    return checkpoint


def vetted(checkpoint: dict[str, Any]) -> io.BytesIO:
    """A checkpoint that ``open_checkpoint`` read, as a file for Lightning's ``load_from_checkpoint``: Lightning
    reads the vetted data, never the file itself."""
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    buffer.seek(0)
    return buffer


def _read(path: Any, map_location: Any) -> dict[str, Any]:
    if hasattr(path, "read"):  # a file object (Lightning's load_from_checkpoint takes one too)
        source: Any = contextlib.nullcontext(path)
    else:
        try:
            fs, local = url_to_fs(str(path))
        except (ValueError, ImportError) as err:  # an unknown protocol, or one whose package is not installed
            raise ConfigError(f"`ckpt_path` {path} cannot be read: {one_line(err)}") from err
        if not fs.isfile(local):
            raise ConfigError(f"`ckpt_path` {path} does not exist")
        source = fs.open(local, "rb")
    try:
        with source as file:
            checkpoint = torch.load(file, map_location=map_location, weights_only=True)
    except UNREADABLE as err:
        raise load_error(str(path), err) from err
    checkpoint = check_loaded(checkpoint, str(path))
    check_contents(checkpoint, str(path))
    return checkpoint


def lightning_load(cls: type, checkpoint: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
    """Lightning's own ``load_from_checkpoint`` of ``cls`` (its overrides skipped) on a checkpoint that
    ``open_checkpoint`` has read: Lightning reads the vetted data, never the file."""
    return LightningModule.load_from_checkpoint.__func__(cls, vetted(checkpoint), *args, **kwargs)


def load_through_door(cls: type, path: Any, args: tuple, kwargs: dict[str, Any],
                      trust_hint: str = "if you trust the file, pass them as `trusted_imports`") -> Any:
    """``cls.load_from_checkpoint(path, *args, **kwargs)`` through the door: the file is read and checked
    once (``kwargs``' ``trusted_imports`` allowed), and Lightning builds the model from the vetted data
    (:func:`lightning_load`); ``map_location`` as Lightning's (None: where it was saved).
    ``hparams_file`` is refused: its hyperparameters would replace the checked ones."""
    trusted = kwargs.pop("trusted_imports", ())
    if kwargs.get("hparams_file") is not None or (len(args) > 1 and args[1] is not None):
        raise ConfigError("Expected argument `hparams_file` to be left out: lit-gan builds a model only from the"
                          " checked hyperparameters of its checkpoint; pass the values to change as keyword arguments")
    map_location = kwargs.get("map_location", args[0] if args else None) or default_map_location()
    checkpoint = open_checkpoint(path, "checkpoint_path", allowed_imports=trusted, trust_hint=trust_hint,
                                 map_location=map_location)
    return lightning_load(cls, checkpoint, *args, **kwargs)


def _check_imports(checkpoint: dict[str, Any], path: str, allowed: Collection[str], trust_hint: str) -> None:
    source = f"`ckpt_path` {path}"
    foreign = untrusted_import(checkpoint.get("hyper_parameters") or {}, allowed=allowed, source=source)
    if foreign is not None:
        raise ConfigError(
            f"refusing {source}: its hyperparameters name {foreign!r}, outside lit_gan, torch.optim and torch.nn, and"
            f" building the model from them would import (or read) it and run its code{'; ' if trust_hint else ''}"
            f"{trust_hint}"
        )


def held(checkpoint: dict[str, Any]) -> Optional[str]:
    """What a checkpoint holds, in words: the class its hyperparameters or the loop name ("a lit_gan.GAN"),
    else, for one written through the Python API, told by its weights; None for no weights at all."""
    named = (checkpoint.get("hyper_parameters") or {}).get("_class_path") or checkpoint.get(FAMILY_KEY)
    if named:
        return f"a {named}"
    keys = list(checkpoint["state_dict"])
    if not keys:
        return None
    if any(k.startswith("generator.") for k in keys):
        return "a GAN"
    return "a lit_gan.metrics.Classifier" if any(k.startswith("network.") for k in keys) else "no generator"


def _check_kind(checkpoint: dict[str, Any], path: str, gan: bool, builds: str) -> None:
    """A GAN's checkpoint where the caller builds a classifier, or the other way round: LightningCLI would
    fail on its hyperparameters with an unrelated message ("Option 'network' is not accepted"), or build
    and train the other kind of model from them."""
    keys = checkpoint["state_dict"]
    if keys and any(k.startswith("generator.") for k in keys) != gan:
        want = "a GAN fit" if gan else "a Classifier fit"
        builds = builds or f"{'a GAN' if gan else 'a classifier'} is wanted"
        raise ConfigError(f"`ckpt_path` {path} holds {held(checkpoint)}, but {builds}: give a checkpoint of {want}")


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
    if not isinstance(checkpoint["state_dict"], dict):
        raise ConfigError(f"`ckpt_path` {path} is not a Lightning checkpoint: its state_dict is"
                          f" {_holds(checkpoint['state_dict'])}, not a mapping of names to tensors")
    return checkpoint


def check_contents(checkpoint: dict[str, Any], path: Optional[str]) -> None:
    """Refuse what an edited or damaged checkpoint may hold that Lightning would restore silently or fail
    on with a traceback: a state_dict entry that is not a tensor, a counter that is not an int >= 0, NaN or
    Inf weights (which ``save_training_state`` never writes: the run would go on from NaN, or validate to NaN)."""
    for key, value in checkpoint["state_dict"].items():
        if not isinstance(key, str):
            raise ConfigError(f"{_named(path)} was edited or is damaged: its state_dict has {_holds(key)} as a name,"
                              " not a str")
        if not isinstance(value, torch.Tensor) and not key.endswith("_extra_state"):  # a module's get_extra_state()
            raise ConfigError(f"{_named(path)} was edited or is damaged: its state_dict's {key} holds {_holds(value)},"
                              " not a tensor")
    for key, counted in COUNTS.items():
        value = checkpoint.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"{_named(path)}: expected its `{key}` to be an int >= 0 ({counted} so far),"
                              f" got {_holds(value)}")
    hparams = checkpoint.get("hyper_parameters", {})
    if not isinstance(hparams, dict) or not all(isinstance(key, str) for key in hparams):
        raise ConfigError(f"{_named(path)} was edited or is damaged: its hyper_parameters are {_holds(hparams)}, not a"
                          " mapping of names to values")
    bad = first_nonfinite(checkpoint["state_dict"])
    if bad is not None:
        what = "NaN" if torch.isnan(checkpoint["state_dict"][bad]).any() else "Inf"
        raise ConfigError(f"refusing {_named(path)}: non-finite weights ({what}) in {bad}; give an earlier checkpoint"
                          " of the run")


def check_resumable(checkpoint: dict[str, Any], path: Optional[str]) -> None:
    """Refuse to resume ``fit`` from a checkpoint without the optimizers' state, such as one that
    ``ModelCheckpoint(save_weights_only=True)`` wrote (Lightning would stop on a KeyError once set up)."""
    missing = [key for key in ("optimizer_states", "lr_schedulers") if key not in checkpoint]
    if not missing:
        return
    hparams = checkpoint.get("hyper_parameters")
    family = (hparams.get("_class_path") if isinstance(hparams, dict) else None) or checkpoint.get(FAMILY_KEY)
    raise ConfigError(
        f"{_named(path)} holds weights only (no {', '.join(missing)}, as `save_weights_only` saves), so `fit`"
        " cannot resume from it; `validate`, `test` and `predict` take it as it is, and a new run can start from its"
        f" weights: pass `{family or 'YourModel'}.load_from_checkpoint(path)` to `Trainer.fit` without `ckpt_path`"
    )


def check_fits(checkpoint: dict[str, Any], path: str, model: LightningModule, name: str = "ckpt_path") -> None:
    """Raise ``ConfigError`` if ``checkpoint`` is of another family or its weights do not fit ``model``."""
    family = other_family(checkpoint, model)
    if family is not None:
        raise ConfigError(f"`{name}` {path} holds a {family}, but the config builds a {type(model).__qualname__}")
    own = model.state_dict()
    for key, value in checkpoint["state_dict"].items():
        if key not in own:
            raise ConfigError(f"`{name}` {path} does not fit the model: it has {key}, which the model has not")
        if tuple(value.shape) != tuple(own[key].shape):
            raise ConfigError(
                f"`{name}` {path} does not fit the model: {key} is {tuple(value.shape)} there, {tuple(own[key].shape)} here"
            )
    missing = sorted(set(own) - set(checkpoint["state_dict"]))
    if missing:
        raise ConfigError(f"`{name}` {path} does not fit the model: it lacks {missing[0]}")
