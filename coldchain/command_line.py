"""What the management commands of every app share: reading their options the same way."""

from __future__ import annotations

from datetime import UTC, datetime

from django.core.management.base import CommandError


def parse_iso(value: str, option: str) -> datetime:
    """An aware date-time from ISO 8601; a date alone means midnight UTC."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(
            f"{option}: expected an ISO 8601 date-time such as 2026-11-20T12:00:00Z, got {value!r}"
        ) from None
    if parsed.tzinfo is None:
        if len(value) == 10:
            return parsed.replace(tzinfo=UTC)
        raise CommandError(f"{option}: give a time zone, e.g. 2026-11-20T12:00:00Z or +01:00")
    return parsed
