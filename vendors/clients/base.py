"""The contract every vendor client follows, and what they share.

A client talks to one vendor account. It declares the credential fields it needs and yields plain
records (``records.py``); it never touches the database and never logs, raises or returns a secret.

Implement, per vendor:

- ``devices()`` -> list of ``DeviceInfo`` (with their channels);
- ``history(device, since, until)`` -> ``ReadingRecord``, ``PositionRecord`` and ``GapRecord`` of one
  device with ``since <= timestamp <= until`` (aware UTC datetimes), in any order, each exactly once;
  ``readings()`` and ``positions()`` filter it; a client that reads readings in bulk also gives
  ``history_batches()``, the same with a ``ReadingBatch`` (one channel's readings in columns) in place
  of their ``ReadingRecord``s, which the sync engine stores without a Python object per reading;
- ``alerts(since, until)`` -> ``AlertRecord`` of the account (default: none);
- where the vendor has them, group and installation operations.

The base gives: one ``requests`` session with connect/read timeouts; ``request()``, which turns every
failure into one of the error types of ``errors.py`` (authentication = permanent; unavailable, timeout,
rate-limited, unreadable = try later) with messages that carry no URL and no secret; a rate limiter
shared by every worker; a session store for tokens (kept encrypted on the account by the sync engine,
in memory otherwise); and ``redact()`` for anything that might echo a secret back.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import requests

from .errors import (
    AuthenticationError,
    ParseError,
    RateLimited,
    RequestRefused,
    UnavailableError,
    VendorError,
    VendorTimeout,
)
from .records import AlertRecord, DeviceInfo, GapRecord, PositionRecord, ReadingBatch, ReadingRecord

logger = logging.getLogger("vendors.clients")


class MemorySessionStore:
    """Keeps a client's session (tokens and their expiry) in memory: for one process only."""

    def __init__(self, data: dict | None = None):
        self.data = dict(data or {})

    def load(self) -> dict:
        return dict(self.data)

    def save(self, data: dict) -> None:
        self.data = dict(data)


class NoRateLimiter:
    """For code that runs alone (a one-off script); the sync engine passes the shared limiter."""

    def wait_turn(self, name: str, limit: int, period: float) -> None:
        return None

    def block_for(self, name: str, seconds: float) -> None:
        return None


