"""The configs that ship with lit-gan, found by name: ``lit-gan fit --config quickstart.yaml`` works in
any folder, not only inside a clone (``lit-gan configs`` lists them).

A ``--config`` value that names no file in the current folder, but names a shipped config (``quickstart``,
``quickstart.yaml``, ``toys/gan.yaml``), is that config. A file of that name in the current folder comes
first, so a copied and edited config is the one used. In a clone the configs are ``configs/``; installed,
the package holds them as ``lit_gan/configs`` (package data; ``lit_gan/configs`` is a link to
``configs/`` in the repository).
"""

import sys
from pathlib import Path
from typing import Optional

SHIPPED = Path(__file__).resolve().parent / "configs"
FLAGS = ("--config", "-c")


def shipped(name: str) -> Optional[Path]:
    """The shipped config ``name`` (with or without ``.yaml``), or None."""
    if not name or Path(name).is_absolute() or ".." in Path(name).parts:
        return None
    for candidate in (SHIPPED / name, SHIPPED / f"{name}.yaml"):
        if candidate.is_file():
            return candidate
    return None


def with_shipped_configs(argv: list[str]) -> list[str]:
    """``argv`` with each ``--config NAME`` that is no file here but a shipped config replaced by its path."""
    out = list(argv)
    for i, arg in enumerate(out):
        flag, _, value = arg.partition("=")
        if flag in FLAGS and value:  # --config=NAME
            found = None if Path(value).exists() else shipped(value)
            out[i] = f"{flag}={found}" if found else arg
        elif arg in FLAGS and i + 1 < len(out):
            value = out[i + 1]
            found = None if Path(value).exists() else shipped(value)
            if found:
                out[i + 1] = str(found)
    return out


def names() -> list[str]:
    return sorted(str(p.relative_to(SHIPPED)) for p in SHIPPED.rglob("*.yaml"))


def main(args: Optional[list[str]] = None) -> None:
    """``lit-gan configs``: the shipped configs' names, for ``--config NAME``; ``--path NAME``: where one is,
    to copy it (``cp "$(lit-gan configs --path quickstart.yaml)" .``)."""
    args = sys.argv[1:] if args is None else args
    if args[:1] == ["--path"] and len(args) == 2:
        found = shipped(args[1])
        if found is None:
            sys.stderr.write(f"lit-gan configs: error: Expected argument `--path` to name a shipped config"
                             f" (lit-gan configs lists them), got {args[1]!r}\n")
            raise SystemExit(2)
        print(found)
        return
    if args:
        sys.stderr.write("lit-gan configs: error: Expected no argument, or `--path NAME`\n")
        raise SystemExit(2)
    print(f"Configs shipped with lit-gan ({SHIPPED}); use one with `lit-gan fit --config NAME`:")
    for name in names():
        print(f"  {name}")
