"""Argument checks shared by the networks, modules, callbacks and metrics (the CLI checks types at
parse time; these guard the Python API). Each raises ``ValueError`` naming the argument."""

import math
import numbers
import re
from contextlib import contextmanager
from typing import Iterator, Optional, Sequence, Union

from lit_gan.errors import ConfigError


def check_positive_ints(**values: Union[None, int, Sequence[int]]) -> None:
    """Refuse the first argument that is given (not None) and is an integer below 1, or a sequence
    (a shape, layer widths) that holds one; ``img_shape`` must also not be empty."""
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            if name == "img_shape" and not value:
                raise ValueError("Expected argument `img_shape` to be a non-empty shape, got ()")
            if any(int(v) < 1 for v in value):
                raise ValueError(f"Expected argument `{name}` to hold integers >= 1, got {value!r}")
        elif int(value) < 1:  # type: ignore[arg-type]
            raise ValueError(f"Expected argument `{name}` to be an integer >= 1, got {value}")


def check_not_negative_int(**values: int) -> None:
    """Refuse the first argument that is not an integer >= 0 (a count that may be zero)."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:  # numpy's too
            raise ValueError(f"Expected argument `{name}` to be an integer >= 0, got {value!r}")


def check_greater_than_zero(**values: object) -> None:
    """Refuse the first argument that is given (not None) and not a finite number > 0 (NaN, inf included)."""
    for name, value in values.items():
        if value is not None and not 0 < float(value) < math.inf:  # type: ignore[arg-type]
            raise ValueError(f"Expected argument `{name}` to be > 0, got {value}")


def check_finite_positive(**values: object) -> None:
    """Refuse the first argument that is not a finite number > 0 (a scale or a width: inf is no default)."""
    for name, value in values.items():
        if not 0 < float(value) < math.inf:  # type: ignore[arg-type]
            raise ValueError(f"Expected argument `{name}` to be a finite number > 0, got {value}")


def check_not_negative(**values: object) -> None:
    """Refuse the first argument that is given (not None) and not a finite number >= 0 (NaN, inf included)."""
    for name, value in values.items():
        if value is not None and not 0 <= float(value) < math.inf:  # type: ignore[arg-type]
            raise ValueError(f"Expected argument `{name}` to be a finite number >= 0, got {value}")


@contextmanager
def allocating(role: str, network: object, **arguments: object) -> Iterator[None]:
    """Around the layers of ``network``: torch's failure to allocate their weights (an absurd ``latent_dim``
    or width fails at once, its message a line of alloc_cpu.cpp) -> one line naming the sizes it was given."""
    try:
        yield
    except (RuntimeError, TypeError, MemoryError) as err:
        why = _allocation_failure(err)
        if why is None:
            raise
        given = ", ".join(f"{name}={value!r}" for name, value in arguments.items())
        raise ConfigError(f"`{role}` ({type(network).__name__}) cannot allocate its weights ({given}: {why}):"
                          " choose smaller sizes") from err


def _allocation_failure(err: BaseException) -> Optional[str]:
    """What about the size made torch fail, or None for an error of another kind."""
    if isinstance(err, MemoryError):
        return "out of memory"
    tried = re.search(r"tried to allocate (\d+) bytes", str(err))
    if tried:
        return f"one tensor of {size_text(int(tried[1]))}, more than this machine can allocate"
    if re.search(r"size calculation overflowed|Overflow when unpacking long", str(err)):
        return "a size beyond 64-bit integers"
    return None


def size_text(n: float) -> str:
    """A number of bytes in words: 441357 -> '441.4 kB', 512 -> '512 bytes' (units of 1000)."""
    for power, unit in ((15, "PB"), (12, "TB"), (9, "GB"), (6, "MB"), (3, "kB")):
        if n >= 10**power:
            return f"{n / 10**power:.1f} {unit}"
    return f"{n:.0f} bytes"
