"""Small checks shared by the networks."""

import math
from typing import Iterable, Sequence, Union


def prod(shape: Iterable[int]) -> int:
    return math.prod(int(s) for s in shape)


def check_positive(**values: Union[int, Sequence[int]]) -> None:
    """Raise ``ValueError`` naming the first argument that holds an integer < 1."""
    for name, value in values.items():
        items = [value] if isinstance(value, int) else list(value)
        if name == "img_shape" and not items:
            raise ValueError("Expected argument `img_shape` to be a non-empty shape, got ()")
        if any(int(v) < 1 for v in items):
            raise ValueError(f"Expected argument `{name}` to hold integers >= 1, got {value!r}")
