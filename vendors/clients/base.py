"""The contract every vendor client follows, and what they share.

A client talks to one vendor account. It declares the credential fields it needs and yields plain
records (``records.py``); it never touches the database and never logs, raises or returns a secret.

Implement, per vendor:

- ``devices()`` -> list of ``DeviceInfo`` (with their channels);
- ``history(device, since, until)`` -> ``ReadingRecord``, ``PositionRecord`` and ``GapRecord`` of one
  device with ``since <= timestamp <= until`` (aware UTC datetimes), in any order, each exactly once;
  or, for a vendor that answers in bulk, ``history_batches()``: the same with each channel's readings
  in ``ReadingBatch``es (columns). The sync engine reads ``history_batches()`` only: by default it
  groups ``history()``'s records, so readings reach the ingest in one shape whatever the vendor;
  ``readings()`` and ``positions()`` filter ``history()``;
- ``alerts(since, until)`` -> ``AlertRecord`` of the account (default: none);
- where the vendor has them, group and installation operations.

The base gives: one ``requests`` session with connect/read timeouts; ``request()``, which turns every
failure into one of the error types of ``errors.py`` (authentication = permanent; unavailable, timeout,
rate-limited, unreadable = try later) with messages that carry no URL and no secret; bounded answers
(at most ``max_answer_bytes`` read, and the whole request cut off after ``request_deadline`` seconds
however slowly the server trickles); a rate limiter shared by every worker; a session store for tokens
(kept encrypted on the account by the sync engine, in memory otherwise); and ``redact()`` for anything
that might echo a secret back, in any encoding.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from coldchain.security import redact_secrets, secret_spellings

from .errors import (
    AnswerTooLarge,
    AuthenticationError,
    ParseError,
    RateLimited,
    RequestRefused,
    UnavailableError,
    VendorError,
    VendorTimeout,
)
from .records import (
    AlertRecord,
    DeviceInfo,
    GapRecord,
    PositionRecord,
    ReadingBatch,
    ReadingRecord,
    batches_of,
)

logger = logging.getLogger("vendors.clients")

# Bounded answers, unless the sync engine sets them from the settings (VENDOR_MAX_ANSWER_BYTES,
# VENDOR_REQUEST_DEADLINE). T&D's largest answer (65,535 readings) is about 4-5 MB.
MAX_ANSWER_BYTES = 32 * 1024 * 1024
REQUEST_DEADLINE = 90.0
CHUNK_BYTES = 64 * 1024
# A channel's readings read row by row go to the sync in batches of this many.
BATCH_READINGS = 5_000
# An error answer is read for its message only: its first bytes are enough.
ERROR_TEXT_CHARACTERS = 64 * 1024


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


@dataclass(frozen=True)
class Capabilities:
    """What a vendor can do, declared once on its client class; the sync, the ingest and the pages read
    it here and never compare a vendor's name."""

    keeps_groups: bool = False  # deployment groups live at the vendor; a change goes to the vendor first
    installation_status: bool = False  # the vendor keeps devices' installation statuses (and takes changes)
    positions: bool = False  # some devices report where they are
    alerts: bool = False  # the vendor raises alerts of its own (``alerts()``)
    history: bool = True  # readings come with their history; False: only each device's current value
    # (a vendor with both kinds says it per device: ``DeviceInfo.current_value_only``)