class VendorClient:
    slug: ClassVar[str] = ""
    label: ClassVar[str] = ""
    credential_fields: ClassVar[tuple[str, ...]] = ()
    default_base_url: ClassVar[str] = ""
    formats: ClassVar[tuple[str, ...]] = ()  # response formats the vendor offers; the first is the default
    connect_timeout: ClassVar[float] = 5.0
    read_timeout: ClassVar[float] = 30.0

    def __init__(
        self,
        *,
        base_url: str = "",
        credentials: dict[str, str],
        timezone: str = "UTC",
        response_format: str | None = None,
        session_store: Any = None,
        rate_limiter: Any = None,
        account_key: str = "",
    ):
        missing = [name for name in self.credential_fields if not credentials.get(name)]
        if missing:
            raise AuthenticationError(f"{self.label}: missing credential(s): {', '.join(missing)}")
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self._credentials = {name: str(credentials[name]) for name in self.credential_fields}
        self.timezone = ZoneInfo(timezone or "UTC")
        self.response_format = response_format or (self.formats[0] if self.formats else None)
        if self.formats and self.response_format not in self.formats:
            raise ValueError(f"{self.label}: format must be one of {', '.join(self.formats)}")
        self.session_store = session_store if session_store is not None else MemorySessionStore()
        self.rate_limiter = rate_limiter if rate_limiter is not None else NoRateLimiter()
        # Names the account in rate-limiter keys; never a secret.
        self.account_key = account_key or self.slug
        self.http = requests.Session()

    def __repr__(self) -> str:  # never show credentials
        return f"<{type(self).__name__} {self.base_url}>"

    # -- the contract ----------------------------------------------------------------------------

    def devices(self) -> list[DeviceInfo]:
        raise NotImplementedError

    def history(
        self, device: DeviceInfo, since: datetime, until: datetime
    ) -> Iterator[ReadingRecord | PositionRecord | GapRecord]:
        raise NotImplementedError

    def history_batches(
        self, device: DeviceInfo, since: datetime, until: datetime
    ) -> Iterator[ReadingBatch | ReadingRecord | PositionRecord | GapRecord]:
        """What the sync engine reads: ``history``, where a client may put a ``ReadingBatch`` in place of
        its readings' records (by default, ``history`` itself)."""
        return iter(self.history(device, since, until))

    def readings(self, device: DeviceInfo, since: datetime, until: datetime) -> Iterator[ReadingRecord]:
        return (r for r in self.history(device, since, until) if isinstance(r, ReadingRecord))

    def positions(self, device: DeviceInfo, since: datetime, until: datetime) -> Iterator[PositionRecord]:
        return (r for r in self.history(device, since, until) if isinstance(r, PositionRecord))

    def alerts(self, since: datetime, until: datetime) -> Iterable[AlertRecord]:
        return ()

    # -- shared plumbing -------------------------------------------------------------------------

    def credential(self, name: str) -> str:
        return self._credentials[name]

    def secrets(self) -> list[str]:
        """Every value that must never leave the client: credentials and session tokens."""
        values = list(self._credentials.values())
        for value in self.session_store.load().values():
            if isinstance(value, str) and len(value) >= 6:
                values.append(value)
        return [v for v in values if v]

    def redact(self, text: str) -> str:
        for secret in sorted(self.secrets(), key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def request(
        self,
        method: str,
        path: str,
        *,
        ok_statuses: tuple[int, ...] = (200,),
        **kwargs: Any,
    ) -> requests.Response:
        """Send one request; return the response if its status is in ``ok_statuses``.

        Raises ``VendorTimeout``, ``UnavailableError``, ``RateLimited``, ``AuthenticationError`` or
        ``RequestRefused``. ``error_message(response)`` gives the vendor's own words for an error.
        """
        url = f"{self.base_url}{path}"
        kwargs.setdefault("timeout", (self.connect_timeout, self.read_timeout))
        # Log the path only: a query string may hold a token (GPSWOX's user_api_hash).
        where = f"{method} {path.split('?')[0]}"
        try:
            response = self.http.request(method, url, **kwargs)
        except requests.Timeout:
            logger.warning("%s: %s timed out", self.label, where)
            raise VendorTimeout(f"{self.label}: no answer in time to {where}") from None
        except requests.RequestException as exc:
            logger.warning("%s: %s failed: %s", self.label, where, type(exc).__name__)
            raise UnavailableError(
                f"{self.label}: could not reach the server ({type(exc).__name__})"
            ) from None
        status = response.status_code
        logger.debug("%s: %s -> %s", self.label, where, status)
        if status in ok_statuses:
            return response
        detail = self.redact(self.error_message(response))[:300]
        if status == 429:
            retry_after = _retry_after(response)
            raise RateLimited(
                f"{self.label}: rate limited ({detail})", status=status, retry_after=retry_after
            )
        if status in (401, 403):
            raise AuthenticationError(
                f"{self.label}: credentials refused ({status}: {detail})", status=status
            )
        if status >= 500:
            raise UnavailableError(f"{self.label}: server error {status} ({detail})", status=status)
        raise RequestRefused(f"{self.label}: request refused ({status}: {detail})", status=status)

    def error_message(self, response: requests.Response) -> str:
        """The vendor's own error text from an error response; vendors override for their shape."""
        try:
            body = response.json()
        except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
            return response.text[:200].strip() or response.reason or ""
        if isinstance(body, dict):
            for key in ("message", "error", "errors", "responseStatus"):
                if key in body:
                    value = body[key]
                    return value if isinstance(value, str) else json.dumps(value)[:200]
        return json.dumps(body)[:200]

    def json_body(self, response: requests.Response) -> Any:
        """The response's JSON, or ``ParseError`` (malformed or truncated)."""
        try:
            return response.json()
        except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
            raise ParseError(f"{self.label}: the answer is not valid JSON") from None


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


__all__ = [
    "AlertRecord",
    "AuthenticationError",
    "DeviceInfo",
    "GapRecord",
    "MemorySessionStore",
    "NoRateLimiter",
    "ParseError",
    "PositionRecord",
    "RateLimited",
    "ReadingBatch",
    "ReadingRecord",
    "RequestRefused",
    "UnavailableError",
    "VendorClient",
    "VendorError",
    "VendorTimeout",
]
