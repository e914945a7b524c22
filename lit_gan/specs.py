"""Plain-data descriptions of callables, so that checkpoints load with ``weights_only=True``, and
the call of such a callable with a hyperparameter error in one line.

A class or ``functools.partial`` of a class becomes ``{"class_path": ..., "init_args": {...}}``,
the same shape the CLI writes, and such a dict becomes a callable again. Used by every layer
(the GAN families, the domain classifier): it imports nothing of lit-gan but its errors.
"""

import importlib
from functools import partial
from typing import Any, Callable

from lit_gan.errors import ConfigError, one_line


def _dotted(obj: Any) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


def _importable(obj: Any) -> bool:
    return callable(obj) and hasattr(obj, "__qualname__") and "<" not in obj.__qualname__


def to_spec(obj: Any) -> Any:
    """Replace classes and keyword-only partials, at any depth, by class_path dicts."""
    if isinstance(obj, partial) and not obj.args and _importable(obj.func):
        return {"class_path": _dotted(obj.func), "init_args": to_spec(obj.keywords)}
    if isinstance(obj, type) or (_importable(obj) and not isinstance(obj, (str, bytes))):
        return {"class_path": _dotted(obj), "init_args": {}}
    if isinstance(obj, dict):
        return {k: to_spec(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_spec(v) for v in obj)
    return obj


def from_spec(obj: Any) -> Any:
    """A class_path dict becomes ``partial(cls, **init_args)``; anything else is returned as it is."""
    if not (isinstance(obj, dict) and "class_path" in obj):
        return obj
    module, _, name = obj["class_path"].rpartition(".")
    target: Any = importlib.import_module(module)
    for part in name.split("."):
        target = getattr(target, part)
    return partial(target, **obj.get("init_args", {}))


def build(name: str, factory: Callable[[Any], Any], arg: Any) -> Any:
    """``factory(arg)``; torch refusing a hyperparameter (``betas``, ``lr``, ...) is one line naming ``name``."""
    try:
        return factory(arg)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"`{name}`: {one_line(err)}") from err
