"""Argument checks shared by the modules, callbacks and metrics (the CLI checks types at parse time;
these guard the Python API)."""


def check_positive_ints(**values: object) -> None:
    """Raise ``ValueError`` naming the first argument that is given (not None) and below 1."""
    for name, value in values.items():
        if value is not None and int(value) < 1:  # type: ignore[call-overload]
            raise ValueError(f"Expected argument `{name}` to be an integer >= 1, got {value}")


def check_positive_floats(**values: object) -> None:
    """Raise ``ValueError`` naming the first argument that is not > 0 (NaN included)."""
    for name, value in values.items():
        if not float(value) > 0:  # type: ignore[arg-type]
            raise ValueError(f"Expected argument `{name}` to be > 0, got {value}")


def check_non_negative_floats(**values: object) -> None:
    """Raise ``ValueError`` naming the first argument that is not >= 0 (NaN included)."""
    for name, value in values.items():
        if not float(value) >= 0:  # type: ignore[arg-type]
            raise ValueError(f"Expected argument `{name}` to be >= 0, got {value}")
