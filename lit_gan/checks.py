"""Argument checks shared by the networks, modules, callbacks and metrics (the CLI checks types at
parse time; these guard the Python API). Each raises ``ValueError`` naming the argument."""

import math
import numbers
from typing import Sequence, Union


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


def check_not_negative(**values: object) -> None:
    """Refuse the first argument that is given (not None) and not a finite number >= 0 (NaN, inf included)."""
    for name, value in values.items():
        if value is not None and not 0 <= float(value) < math.inf:  # type: ignore[arg-type]
            raise ValueError(f"Expected argument `{name}` to be a finite number >= 0, got {value}")
