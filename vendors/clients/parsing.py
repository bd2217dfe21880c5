"""Parsing shared by the vendor clients."""

from __future__ import annotations

import math
from typing import Any


def finite_number(raw: Any) -> float | None:
    """A finite number from a number or a numeric string (vendors send numbers as strings); None else.

    Booleans are not numbers here, and an integer past the float range is not a number either.
    """
    if isinstance(raw, bool) or raw is None:
        return None
    try:
        number = float(raw)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None
