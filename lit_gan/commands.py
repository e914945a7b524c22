"""The subcommands of ``lit-gan`` beside LightningCLI's (fit, validate, test, predict): lit-gan's own, each a
module with a ``main(args)``; ``--version``; the top-level ``--help`` and the error for an unknown
subcommand, which list them all (LightningCLI's parser knows only its four)."""

import io
import sys
from contextlib import contextmanager, redirect_stdout
from importlib import import_module
from importlib.metadata import version
from typing import Callable, Iterator, Optional

from lightning.pytorch.cli import LightningCLI

from lit_gan.parser import write_error

OWN = {  # name -> (module with main(args), what it does: a line of --help)
    "evaluate": ("lit_gan.evaluate", "Sample quality (FID, IS, KID...) of a checkpoint or images."),
    "generate": ("lit_gan.generate", "Images (or 2-D points) from a checkpoint alone, no data."),
    "export": ("lit_gan.export", "A checkpoint's generator as an ONNX or TorchScript file."),
    "configs": ("lit_gan.shipped_configs", "The configs shipped with lit-gan, usable by name: --config NAME."),
}


def subcommands() -> list[str]:
    return [*LightningCLI.subcommands(), *OWN]


def own_command(argv: list[str]) -> Optional[Callable[[list[str]], object]]:
    """The ``main`` that runs ``lit-gan ARGV`` when it is not LightningCLI's (the arguments after the
    subcommand go to it), None when it is; ``--version`` printed; no or an unknown subcommand: one line, exit 2."""
    names = subcommands()
    if argv[:1] == ["--version"]:
        return lambda _: print(f"lit-gan {version('lit-gan')}")
    if not argv or argv[0] not in names and not argv[0].startswith("-"):
        got = f"got {argv[0]!r}" if argv else "got none"
        write_error("lit-gan", f"Expected a subcommand, one of {', '.join(names)}; {got}")
        raise SystemExit(2)
    if argv[0] in OWN:
        return import_module(OWN[argv[0]][0]).main
    return None


def with_own_commands(text: str) -> str:
    """LightningCLI's top-level help with lit-gan's subcommands and ``--version`` added."""
    lightning = "{" + ",".join(LightningCLI.subcommands()) + "}"
    text = text.replace(lightning, "{" + ",".join(subcommands()) + "}")
    help_line = "Show this help message and exit.\n"
    text = text.replace(help_line, help_line + f"  {'--version':<22}Print lit-gan's version and exit.\n", 1)
    return text.rstrip("\n") + "\n" + "".join(f"    {name:<20}{what}\n" for name, (_, what) in OWN.items())


@contextmanager
def every_subcommand_in_help() -> Iterator[None]:
    """Around LightningCLI's ``lit-gan --help``: what it prints, with lit-gan's own subcommands listed too."""
    text = io.StringIO()
    try:
        with redirect_stdout(text):
            yield
    finally:
        sys.stdout.write(with_own_commands(text.getvalue()))
        sys.stdout.flush()
