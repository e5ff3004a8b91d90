"""Config-value checks shared by every module: each error names the key, the value and what is allowed."""
from __future__ import annotations

import numbers
from collections.abc import Collection


def one_of(key: str, value, allowed: Collection):
    """``value`` when it is in ``allowed``, else ``ValueError("<key> must be one of [...], got <value>")``."""
    if value not in allowed:
        raise ValueError(f"{key} must be one of {list(allowed)}, got {value!r}")
    return value


def positive(key: str, value: float) -> float:
    """``value`` as a float, or a ``ValueError`` naming ``key`` when it is not > 0."""
    value = float(value)
    if not value > 0:
        raise ValueError(f"{key} must be > 0, got {value}")
    return value


def non_negative(key: str, value: float) -> float:
    """``value`` as a float, or a ``ValueError`` naming ``key`` when it is not >= 0."""
    value = float(value)
    if not value >= 0:
        raise ValueError(f"{key} must be >= 0, got {value}")
    return value


def at_least(key: str, value: int, low: int = 1) -> int:
    """``value`` as an int, or a ``ValueError`` naming ``key`` when it is not an integer (a bool, 2.5)
    or is below ``low``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{key} must be an int >= {low}, got {value!r}")
    if int(value) < low:
        raise ValueError(f"{key} must be >= {low}, got {value}")
    return int(value)


def image_channels(key: str, value: int) -> int:
    """Image channels: 1 (grey) or 3 (RGB)."""
    return int(one_of(key, int(value), (1, 3)))
