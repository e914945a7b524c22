"""Plain-data descriptions of callables, so that checkpoints load with ``weights_only=True``, and
the call of such a callable with a hyperparameter error in one line, and the check that a
checkpoint's hyperparameters import nothing but lit-gan's and torch's classes.

A class or ``functools.partial`` of a class becomes ``{"class_path": ..., "init_args": {...}}``,
the same shape the CLI writes, and such a dict becomes a callable again. Used by every layer
(the GAN families, the domain classifier): it imports nothing of lit-gan but its errors.
"""

import importlib
import importlib.util
import inspect
import os
import re
from collections.abc import Collection, Iterator
from functools import partial
from typing import Any, Callable, Optional

from lit_gan.errors import ConfigError, one_line
from lit_gan.yaml_checks import MAX_VALUES, check_text_expansion, expanded_size, readings


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


TRUSTED = ("lit_gan.", "torch.optim.", "torch.nn.")  # what a checkpoint's hyperparameters may import
_IMPORT_PATH = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")


def _strings(node: Any, seen: set[int], depth: int = 0) -> Iterator[tuple[bool, str]]:
    """(is it a class path, the string) for every string at any depth of ``node``, and in what every string
    reads as (:func:`_read`)."""
    if isinstance(node, (dict, list, tuple)):
        if id(node) in seen:  # an alias of YAML (`&a [*a]`), a shared reference of a pickle: once is enough
            return
        seen.add(id(node))
    if isinstance(node, dict):
        for key, value in node.items():
            if depth == 0 and key == "_instantiator":  # Lightning's: LightningCLI drops it, load_from_checkpoint checks it
                continue
            if key in ("class_path", "_class_path") and isinstance(value, str):
                yield True, value
                yield from _read(value, seen, depth)  # a class path that is itself YAML
            else:
                yield from _strings(value, seen, depth + 1)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _strings(value, seen, depth + 1)
    elif isinstance(node, str):
        yield False, node
        yield from _read(node, seen, depth)


def _read(text: str, seen: set[int], depth: int) -> Iterator[tuple[bool, str]]:
    """A string read as jsonargparse reads it before it types it, and as ``yaml.safe_load`` and JSON do
    (``lit_gan.yaml_checks.readings``): whatever mapping or list comes out (block or flow, after a comment, a
    document marker or a tag, through anchors, with a tab) is looked into, and a scalar that differs from the
    text (``!!str x``, ``'x'``, ``x # note``) is checked too. Refused: a text whose aliases expand past a
    config's size, and one that names ``class_path`` where a reader fails (it cannot be looked into)."""
    check_text_expansion(text, "a string among them")
    values, failed = readings(text)
    for value in values:
        if isinstance(value, (dict, list)) or (isinstance(value, str) and value != text):
            yield from _strings(value, seen, depth + 1)
    if failed and "class_path" in text:
        yield True, text


def import_paths(node: Any) -> set[str]:
    """The strings of ``node`` (a config, classes and functions as class paths) that building it could import."""
    return {value for is_class, value in _strings(to_spec(node), set()) if is_class or _IMPORT_PATH.fullmatch(value)}


def _defined_in_trusted(path: str) -> bool:
    """Whether the object that ``path`` names is a module, class or function of lit_gan, torch.optim or
    torch.nn: jsonargparse also resolves a module's attribute, so ``lit_gan.data.order.os._exit`` is
    ``os._exit``. The longest prefix that is a module is imported (trusted code), then the attributes."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            target: Any = importlib.import_module(".".join(parts[:i]))
            break
        except ImportError:
            continue
    else:
        return False
    for name in parts[i:]:
        if not hasattr(target, name):
            return True  # names nothing: building fails to import it, and runs nothing
        target = getattr(target, name)
    module = target.__name__ if inspect.ismodule(target) else getattr(target, "__module__", None)
    return isinstance(module, str) and f"{module}.".startswith(TRUSTED)


def untrusted_import(hparams: Any, allowed: Collection[str] = (), source: str = "the checkpoint") -> Optional[str]:
    """The first string of a checkpoint's hyperparameters that building the model would import, call or
    read from outside lit_gan, torch.optim and torch.nn and that is not in ``allowed``; None if none.

    Building imports every ``class_path``, and jsonargparse also imports a dotted string given where
    a callable goes (``lr_lambda: os._exit``), parses a string holding YAML (``"{class_path: ...}"``)
    and reads a string naming a file as a config: importing runs a module's code, and the callable is
    then called. So these are untrusted: a class path, or a dotted string whose first part is an
    installed module (looked up without importing it; ``data.png`` is not), unless what it names is
    defined in lit_gan, torch.optim or torch.nn; and a string that names an existing file. Hyperparameters
    that cannot be checked (aliases or shared references that expand past a config's size, nesting past
    Python's recursion limit) are refused with a ConfigError that names ``source``.
    """
    try:
        if expanded_size(hparams, name="they") > MAX_VALUES:  # shared references of the pickle, which building copies
            raise ConfigError(f"refusing {source}: its hyperparameters expand to more than {MAX_VALUES:,} values through"
                              " shared references, which building the model would copy one by one")
        found = list(_strings(hparams, set()))
    except RecursionError:
        raise ConfigError(f"refusing {source}: its hyperparameters nest their values too deeply to be checked (a"
                          " model's are a few levels deep)") from None
    except ConfigError as err:
        if str(err).startswith("refusing"):
            raise
        raise ConfigError(f"refusing {source}: in its hyperparameters, {err}") from None
    for is_class, value in found:
        shown = value if len(value) <= 200 else f"{value[:120]}...{value[-40:]}"  # it is named in one line
        path = value.strip()
        if value in allowed or path in allowed:
            continue
        if not is_class and os.path.exists(value):
            return shown
        if path.startswith(TRUSTED):
            if not _defined_in_trusted(path):
                return shown
        elif is_class or (_IMPORT_PATH.fullmatch(path) and importlib.util.find_spec(path.split(".")[0]) is not None):
            return shown
    return None
