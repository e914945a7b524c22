"""Checks of what ``lit-gan`` is given that types cannot express; each raises ``ConfigError`` with one
line naming the argument (the file and line for a config), which the CLI reports with exit code 2.

They run before anything is written: the config file when it is read, the other values right after
parsing (before Lightning reads a checkpoint), and what needs built objects right after instantiation.
"""

import inspect
import os
import re
from importlib import import_module
from pathlib import Path
from typing import Any, Optional

import yaml
from jsonargparse import Namespace
from torch import nn
from torch.nn.utils import parametrize
from lightning.pytorch import LightningDataModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint, Timer
from lightning.pytorch.utilities.exceptions import MisconfigurationException

from lit_gan.compat import start_method
from lit_gan.errors import ConfigError
from lit_gan.objectives import AdversarialModule
from lit_gan.specs import import_paths
from lit_gan.yaml_checks import check_expansion, check_text_expansion

_KINDS = {yaml.SequenceNode: "a list", yaml.ScalarNode: "a single value"}


def check_config_file(path: str) -> None:
    """A ``--config`` file: UTF-8 text, valid YAML, a non-empty mapping, no key twice in one mapping.

    jsonargparse reads it with PyYAML, where a repeated key silently keeps the last value; the file is
    composed here (nodes only, so no value is interpreted differently from jsonargparse's loader).
    """
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path} is not a text file (not UTF-8: byte {err.object[err.start]:#04x} at position"
                          f" {err.start}); expected a YAML config") from err
    except OSError:
        return  # missing or unreadable: jsonargparse names the file itself
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        raise ConfigError(f"{path} nests its values too deeply to be read (a config is a few levels deep)") from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        context = f" ({err.context} at line {err.context_mark.line + 1})" if err.context and err.context_mark else ""
        raise ConfigError(f"{path}{where}: {err.problem}{context}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: {' '.join(str(err).split())}") from err
    if node is None:
        raise ConfigError(f"{path} is empty; expected a YAML mapping with keys such as trainer, model, data")
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(f"{path} holds {_KINDS.get(type(node), 'no mapping')}, not a mapping with keys such as"
                          " trainer, model, data")
    check_expansion(node, path)  # before anything walks the tree with its aliases expanded
    _check_no_repeated_key(node, path)


def check_command_line(args: Any) -> None:
    """The values given on the command line, which jsonargparse reads as YAML too, and the files given as values
    (``--model m.yaml``, read as YAML without passing ``parse_path``): refuse one whose aliases expand it as
    :func:`check_expansion` refuses a config file (only text with an anchor, ``&``, can)."""
    if not isinstance(args, (list, tuple)):
        return  # a dict or Namespace given to the Python API: already loaded
    for i, arg in enumerate(args):
        if not isinstance(arg, str):
            continue
        if arg.startswith("--"):  # --key=value
            option, _, value = arg.partition("=")
        else:  # --key value
            option, value = (args[i - 1] if i and isinstance(args[i - 1], str) else ""), arg
        if value and option != "--config" and os.path.isfile(value):
            try:
                value = Path(value).read_text(encoding="utf-8", errors="replace")[: 1 << 20]
            except OSError:
                continue
        if "&" in value:
            check_text_expansion(value, f'Parser key "{option.lstrip("-").rstrip("+")}": the value')


def learning_rate_line(line: str, message: str) -> str:
    """jsonargparse's one line (``line``, from its report ``message``) for a learning rate given as ``nan`` or
    ``inf``, which YAML reads as words ("Expected a <class 'float'>"), as LitGanCLI words an lr <= 0 or ``.nan``;
    any other line as it is."""
    key = re.match(r'Parser key "([^"]*\.lr)": Expected a <class .float.>', line)
    given = re.search(r"Given value: ([-+]?(?:nan|inf|infinity))\b", message, re.IGNORECASE)
    if not (key and given):
        return line
    return f'Parser key "{key[1]}": Expected a learning rate that is a finite number > 0. Got value: {given[1]}'


def _check_no_repeated_key(node: yaml.Node, path: str) -> None:
    if isinstance(node, yaml.MappingNode):
        first_line: dict[str, int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value != "<<":  # "<<": a merge, not a key
                line = key.start_mark.line + 1
                if key.value in first_line:
                    raise ConfigError(f"{path}: key {key.value!r} is given twice in one mapping (lines"
                                      f" {first_line[key.value]} and {line}; the last would win silently): keep one")
                first_line[key.value] = line
            _check_no_repeated_key(value, path)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_no_repeated_key(item, path)


def check_arguments(config: Namespace, subcommand: str) -> None:
    """Values that parse but cannot work, checked before Lightning reads a checkpoint or builds anything."""
    ckpt_path, trainer = config.get("ckpt_path"), config.get("trainer") or Namespace()
    if subcommand == "predict" and not ckpt_path:
        raise ConfigError("`lit-gan predict` needs `--ckpt_path` (a checkpoint written by `lit-gan fit`):"
                          " without one it would sample from untrained weights")
    if ckpt_path == "best":
        # Lightning's "best" is the best checkpoint of an earlier fit *in the same Python process*; a new
        # lit-gan process has none, whatever its ModelCheckpoint monitors.
        raise ConfigError("`ckpt_path` best means the best checkpoint of an earlier fit in the same Python"
                          " process, which a new `lit-gan` command has not: give the checkpoint file, e.g."
                          " lightning_logs/version_0/checkpoints/epoch=...-step=....ckpt")
    if ckpt_path and Path(ckpt_path).is_dir():
        found = sorted(Path(ckpt_path).rglob("*.ckpt"))
        example = f", e.g. {found[-1]}" if found else ""
        raise ConfigError(f"`ckpt_path` {ckpt_path} is a folder, not a checkpoint file: give one of its .ckpt"
                          f" files{example}")
    seed = config.get("seed_everything")
    if isinstance(seed, int) and not isinstance(seed, bool) and not 0 <= seed < 2**32:
        raise ConfigError(f'Parser key "seed_everything": Expected an int in [0, 2**32 - 1], or true (a random seed)'
                          f" or false (no seeding). Got value: {seed}")
    every = trainer.get("check_val_every_n_epoch")
    if isinstance(every, int) and not isinstance(every, bool) and every < 1:
        raise ConfigError(f'Parser key "trainer.check_val_every_n_epoch": Expected an int >= 1, or null (validate by'
                          f" val_check_interval only). Got value: {every}")
    interval = trainer.get("val_check_interval")
    if isinstance(interval, (int, float)) and not isinstance(interval, bool) and not interval > 0:
        raise ConfigError(f'Parser key "trainer.val_check_interval": Expected an int >= 1 (training batches) or a'
                          f" float in (0.0, 1.0] (a fraction of an epoch). Got value: {interval}")
    if subcommand == "fit":
        _check_trains_something(trainer)
    max_time = trainer.get("max_time")
    if max_time is not None:
        try:
            Timer(duration=max_time.as_dict() if isinstance(max_time, Namespace) else max_time)
        except (MisconfigurationException, TypeError, ValueError):
            raise ConfigError(f'Parser key "trainer.max_time": Expected DD:HH:MM:SS (e.g. 00:12:00:00) or a mapping'
                              f" such as {{hours: 12}}. Got value: {max_time}") from None
    root, logger = trainer.get("default_root_dir"), trainer.get("logger")
    # fit writes its logs and checkpoints under it (default: here), unless a logger is given its own save_dir
    logs_elsewhere = isinstance(logger, Namespace) and logger.get("init_args.save_dir") is not None
    if root is not None or (subcommand == "fit" and not logs_elsewhere):
        check_writable_folder(str(root) if root is not None else os.getcwd(), 'Parser key "trainer.default_root_dir":')


# max_steps 0 and max_epochs 0 ask for no training and get none (the networks as initialized: benchmarks/dots.py);
# a limit of 0 batches trains nothing whatever max_steps asks for.
_TRAIN_LIMITS = {
    "limit_train_batches": "an int >= 1 (training batches) or a float in (0.0, 1.0] (a fraction of them)",
}


def _check_trains_something(trainer: Namespace) -> None:
    """A fit limited to 0 training batches trains nothing, whatever max_steps asks, and exits 0, which a requeue
    loop (docs/cluster.md) reads as a finished run. fast_dev_run and overfit_batches replace the limit."""
    if trainer.get("fast_dev_run"):
        return
    for name, expected in _TRAIN_LIMITS.items():
        value = trainer.get(name)
        if name == "limit_train_batches" and trainer.get("overfit_batches"):
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0:
            raise ConfigError(f'Parser key "trainer.{name}": Expected {expected} for fit, where 0 trains nothing'
                              f" and would end as a finished run. Got value: {value}")


def _model_class(config: Namespace) -> Optional[type]:
    """The class of ``config.model`` (its ``class_path``), or None if it does not import."""
    model = config.get("model")
    class_path = model.get("class_path") if isinstance(model, Namespace) else None
    if not isinstance(class_path, str):
        return None
    module, _, name = class_path.rpartition(".")
    try:
        return getattr(import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return None


def given_img_shape(config: Namespace) -> Optional[tuple[int, ...]]:
    """The model's ``img_shape`` if it is not its class's default, i.e. given in the config or the command
    line (it is replaced by the data's at instantiation: a value given here would be ignored)."""
    cls, model = _model_class(config), config.get("model")
    shape = model.get("init_args.img_shape") if cls is not None else None
    if shape is None:
        return None
    defaults = (inspect.signature(k.__init__).parameters.get("img_shape") for k in cls.__mro__ if "__init__" in vars(k))
    default = next((p.default for p in defaults if p is not None and p.default is not inspect.Parameter.empty), None)
    return None if default is not None and tuple(shape) == tuple(default) else tuple(shape)


def check_instantiated(trainer: Trainer, datamodule: Optional[LightningDataModule], img_shape: Optional[tuple],
                       subcommand: str, model: Optional[nn.Module] = None) -> None:
    """What needs the built trainer, model and data: a given ``img_shape`` the data overrides, checkpoint
    folders, spectral norm under a spawning strategy."""
    launcher = getattr(trainer.strategy, "launcher", None)
    spawns = start_method(launcher) in ("spawn", "forkserver")
    if spawns and model is not None and any(parametrize.is_parametrized(m) for m in model.modules()):
        raise ConfigError(f'Parser key "trainer.strategy": {type(trainer.strategy).__name__} with start method'
                          f" {start_method(launcher)} pickles the model into new processes, which torch cannot do with"
                          " spectral_norm's parametrizations: use `ddp`")
    data_shape = getattr(datamodule, "img_shape", None)
    if img_shape is not None and data_shape is not None and tuple(img_shape) != tuple(data_shape):
        raise ConfigError(f'Parser key "model.init_args.img_shape": {list(img_shape)} is given, but the image shape'
                          f" comes from the data (its img_shape is {tuple(data_shape)}): remove it, or change the data"
                          " (image_size, channels)")
    if subcommand == "fit":
        for callback in trainer.checkpoint_callbacks:
            if isinstance(callback, ModelCheckpoint) and callback.dirpath is not None:
                check_writable_folder(str(callback.dirpath), "ModelCheckpoint's `dirpath`")


def check_name_lengths(path: str, name: str) -> None:
    """Each part of ``path`` within the length a file name may have where it would be created (255 bytes on
    ext4, XFS, tmpfs), and the whole within PATH_MAX: the OS refuses a longer one with ENAMETOOLONG, which
    ``Path.exists`` raises rather than answers."""
    absolute = os.path.abspath(path)
    parent = absolute
    while not os.path.isdir(parent) and os.path.dirname(parent) != parent:  # isdir answers False on ENAMETOOLONG
        parent = os.path.dirname(parent)
    try:
        name_max, path_max = os.pathconf(parent, "PC_NAME_MAX"), os.pathconf(parent, "PC_PATH_MAX")
    except (OSError, ValueError):
        name_max, path_max = 255, 4096
    for part in Path(absolute).parts:
        if len(os.fsencode(part)) > name_max:
            shown = part if len(part) <= 40 else f"{part[:20]}...{part[-12:]}"
            where = f"{name} {path}" if len(path) <= 80 else name.rstrip(":")
            raise ConfigError(f"{where}: the folder name {shown!r} is {len(os.fsencode(part))} bytes, longer than the"
                              f" {name_max} bytes a name may have on this file system: give a shorter one")
    if len(os.fsencode(absolute)) >= path_max:
        raise ConfigError(f"{name.rstrip(':')}: a path of {len(os.fsencode(absolute))} bytes, longer than the {path_max - 1}"
                          " bytes a path may have on this file system: give a shorter one")


def check_writable_folder(path: str, name: str) -> None:
    """``path`` is a folder that can be written, or can be created in one; nothing is created here."""
    check_name_lengths(path, name)
    existing = Path(path).absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        what = "is" if existing == Path(path).absolute() else f"is under {existing}, which is"
        raise ConfigError(f"{name} {path} {what} a file, not a folder: give a folder (it is created if missing)")
    if not os.access(existing, os.W_OK):
        why = "on a read-only file system" if os.statvfs(existing).f_flag & os.ST_RDONLY else "not writable"
        raise ConfigError(f"{name} {path} cannot be written ({existing} is {why}): give a writable folder")


def checkpoint_checks(config: Namespace, subcommand: str) -> dict[str, Any]:
    """How ``open_checkpoint`` checks a ``ckpt_path`` for ``subcommand`` with ``config``, before anything is set up:
    - its imports: LightningCLI builds the model from a checkpoint's hyperparameters, which imports every
      class path and every dotted string given for a callable; one outside lit_gan, torch.optim and torch.nn
      is refused unless the config or the command line names it too (your own networks);
    - its kind: a classifier's checkpoint where the config builds a GAN, or the other way round;
    - for ``fit``, a checkpoint of weights only, which cannot resume (refused here, before the run's log
      folder and config.yaml are written; ``on_load_checkpoint`` refuses one that ``last`` finds)."""
    model, cls = config.get("model"), _model_class(config)
    checks: dict[str, Any] = {
        "allowed_imports": import_paths(model.as_dict() if isinstance(model, Namespace) else model),
        "trust_hint": "if you trust the file, name it in the config",
        "resume": subcommand == "fit",
    }
    if cls is not None:
        checks.update(gan=issubclass(cls, AdversarialModule), builds=f"the config builds a {config.model.class_path}")
    return checks
