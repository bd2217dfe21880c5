"""Who and why of a change, for the audit trail: a context any app can set (``vendors`` retiring an account,
``monitoring`` acknowledging an excursion) without importing the app that keeps the trail.
``monitoring.audit`` passes it to PostgreSQL with each statement that writes, where the audit triggers
(``coldchain.audit_triggers``) read it."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

_user: contextvars.ContextVar = contextvars.ContextVar("audit_user", default=None)
_reason: contextvars.ContextVar[str] = contextvars.ContextVar("audit_reason", default="")


@contextmanager
def audit_context(user=None, reason: str = "") -> Iterator[None]:
    """Changes made inside are recorded as made by ``user`` (if given) for ``reason`` (if given)."""
    user_token = _user.set(user) if user is not None else None
    reason_token = _reason.set(reason) if reason else None
    try:
        yield
    finally:
        if user_token is not None:
            _user.reset(user_token)
        if reason_token is not None:
            _reason.reset(reason_token)


def current_user():
    return _user.get()


def current_reason() -> str:
    return _reason.get()
