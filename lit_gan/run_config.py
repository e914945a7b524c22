"""What a run's own files say of it: the data module of a checkpoint's run, built from the ``config.yaml``
that ``lit-gan fit`` wrote beside its ``checkpoints/`` (:mod:`lit_gan.callbacks.save_config`), so that
``lit-gan evaluate --checkpoint CKPT`` needs no ``--data``.

The checkpoint itself does not say its data: lit-gan's data modules save no hyperparameters (Lightning
would keep them as ``datamodule_hyper_parameters``), only their stream's position under their class's name.
``config.yaml`` is a file anyone can edit, and building its data imports the class it names and runs its
code: so that class must be a ``LightningDataModule`` defined in lit_gan, and it is called with the plain
values of ``init_args`` (a nested ``class_path`` is refused), as jsonargparse would, without jsonargparse
reading any string as a class, a callable or a file. Anything else is refused in one line before any
import, as :func:`lit_gan.specs.untrusted_import` refuses a checkpoint's foreign classes.
"""

import importlib
import inspect
from pathlib import Path
from typing import Any, Optional

from lightning.pytorch import LightningDataModule

from lit_gan.cli_checks import check_config_file
from lit_gan.errors import ConfigError, one_line
from lit_gan.yaml_checks import READERS

CONFIG_NAME = "config.yaml"  # SaveConfigToLogger's, in the run's folder
NESTED_KEYS = ("class_path", "_class_path", "init_args")  # what would make a value a class to build


def config_of(checkpoint: str) -> Path:
    """Where the config of the run that wrote ``checkpoint`` is: ``<run>/config.yaml`` for
    ``<run>/checkpoints/x.ckpt`` (ModelCheckpoint's folder, with or without a logger), else beside it."""
    folder = Path(checkpoint).resolve().parent
    return (folder.parent if folder.name == "checkpoints" else folder) / CONFIG_NAME


def _nested_class(value: Any, where: str) -> Optional[str]:
    """The first key of ``NESTED_KEYS`` at any depth of ``value``, as ``where.key.path``; None if none."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in NESTED_KEYS:
                return f"{where}.{key}"
            found = _nested_class(item, f"{where}.{key}")
            if found:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = _nested_class(item, f"{where}[{i}]")
            if found:
                return found
    return None


def data_class(class_path: Any, source: str) -> type[LightningDataModule]:
    """The ``LightningDataModule`` subclass of lit_gan that ``class_path`` names; only a path under ``lit_gan.``
    is imported (lit-gan's own code), and what it names must be defined there (not ``lit_gan.data.order.os``)."""
    refusal = (f"{source} names the data class {class_path!r}, not a data module of lit_gan: lit-gan builds no"
               " other code from a run's files; give the data as `--data` (or a folder as `--real`)")
    if not isinstance(class_path, str) or not class_path.startswith("lit_gan."):
        raise ConfigError(refusal)
    module_name, _, name = class_path.rpartition(".")
    try:
        target = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError):
        raise ConfigError(refusal) from None
    if not (inspect.isclass(target) and issubclass(target, LightningDataModule)
            and f"{target.__module__}.".startswith("lit_gan.")):
        raise ConfigError(refusal)
    return target


def read_run_config(path: Path) -> Any:
    """A run's config.yaml as plain data, checked as a config given to ``--config`` is (UTF-8 YAML, a mapping,
    no key twice, aliases that do not explode) and read as jsonargparse reads it; one line when it is not."""
    check_config_file(str(path))
    try:
        return READERS[0](path.read_text(encoding="utf-8"))
    except Exception as err:  # what check_config_file's composer let through and this reader refuses
        raise ConfigError(f"{path}: {one_line(err)}") from err


def data_of_run(checkpoint: str, name: str = "checkpoint") -> tuple[LightningDataModule, Path]:
    """(the data module of the run that wrote ``checkpoint``, as its config.yaml says; that file). ``name``: the
    argument that gave the checkpoint, named in the errors."""
    path = config_of(checkpoint)
    if not path.is_file():
        raise ConfigError(f"Expected the run of `{name}` {checkpoint} to have its {CONFIG_NAME} at {path} (`lit-gan"
                          f" fit` writes it beside the run's checkpoints/), to know its data; there is none: give the"
                          " data as `--data` (or a folder of real images as `--real`)")
    config = read_run_config(path)
    section = config.get("data") if isinstance(config, dict) else None
    source = f"the run's {path}"
    if not isinstance(section, dict):
        raise ConfigError(f"{source} names no data module (`data: {section!r}`): give the data as `--data` (or a"
                          " folder as `--real`)")
    cls = data_class(section.get("class_path"), source)
    init_args = section.get("init_args") or {}
    if not isinstance(init_args, dict):
        raise ConfigError(f"{source}: its `data.init_args` is a {type(init_args).__name__}, not a mapping of names to"
                          " values")
    nested = _nested_class(init_args, "data.init_args")
    if nested:
        raise ConfigError(f"{source} holds {nested}: a run's data module takes plain values, and lit-gan builds no"
                          " other class from a run's files; give the data as `--data`")
    try:
        return cls(**init_args), path
    except (TypeError, ValueError) as err:  # ConfigError included: an edited value, another version's arguments
        raise ConfigError(f"{source}: its `data` does not build a {cls.__name__}: {one_line(err)}") from err
