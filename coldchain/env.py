"""Read settings from the environment only, with a clear message for a bad value.

A missing or malformed variable stops start-up with ``ImproperlyConfigured`` naming the variable and
what is expected, never a traceback from deep inside Django.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


def env(name: str, default: str = "") -> str:
    """A setting; ``NAME_FILE`` (a path, e.g. a Docker secret) is read when ``NAME`` is not set."""
    if name in os.environ:
        return os.environ[name]
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {path!r} ({exc.strerror})") from None
    return default


def envbool(name: str, default: bool) -> bool:
    value = env(name, "1" if default else "0").strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ImproperlyConfigured(f"{name}: expected 1/0 (or true/false, yes/no, on/off), got {value!r}")


def envint(name: str, default: int, minimum: int | None = None) -> int:
    value = env(name, str(default)).strip()
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}: expected a whole number, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}: expected a number of at least {minimum}, got {number}")
    return number


def envlist(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]
