"""The parser of ``lit-gan`` and ``lit-gan evaluate``: a bad value is one line that names its key
(``lit-gan fit: error: Parser key "model.init_args.n_critic": ...``), instead of jsonargparse's nested
report and the full usage; a ``--config`` file is checked before it is read (lit_gan/cli_checks.py).
Its own module, so that ``lit_gan.evaluate`` takes it without importing ``lit_gan.cli``.
"""

import re
import sys
from typing import Any, NoReturn, Optional

from jsonargparse import Namespace
from lightning.pytorch.cli import LightningArgumentParser

from lit_gan.cli_checks import check_config_file, learning_rate_line
from lit_gan.errors import ConfigError

_NOISE = (
    "Does not validate against any of the Union subtypes",
    "Subtypes:",
    "Errors:",
    "Given value",
    "Expected a <class 'NoneType'>",
    "Expected a path but",
)


def parser_error_line(message: str) -> str:
    """jsonargparse's nested union report -> 'Parser key "model.init_args.n_critic": <why>'."""
    keys: list[str] = []
    reason: Optional[str] = None
    class_path: Optional[str] = None  # inside "Problem with given class_path '...'"
    for line in (line.strip() for line in message.splitlines()):
        if not line or line.lstrip("- ").startswith(_NOISE):
            continue
        # an optimizer's or a network's argument: '[- ]Type ... expects a function or a callable class: Parser key "lr":'
        key = re.match(r'((?:- )?Type .* expects a function or a callable class: )?Parser key "([^"]+)":\s*(.*)$', line)
        problem = re.match(r"- Problem with given class_path '([^']+)':\s*$", line)
        if key:
            callable_arg, name, rest = key.groups()
            keys += ["init_args", name] if class_path or callable_arg else [name]
            reason, class_path = (None if not rest or rest.startswith(_NOISE) else rest), None
        elif problem:
            class_path = problem.group(1)
        elif reason is None:
            reason = (f"class_path {class_path!r}: " if class_path else "") + line.lstrip("- ")
    if reason is None:
        return " ".join(line.strip() for line in message.splitlines() if line.strip())
    return f'Parser key "{".".join(keys)}": {reason}' if keys else reason


def write_error(prog: str, message: str) -> None:
    """``lit-gan fit: error: <the reason in one line> (see: lit-gan fit --help)`` on stderr."""
    line = learning_rate_line(parser_error_line(message), message)  # lr nan or inf: words to YAML
    sys.stderr.write(f"{prog}: error: {line} (see: {prog} --help)\n")


class LitGanParser(LightningArgumentParser):
    """Reports a bad value in one line that names the key, instead of the full usage."""

    def error(self, message: str, ex: Optional[Exception] = None) -> NoReturn:
        if not self.exit_on_error:
            super().error(message, ex)
        parser = getattr(ex, "subcommand_parser", None) or self
        prog = parser.prog.replace(" [options]", "")
        write_error(prog, message)
        self.exit(2)

    def parse_path(self, path: Any, *args: Any, **kwargs: Any) -> Namespace:
        # a --config file: a binary file, a YAML error, an empty file or a key given twice, named with its line
        try:
            check_config_file(str(path))
        except ConfigError as err:
            self.error(f'Parser key "config": {err}')
        return super().parse_path(path, *args, **kwargs)