class VendorClient:
    slug: ClassVar[str] = ""
    label: ClassVar[str] = ""  # the vendor's name, as pages and messages show it
    capabilities: ClassVar[Capabilities] = Capabilities()
    credential_fields: ClassVar[tuple[str, ...]] = ()
    default_base_url: ClassVar[str] = ""
    formats: ClassVar[tuple[str, ...]] = ()  # response formats the vendor offers; the first is the default
    connect_timeout: ClassVar[float] = 5.0
    read_timeout: ClassVar[float] = 30.0
    max_answer_bytes: ClassVar[int] = MAX_ANSWER_BYTES
    request_deadline: ClassVar[float] = REQUEST_DEADLINE
    # The one retry policy of a 429 (``request``): every worker of the limiter key is held back for the
    # wait (Retry-After, else ``backoff_base`` doubled at each retry); this worker waits and asks again at
    # most ``retries_after_429`` times, and never waits longer than ``max_wait`` (then RateLimited: the
    # task retries later and the worker is given back). Each client sets what its vendor's documents say.
    retries_after_429: ClassVar[int] = 0
    backoff_base: ClassVar[float] = 60.0
    min_wait: ClassVar[float] = 0.0
    max_wait: ClassVar[float] = 90.0

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
        for prefix in ("http://", "https://"):
            self.http.mount(prefix, _DeadlineAdapter())
        # User names sent with HTTP Basic: a vendor may echo ``base64(user:secret)`` back.
        self._basic_auth_users: set[str] = set()

    def __repr__(self) -> str:  # never show credentials
        return f"<{type(self).__name__} {self.base_url}>"

    @property
    def limiter_key(self) -> str:
        """The shared rate limiter's key of this account's requests (a client whose vendor counts per
        device passes its own key to ``request``). Never a secret."""
        return f"{self.slug}:{self.account_key}"

    # -- the contract ----------------------------------------------------------------------------

    def devices(self) -> list[DeviceInfo]:
        raise NotImplementedError

    def history(
        self, device: DeviceInfo, since: datetime, until: datetime
    ) -> Iterator[ReadingRecord | PositionRecord | GapRecord]:
        """A client implements this (a vendor that answers row by row) or ``history_batches`` (a vendor
        that answers in bulk); each defaults to the other."""
        for item in self.history_batches(device, since, until):
            if type(item) is ReadingBatch:
                yield from item.records()
            else:
                yield item

    def history_batches(
        self, device: DeviceInfo, since: datetime, until: datetime
    ) -> Iterator[ReadingBatch | PositionRecord | GapRecord]:
        """What the sync engine reads: ``history`` with its readings grouped per channel into
        ``ReadingBatch``es of at most ``BATCH_READINGS`` (positions and gaps as they come). Should the
        vendor fail halfway, the readings grouped so far come first, then the error."""
        grouped: dict[str, list[ReadingRecord]] = {}

        def the_rest() -> Iterator[ReadingBatch]:
            for rows in grouped.values():
                if rows:
                    yield from batches_of(rows)
            grouped.clear()

        try:
            for item in self.history(device, since, until):
                if type(item) is not ReadingRecord:
                    yield item
                    continue
                rows = grouped.setdefault(item.channel, [])
                rows.append(item)
                if len(rows) >= BATCH_READINGS:
                    yield from batches_of(rows)
                    rows.clear()
        except VendorError:
            yield from the_rest()  # what arrived is true data: the sync stores it, then sees the error
            raise
        yield from the_rest()

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
        """``text`` without any credential or session token, in any spelling a vendor may echo it back
        (URL- or form-encoded, JSON-escaped, base64 of ``user:secret``...: ``secret_spellings``)."""
        users = self._basic_auth_users | set(self._credentials.values())
        return redact_secrets(text, self.secrets(), users=users, substitute="***")

    def request(
        self,
        method: str,
        path: str,
        *,
        ok_statuses: tuple[int, ...] = (200,),
        limiter_key: str | None = None,
        turn: tuple[int, float] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """Send a request; return the response if its status is in ``ok_statuses``.

        ``turn`` (limit, period): first wait for a turn of the shared limiter under ``limiter_key`` (by
        default the account's). A 429 follows the retry policy above. Raises ``VendorTimeout``,
        ``UnavailableError``, ``RateLimited``, ``AuthenticationError`` or ``RequestRefused``;
        ``error_message(response)`` gives the vendor's own words for an error.
        """
        key = limiter_key or self.limiter_key
        attempt = 0
        while True:
            self.before_request(key)
            if turn is not None:
                self.rate_limiter.wait_turn(key, *turn)
            try:
                return self._request_once(method, path, ok_statuses=ok_statuses, limiter_key=key, **kwargs)
            except RateLimited as exc:
                wait = exc.retry_after if exc.retry_after is not None else self.backoff_base * 2**attempt
                wait = max(wait, self.min_wait)
                self.rate_limiter.block_for(
                    key, wait
                )  # every worker of the key holds back, not only this one
                if attempt >= self.retries_after_429 or wait > self.max_wait:
                    raise RateLimited(exc.message, status=429, retry_after=max(wait, 1.0)) from None
                logger.info("%s: rate limited on %s, waiting %.2f s", self.label, path.split("?")[0], wait)
                self.sleep(wait)
                attempt += 1

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def before_request(self, limiter_key: str) -> None:
        """Called before each attempt: a client whose vendor announces its budget waits here for it."""

    def note_limits(self, limiter_key: str, response: requests.Response) -> None:
        """Called with every answer, a 429 too: a client whose vendor announces its budget reads it here."""

    def retry_after(self, response: requests.Response) -> float | None:
        """How long a 429 asks us to wait (Retry-After); a vendor that says it otherwise overrides this."""
        return _retry_after(response)

    def _request_once(
        self, method: str, path: str, *, ok_statuses: tuple[int, ...], limiter_key: str, **kwargs: Any
    ) -> requests.Response:
        url = f"{self.base_url}{path}"
        kwargs.setdefault("timeout", (self.connect_timeout, self.read_timeout))
        auth = kwargs.get("auth")
        if isinstance(auth, tuple) and auth:
            self._basic_auth_users.add(str(auth[0]))
        # Log the path only: a query string may hold a token (GPSWOX's user_api_hash).
        where = f"{method} {path.split('?')[0]}"
        deadline = _Deadline(self.request_deadline)
        try:
            with deadline:
                response = self.http.request(method, url, stream=True, **kwargs)
                try:
                    self._read_bounded(response, where)
                finally:
                    response.close()  # back to the pool when read to the end; else the connection is closed
        except Exception as exc:
            if deadline.expired:  # whatever broke when the connection was cut
                raise self._past_deadline(where) from None
            if not isinstance(exc, requests.RequestException):
                raise
            if isinstance(exc, requests.Timeout):
                logger.warning("%s: %s timed out", self.label, where)
                raise VendorTimeout(f"{self.label}: no answer in time to {where}") from None
            logger.warning("%s: %s failed: %s", self.label, where, type(exc).__name__)
            raise UnavailableError(
                f"{self.label}: could not reach the server ({type(exc).__name__})"
            ) from None
        if deadline.expired:  # cut off while the server was still sending: what was read is incomplete
            raise self._past_deadline(where)
        status = response.status_code
        logger.debug("%s: %s -> %s", self.label, where, status)
        self.note_limits(limiter_key, response)
        if status in ok_statuses:
            return response
        self._redact_body(response)
        detail = self.redact(self.error_message(response))[:300]
        if status == 429:
            retry_after = self.retry_after(response)
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

    def _read_bounded(self, response: requests.Response, where: str) -> None:
        """Read the body into the response (so ``response.json()`` works as usual), refusing it as soon
        as it is known to pass ``max_answer_bytes``: by its Content-Length before reading, else after
        reading one chunk more than the cap. Memory stays within the cap whatever the server sends."""
        limit = self.max_answer_bytes
        declared = response.headers.get("Content-Length", "").strip()
        if declared.isdigit() and int(declared) > limit:
            raise self._too_large(where, limit)
        body = bytearray()
        for chunk in response.iter_content(chunk_size=CHUNK_BYTES):
            body += chunk
            if len(body) > limit:
                raise self._too_large(where, limit)
        response._content = bytes(body)

    def _too_large(self, where: str, limit: int) -> AnswerTooLarge:
        logger.warning("%s: %s answered more than %s bytes: refused", self.label, where, limit)
        return AnswerTooLarge(
            f"{self.label}: the answer to {where} is larger than {_size(limit)}, the most we read "
            "(VENDOR_MAX_ANSWER_BYTES); it was refused"
        )

    def _past_deadline(self, where: str) -> VendorTimeout:
        logger.warning("%s: %s cut off after %g s", self.label, where, self.request_deadline)
        return VendorTimeout(
            f"{self.label}: no complete answer to {where} within {self.request_deadline:g} s "
            "(VENDOR_REQUEST_DEADLINE); cut off"
        )

    def _redact_body(self, response: requests.Response) -> None:
        """An error answer's text without our secrets, before any client reads its message from it: a
        vendor may echo the request (the body, the query, the Authorization header) in an error, and a
        client that cuts the message short must never leave part of a secret behind."""
        content = response.content
        try:
            text = content.decode(response.encoding or "utf-8", "replace")
        except LookupError:  # a charset Python does not know
            text = content.decode("utf-8", "replace")
        cut = len(text) > ERROR_TEXT_CHARACTERS
        text = self.redact(text[:ERROR_TEXT_CHARACTERS])
        if cut:
            # A secret's spelling that the cut split in two is at the very end, no longer than the longest
            # spelling, and no redaction can find a part of it: drop that end.
            users = tuple(sorted(self._basic_auth_users | set(self._credentials.values())))
            longest = max((len(s) for v in self.secrets() for s in secret_spellings(v, users)), default=0)
            text = text[: max(0, len(text) - longest)]
        response._content = text.encode("utf-8")
        response.encoding = "utf-8"

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


def _size(count: int) -> str:
    return f"{count / 1024 / 1024:g} MB" if count >= 1024 * 1024 else f"{count:,} bytes"


# -- the deadline of a request ----------------------------------------------------------------------

_current = threading.local()


class _Deadline:
    """The overall deadline of one request. A read timeout bounds each wait for bytes, so a server that
    sends one byte a second is never timed out; this cuts the request's connection (shuts its socket
    down) when the deadline passes, wherever the request is: sending, waiting for the headers, or
    reading the body. The thread waiting on the socket then fails at once, and ``expired`` says why.
    """

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expired = False
        self._lock = threading.Lock()
        self._connection: HTTPConnection | None = None
        self._done = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        _current.deadline = self
        self._timer.start()
        return self

    def __exit__(self, *exc_info) -> None:
        with self._lock:
            self._done = True
        self._timer.cancel()
        _current.deadline = None

    def watch(self, connection: HTTPConnection) -> None:
        """Called by the connection that carries the request (``_DeadlineAdapter``'s connections)."""
        with self._lock:
            self._connection = connection
            if self.expired:  # passed while the connection was being made
                _shut_down(connection)

    def _expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            if self._connection is not None:
                _shut_down(self._connection)


def _shut_down(connection: HTTPConnection) -> None:
    sock = getattr(connection, "sock", None)
    if isinstance(sock, socket.socket):
        try:
            # The plain socket's shutdown, also under TLS: it only ends the stream; the reading thread
            # sees the end and fails, and the connection is closed (never reused) by its owner.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:
            pass


def _watch_connection(connection: HTTPConnection) -> None:
    deadline = getattr(_current, "deadline", None)
    if deadline is not None:
        deadline.watch(connection)


class _DeadlineHTTPConnection(HTTPConnection):
    def request(self, *args, **kwargs):
        _watch_connection(self)
        return super().request(*args, **kwargs)

    def getresponse(self, *args, **kwargs):
        _watch_connection(self)  # again: the socket exists now, if the request made it
        return super().getresponse(*args, **kwargs)


class _DeadlineHTTPSConnection(HTTPSConnection):
    def request(self, *args, **kwargs):
        _watch_connection(self)
        return super().request(*args, **kwargs)

    def getresponse(self, *args, **kwargs):
        _watch_connection(self)
        return super().getresponse(*args, **kwargs)


class _DeadlineHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _DeadlineHTTPConnection


class _DeadlineHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


_DEADLINE_POOLS = {"http": _DeadlineHTTPConnectionPool, "https": _DeadlineHTTPSConnectionPool}


class _DeadlineAdapter(HTTPAdapter):
    """requests' adapter whose connections tell the current ``_Deadline`` which socket to cut."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _DEADLINE_POOLS

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS has connection classes of its own
            manager.pool_classes_by_scheme = _DEADLINE_POOLS
        return manager


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


__all__ = [
    "AlertRecord",
    "AnswerTooLarge",
    "AuthenticationError",
    "Capabilities",
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
