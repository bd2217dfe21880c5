"""Parsing shared by the vendor clients."""

from __future__ import annotations

import gc
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
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


def measurement(raw: Any, spell: Callable[[Any], str] = str) -> tuple[float | None, str]:
    """The one measurement parser of the clients: ``(value, "")`` for a finite number or a string holding
    one, else ``(None, error)``, the error being the vendor's value in words as ``spell`` writes it (each
    client keeps its vendor's spelling). docs/vendors.md: a value that is not a finite number where a
    measurement belongs is a sensor error, never a temperature. A boolean is not a number; an integer past
    the float range is not a finite one."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        return None, spell(raw)
    try:
        value = float(raw.strip() if isinstance(raw, str) else raw)
    except (ValueError, OverflowError):
        return None, spell(raw)
    return (value, "") if math.isfinite(value) else (None, spell(raw))


def utc_from_epoch(seconds: float) -> datetime | None:
    """The UTC instant of epoch seconds, or None past the years datetime can hold."""
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, ValueError, OSError):
        return None


def all_finite(values: list[float]) -> bool:
    """Every one of these floats is finite: one C-level sum (NaN and infinity carry through it). A sum too
    large to hold says no too, so a caller that then checks value by value loses nothing."""
    total = sum(values)
    return total - total == 0.0


@contextmanager
def paused_garbage_collection() -> Iterator[None]:
    """No cyclic garbage collection while a big answer is decoded and read.

    Decoding 65,535 rows makes as many dicts; each few hundred of them set off a collection that walks
    every object of the process (Django's included), though none of them is in a cycle and all die with
    the answer. Reference counting still frees everything meanwhile; collection resumes afterwards.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
