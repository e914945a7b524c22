"""A trained GAN from a checkpoint of any family: ``lit_gan.load(path)``.

The file is opened through ``lit_gan.checkpoints.open_checkpoint``, read as plain data and checked;
its family is the ``_class_path`` that ``lit-gan fit`` (LightningCLI) stored, or the family the loop
records (``lit_gan_family``); every class or import path its hyperparameters name must be of lit-gan,
``torch.optim`` or ``torch.nn`` (or in ``trusted_imports``), since building the model imports them: a
checkpoint naming any other module is refused before anything is imported.
"""

from argparse import ArgumentError
from typing import Any, Collection, Union

import torch
from lightning.pytorch.cli import instantiate_module

from lit_gan.checkpoints import FAMILY_KEY, check_fits, open_checkpoint
from lit_gan.errors import ConfigError, one_line
from lit_gan.objectives.base import AdversarialModule
from lit_gan.specs import from_spec


def family_of(checkpoint: dict[str, Any]) -> Any:
    """The class a checkpoint's hyperparameters name (``_class_path``), else the family it records, if of lit_gan."""
    hparams = checkpoint.get("hyper_parameters") or {}
    class_path = str(hparams.get("_class_path") or "")
    if not class_path and isinstance(checkpoint.get(FAMILY_KEY), str):
        class_path = f"lit_gan.{checkpoint[FAMILY_KEY]}"
    try:
        return from_spec({"class_path": class_path}).func if class_path.startswith("lit_gan.") else None
    except (ImportError, AttributeError):
        return None


def load_with_step(path: str, map_location: Union[str, torch.device] = "cpu", name: str = "checkpoint",
                   trusted_imports: Collection[str] = ()) -> tuple[AdversarialModule, int]:
    """(the GAN of the checkpoint ``path``, in eval mode on ``map_location``; its generator step). ``name``:
    the argument that gave ``path``, named in errors."""
    checkpoint = open_checkpoint(
        path, name, allowed_imports=trusted_imports,
        trust_hint="lit-gan builds no other code from a checkpoint unless told to (`trusted_imports`); or draw its"
        " samples with `lit-gan predict` and SampleWriter, then `lit-gan evaluate --samples`",
    )
    hparams = dict(checkpoint.get("hyper_parameters") or {})
    family = family_of(checkpoint)
    if not (isinstance(family, type) and issubclass(family, AdversarialModule)) or family is AdversarialModule:
        held = hparams.get("_class_path") or checkpoint.get(FAMILY_KEY) or "no class"
        raise ConfigError(f"`{name}` {path} is not a checkpoint of a lit-gan GAN fit (it holds {held})")
    try:
        model = instantiate_module(family, {k: v for k, v in hparams.items() if not k.startswith("_")})
    except (ArgumentError, TypeError, ValueError) as err:  # hyperparameters of another version, or edited
        raise ConfigError(f"`{name}` {path}: its hyperparameters do not build a {family.__name__}:"
                          f" {one_line(err)[:300]}") from err
    check_fits(checkpoint, path, model, name)  # the door's last step, now that the model is built
    model.load_state_dict(checkpoint["state_dict"])
    model.on_load_checkpoint(checkpoint)  # the loop's state (skips), the step it was trained to; checked
    return model.eval().to(map_location), int(checkpoint.get("global_step", 0))


def load(path: str, map_location: Union[str, torch.device] = "cpu", trusted_imports: Collection[str] = ()) -> AdversarialModule:
    """The trained GAN of a ``lit-gan fit`` checkpoint, whatever its family, in eval mode::

        gan = lit_gan.load("lightning_logs/version_0/checkpoints/epoch=3-step=2000.ckpt")
        images = gan.sample(64)  # from the averaged generator where the run kept one

    ``trusted_imports``: class paths of your own (networks, functions) that its hyperparameters may name.
    Its ``generator_step`` is the step the checkpoint was written at."""
    return load_with_step(path, map_location, "checkpoint", trusted_imports)[0]
