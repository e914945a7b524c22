"""The report of ``lit-gan evaluate``: the table and the protocol line it prints, and the JSON, where it may go
(checked before anything runs) and how it is written (atomically). ``output`` may be a new file or the report
of an earlier evaluate, which it replaces; the checkpoint evaluated, an image of the folders read or any other
existing file is refused.
"""

import json
import os
from pathlib import Path
from typing import Any, Optional

from lit_gan.checkpoint_io import write_atomically
from lit_gan.cli_checks import check_writable_folder
from lit_gan.data.samples import SAMPLE_EXTENSIONS
from lit_gan.errors import ConfigError, one_line
from lit_gan.metrics.quality import protocol_line

REPORT_KEYS = ("metrics", "protocol", "protocol_line")  # what ``run`` writes to ``output``
REPORT_MAX_BYTES = 1 << 20  # a report is a few kB: a larger file is something else


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)  # links included
    except OSError:  # either missing
        return a.resolve() == b.resolve()


def not_a_report(path: Path) -> Optional[str]:
    """Why the existing file ``path`` is not a report of an earlier evaluate (None: it is one)."""
    try:
        if path.stat().st_size > REPORT_MAX_BYTES:
            return f"{path.stat().st_size} bytes, larger than any report"
        report = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        return "not text"
    except ValueError:
        return "not JSON"
    except OSError as err:
        return f"unreadable: {err.strerror or one_line(err)}"
    if not (isinstance(report, dict) and all(key in report for key in REPORT_KEYS)):
        return f"JSON without the keys {', '.join(REPORT_KEYS)}"
    return None


def check_output(output: str, checkpoint: Optional[str], folders: dict[str, Optional[str]]) -> None:
    """``output`` can be written, is none of the inputs (``checkpoint``, an image of ``folders``, by argument
    name), and is a new file or the report of an earlier evaluate (then replaced): checked before anything runs."""
    path = Path(output)
    if path.is_dir():
        raise ConfigError(f"Expected argument `output` to be a file that can be written, got {output!r}")
    check_writable_folder(str(path.parent), "`output`'s folder")
    if checkpoint is not None and _same_file(path, Path(checkpoint)):
        raise ConfigError(f"Expected argument `output` to be another file than the `checkpoint` it evaluates,"
                          f" got {output!r}")
    image = path.suffix.lower().lstrip(".") in SAMPLE_EXTENSIONS
    for name, folder in folders.items():
        if folder is not None and image and _same_file(path.parent, Path(folder)):
            raise ConfigError(f"Expected argument `output` to be outside the images of `{name}` it reads, got {output!r}")
    # an empty file (mktemp's) or a stream (/dev/stdout) is fine too
    why = not_a_report(path) if path.is_file() and path.stat().st_size > 0 else None
    if why is not None:
        raise ConfigError(f"Expected argument `output` to be a new file or the JSON report of an earlier"
                          f" `lit-gan evaluate` (which it replaces), got {output!r}, an existing file ({why}):"
                          " choose another `output`")


def write_report(output: str, result: dict[str, Any]) -> None:
    """``result`` to ``output`` as JSON: the old file or the whole report, never a part of it (a stream
    such as /dev/stdout is written to)."""
    data, path = (json.dumps(result, indent=2) + "\n").encode(), Path(output)
    try:
        if path.exists() and not path.is_file():  # a stream such as /dev/stdout: no file to replace
            path.write_bytes(data)
        else:
            write_atomically(path, data)
    except OSError as err:  # a full disk (after the values were printed), a folder gone
        why = os.strerror(err.errno) if err.errno else one_line(err)
        raise ConfigError(f"cannot write `output` {output}: {why}") from err


def report(values: dict[str, float], protocol: dict[str, Any], output: Optional[str],
           line: Optional[str] = None) -> dict[str, Any]:
    """Print the table of ``values`` and the protocol line (``line``; None: the images' line of ``protocol``);
    write both (and ``protocol``) to ``output``."""
    result = {"metrics": values, "protocol": protocol, "protocol_line": line or protocol_line(protocol)}
    width = max(len(k) for k in values)
    print("\n".join([f"{'metric':<{width}}  value"] + [f"{k:<{width}}  {v:.6g}" for k, v in values.items()]))
    print(f"protocol: {result['protocol_line']}", flush=True)
    if output is not None:
        write_report(output, result)
    return result
