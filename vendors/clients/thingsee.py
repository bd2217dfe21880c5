"""Thingsee (Haltian) client: short-lived tokens, deployment groups, messages paged by time.

- A token from ``POST /auth/client-token`` lives 15 minutes [C]; it is kept with its expiry in the session
  store (shared by every worker), reused, renewed a minute before it runs out, and renewed once more
  after a 401 (a second 401 means the credentials are refused).
- Things are found through the deployment groups [C] (Haltian's own app, docs/vendors.md): every group of
  ``GET /groups`` not marked ``deleted``, plus ``unassigned`` for things in no group. ``GET
  /groups/{id}/things`` answers ``{"data": {"group_id", "tuids": [...]}}``; the older guess of a list of
  ``{"tuid"}`` objects is still read.
- Installation statuses are the vendor's words (``new``, ``installed``, ``uninstalled``, ``quarantine``,
  ``retired`` [C]).
- Readings come from ``/things/{tuid}/messages`` (12100: ``temp`` and ``humd``). The order of an answer is
  not documented and a real server may answer newest first (docs/vendors.md [A]), so paging never depends on
  it:
  a window that returns ``limit`` messages may be cut at either end, so it is narrowed (split, guided by
  the span the full answer covered) until every window answers fewer than ``limit``; each window keeps
  only its own seconds, so nothing is skipped or doubled in either order. One second holding ``limit``
  messages or more is asked again with a larger ``limit``.
- Errors: ``{"statusCode", "error", "message"}`` [C] (or the older ``{"error": {"code", "message"}}``);
  the vendor's message is what the user sees.
- Alerts per thing: their ``from``/``to`` strings have no zone: wall-clock time of the account's zone.
- Group and installation operations for the dashboard return the vendor's ``data`` or raise
  ``RequestRefused`` with the vendor's own message.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests

from .base import Capabilities, VendorClient
from .errors import AuthenticationError, ParseError, RequestRefused
from .parsing import measurement, utc_from_epoch
from .records import (
    CELSIUS,
    HUMIDITY,
    PERCENT_RH,
    TEMPERATURE,
    AlertRecord,
    ChannelInfo,
    DeviceInfo,
    GapRecord,
    PositionRecord,
    ReadingRecord,
)

logger = logging.getLogger("vendors.clients.thingsee")

# [C] docs/vendors.md: a token expires 15 minutes after it was created; the answer does not say so itself.
TOKEN_LIFETIME = 15 * 60
TOKEN_RENEW_MARGIN = 60  # renew this long before the token runs out

# [C] docs/vendors.md message ids; the channels of a 12100 environment message we keep.
ENVIRONMENT_MESSAGE = 12100
BATTERY_MESSAGE = 1110
CHANNELS = (ChannelInfo("temp", TEMPERATURE, CELSIUS), ChannelInfo("humd", HUMIDITY, PERCENT_RH))

MESSAGE_PAGE_SIZE = 500
MAX_MESSAGE_PAGE_SIZE = 10_000  # if more than this share one second, the vendor's answer makes no sense
# A full window is split in at most this many parts at once (guided by the span its full answer covered).
MAX_WINDOW_PARTS = 64
# One period read in more requests than this is a vendor answering nonsense (a year of one message a
# minute at 500 an answer is about 1,100 requests).
MAX_MESSAGE_REQUESTS = 20_000
# [A] Whether ``from`` and ``to`` are inclusive is not documented: each window asks one second more at both
# ends and keeps only its own seconds, so either reading of the bounds loses nothing.
BOUND_MARGIN = 1

# docs/vendors.md [C]: things in no group are listed under this group id.
UNASSIGNED = "unassigned"

# [C] thingsee.txt and Haltian's app: the installation statuses a thing may have.
INSTALLATION_STATUSES = ("new", "installed", "uninstalled", "quarantine", "retired")

# [A] Alert times: "YYYY-MM-DDTHH:MM:SS" without a zone, wall-clock time in the account's zone
# (docs/vendors.md).
ALERT_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"

_TOKEN = re.compile(r"[\x21-\x7e]+")

# Only the rate limiter's "blocked" state is used: Thingsee documents no limit, but a 429 is honoured.
DEFAULT_RETRY_AFTER = 30.0


def parse_measurement(raw: Any) -> tuple[float | None, str]:
    """(value, error) of a measurement field: a finite number (maybe a string), else a sensor error code.

    [A] thingsee.txt does not say how a failed sensor is reported: whatever is not a finite number is
    the error code, kept as a string (the simulator sends "ERROR"); true, false and null as JSON writes them.
    """
    return measurement(raw, _as_json)


def _as_json(raw: Any) -> str:
    return json.dumps(raw) if isinstance(raw, bool) or raw is None else str(raw)


def parse_epoch(raw: Any) -> int | None:
    """A Unix timestamp in seconds (number or numeric string), or None."""
    if isinstance(raw, bool) or raw is None:
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError, OverflowError):
        return None
    return int(value) if math.isfinite(value) else None


def parse_number(raw: Any) -> float | None:
    value, error = parse_measurement(raw)
    return None if error else value


class ThingseeClient(VendorClient):
    slug = "thingsee"
    label = "Thingsee"
    capabilities = Capabilities(keeps_groups=True, installation_status=True, alerts=True)
    backoff_base = DEFAULT_RETRY_AFTER  # a 429 without Retry-After: every worker waits this long
    credential_fields = ("client_id", "client_secret")
    default_base_url = ""  # docs/vendors.md: none, each deployment has its own (…/prod/v1)

    page_size = MESSAGE_PAGE_SIZE

    # -- authentication --------------------------------------------------------------------------

    def _token(self) -> str:
        session = self.session_store.load()
        token, expires_at = session.get("token"), session.get("expires_at")
        if isinstance(token, str) and token and isinstance(expires_at, int | float):
            if expires_at - TOKEN_RENEW_MARGIN > time.time():
                return token
        return self._login()

    def _login(self) -> str:
        if not self.base_url:
            raise RequestRefused(f"{self.label}: no base URL configured (each deployment has its own)")
        created = time.time()
        response = self._send("POST", "/auth/client-token", json=self._credentials)
        data = self._data(response, dict)
        token = data.get("token")
        if not isinstance(token, str) or not _TOKEN.fullmatch(token):
            # Not even a token an HTTP header can carry (RFC 6750 uses visible ASCII only).
            raise ParseError(f"{self.label}: the token answer holds no token")
        self.session_store.save({"token": token, "expires_at": created + TOKEN_LIFETIME})
        logger.info("%s: new access token", self.label)
        return token

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One request; a 429 blocks every worker of this account for the time the vendor asks
        (``request``'s policy, ``backoff_base`` when it says no Retry-After)."""
        return self.request(method, path, **kwargs)

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """An authorized request; one new token after a 401, then a 401 is an AuthenticationError."""
        headers = {"Authorization": f"Bearer {self._token()}", **kwargs.pop("headers", {})}
        try:
            return self._send(method, path, headers=headers, **kwargs)
        except AuthenticationError as exc:
            if exc.status != 401:
                raise
        logger.info("%s: token refused, logging in again", self.label)
        headers["Authorization"] = f"Bearer {self._login()}"
        return self._send(method, path, headers=headers, **kwargs)

    def get_data(self, path: str, expected: type, **params: Any) -> Any:
        return self._data(self.call("GET", path, params=params or None), expected)

    def _data(self, response: requests.Response, expected: type) -> Any:
        body = self.json_body(response)
        data = body.get("data") if isinstance(body, dict) else None
        if data is None or not isinstance(data, expected):
            what = "value" if expected is object else expected.__name__
            raise ParseError(f"{self.label}: the answer has no {what} under 'data'")
        return data

    def error_message(self, response: requests.Response) -> str:
        """The vendor's words: ``{"statusCode", "error", "message"}`` [C] (Haltian's app), or the older
        ``{"error": {"code", "message"}}``; the base's reading as a fallback."""
        try:
            body = response.json()
        except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
            return response.text[:200].strip() or response.reason or ""
        if isinstance(body, dict):
            error, message = body.get("error"), body.get("message")
            if isinstance(error, dict) and isinstance(error.get("message"), str):
                return error["message"]
            if isinstance(message, str) and message.strip():
                return message
            if isinstance(error, str) and error.strip():
                return error
        return super().error_message(response)

    # -- devices ---------------------------------------------------------------------------------

    def groups(
        self, q: str | None = None, limit: int | None = None, include_deleted: bool = False
    ) -> list[dict]:
        """``[{"group_id", "group_description", "deleted"}]`` (``q`` searches, ``limit`` caps); groups marked
        ``deleted`` [C] only when asked for."""
        params = {k: v for k, v in {"q": q, "limit": limit}.items() if v is not None}
        rows = [g for g in self.get_data("/groups/", list, **params) if isinstance(g, dict)]
        return rows if include_deleted else [g for g in rows if not is_deleted(g)]

    def group_things(self, group_id: str) -> list[str]:
        """The tuids of a group (``unassigned`` for things in no group)."""
        data = self._data(self.call("GET", f"/groups/{_segment(group_id)}/things"), object)
        return parse_group_things(data, self.label)

    def thing_groups(self) -> dict[str, str | None]:
        """tuid -> group id (None for things in no group), from every live group plus ``unassigned``."""
        group_ids = [str(g["group_id"]) for g in self.groups() if g.get("group_id")]
        found: dict[str, str | None] = {}
        for group_id in [*group_ids, UNASSIGNED]:
            try:
                tuids = self.group_things(group_id)
            except RequestRefused as exc:
                if exc.status == 404:  # deleted since the list was read
                    continue
                raise
            for tuid in tuids:
                found.setdefault(tuid, None if group_id == UNASSIGNED else group_id)
        return found

    def devices(self) -> list[DeviceInfo]:
        out = []
        for tuid, group in self.thing_groups().items():
            info = self.get_data(f"/things/{_segment(tuid)}", dict)
            location = info.get("location") if isinstance(info.get("location"), dict) else {}
            history = self.installation_history(tuid, limit=1)
            status = installation_status(history[0].get("installation_status") if history else None)
            last_seen = parse_epoch(info.get("timestamp"))
            out.append(
                DeviceInfo(
                    vendor_id=tuid,
                    name=tuid,  # Thingsee gives things no name
                    kind="fixed",
                    channels=CHANNELS,
                    group=group,
                    installation_status=status,
                    battery=parse_number(info.get("battery_level")),
                    last_seen=utc_from_epoch(last_seen) if last_seen is not None else None,
                    latitude=parse_number(location.get("lat")),
                    longitude=parse_number(location.get("lon")),
                    extra={k: info[k] for k in ("gateway_tuid",) if isinstance(info.get(k), str)},
                )
            )
        return out

    # -- messages and readings -------------------------------------------------------------------

    def messages(
        self, tuid: str, since: datetime, until: datetime, message_ids: tuple[int, ...] = ()
    ) -> Iterator[dict]:
        """Every message of a thing with since <= tsmTs <= until, oldest first, each once.

        Independent of the order the vendor answers in (docs/vendors.md [A]): an answer of fewer than
        ``limit``
        messages is the whole window; a full one may be cut at either end, so its window is split and
        each part asked again, until every part answers fewer than ``limit``. The parts never share a
        second, and each keeps only its own seconds (``BOUND_MARGIN``), so nothing is doubled.
        """
        start, end = math.ceil(since.timestamp()), math.floor(until.timestamp())
        path = f"/things/{_segment(tuid)}/messages"
        pending = [(start, end, self.page_size)] if start <= end else []
        requests_left = MAX_MESSAGE_REQUESTS
        while pending:
            first, last, limit = pending.pop()  # the oldest window waiting
            requests_left -= 1
            if requests_left < 0:
                raise ParseError(f"{self.label}: the messages of {tuid} never fit in an answer")
            params: dict[str, Any] = {
                "from": first - BOUND_MARGIN,
                "to": last + BOUND_MARGIN,
                "limit": limit,
            }
            if message_ids:
                params["messageid"] = ",".join(map(str, message_ids))
            page = self.get_data(path, list, **params)
            stamped = []
            for message in page:
                ts = parse_epoch(message.get("tsmTs")) if isinstance(message, dict) else None
                if ts is None:
                    logger.warning(
                        "%s: a message of %s without a readable tsmTs was skipped", self.label, tuid
                    )
                    continue
                stamped.append((ts, message))
            if len(page) < limit:
                inside = [(ts, message) for ts, message in stamped if first <= ts <= last]
                # Same-second messages in a fixed order whatever order the vendor used.
                inside.sort(key=lambda pair: (pair[0], json.dumps(pair[1], sort_keys=True)))
                for _, message in inside:
                    yield message
            elif first == last:
                # A whole answer of one second: ask that second again for more at once.
                if limit * 2 > MAX_MESSAGE_PAGE_SIZE:
                    raise ParseError(f"{self.label}: too many messages at one second for {tuid}")
                pending.append((first, last, limit * 2))
            elif not any(first - BOUND_MARGIN <= ts <= last + BOUND_MARGIN for ts, _ in stamped):
                # A full answer with nothing of the period asked: narrowing it would never end.
                raise ParseError(f"{self.label}: the messages answered are not of the period asked")
            else:
                parts = split_window(first, last, [ts for ts, _ in stamped])
                pending.extend((a, b, self.page_size) for a, b in reversed(parts))

    def history(
        self, device: DeviceInfo, since: datetime, until: datetime
    ) -> Iterator[ReadingRecord | PositionRecord | GapRecord]:
        tuid = device.vendor_id
        for message in self.messages(tuid, since, until, message_ids=(ENVIRONMENT_MESSAGE,)):
            if parse_epoch(message.get("tsmId")) != ENVIRONMENT_MESSAGE:
                continue
            timestamp = datetime.fromtimestamp(parse_epoch(message["tsmTs"]), tz=UTC)
            for channel in CHANNELS:
                if channel.name not in message:
                    continue
                value, error = parse_measurement(message[channel.name])
                yield ReadingRecord(tuid, channel.name, timestamp, value, error)

    # -- alerts ----------------------------------------------------------------------------------

    def parse_alert_time(self, text: Any) -> datetime | None:
        """An alert's ``from``/``to``: zone-less wall-clock time in the account's zone -> UTC."""
        if not isinstance(text, str) or not text.strip():
            return None
        try:
            local = datetime.strptime(text.strip(), ALERT_TIME_FORMAT)
        except ValueError:
            raise ParseError(f"{self.label}: unreadable alert time") from None
        try:
            return local.replace(tzinfo=self.timezone).astimezone(UTC)
        except OverflowError:  # its UTC instant falls outside the years 1 to 9999
            raise ParseError(f"{self.label}: unreadable alert time") from None

    def thing_alerts(self, tuid: str, since: datetime, until: datetime) -> list[AlertRecord]:
        params = {"from": math.floor(since.timestamp()), "to": math.ceil(until.timestamp())}
        out = []
        for entry in self.get_data(f"/things/{_segment(tuid)}/alerts", list, **params):
            if not isinstance(entry, dict) or not isinstance(entry.get("alerts"), list):
                continue
            alert_type = str(entry.get("alert_type") or "alert")
            device_id = str(entry.get("tuid") or tuid)
            for alert in entry["alerts"]:
                started = self.parse_alert_time(alert.get("from")) if isinstance(alert, dict) else None
                if started is None:
                    continue
                out.append(
                    AlertRecord(
                        vendor_alert_id=f"{device_id}:{alert_type}:{alert['from'].strip()}",
                        device_id=device_id,
                        alert_type=alert_type,
                        started_at=started,
                        ended_at=self.parse_alert_time(alert.get("to")),
                    )
                )
        return out

    def alerts(self, since: datetime, until: datetime) -> list[AlertRecord]:
        out = []
        for tuid in self.thing_groups():
            out.extend(self.thing_alerts(tuid, since, until))
        return out

    # -- groups and installations (called by the dashboard) --------------------------------------

    def create_group(self, group_id: str, description: str = "") -> dict:
        body = {"group_id": group_id, "group_description": description}
        return self._data(self.call("POST", "/groups", json=body), dict)

    def rename_group(self, old: str, new: str) -> dict:
        return self._data(self.call("POST", f"/groups/{_segment(old)}/rename", json={"group_id": new}), dict)

    def delete_group(self, group_id: str) -> dict:
        return self._data(self.call("DELETE", f"/groups/{_segment(group_id)}"), dict)

    def thing_group(self, tuid: str) -> dict:
        return self.get_data(f"/things/{_segment(tuid)}/group", dict)

    def move_thing(self, tuid: str, group_id: str) -> dict:
        """Put a thing in a group (``unassigned`` takes it out of its group)."""
        return self._data(
            self.call("POST", f"/things/{_segment(tuid)}/group", json={"group_id": group_id}), dict
        )

    def set_installation_status(self, tuid: str, status: str) -> dict:
        body = {"installation_status": status}
        return self._data(self.call("POST", f"/things/{_segment(tuid)}/installations", json=body), dict)

    def installation_history(self, tuid: str, limit: int | None = None) -> list[dict]:
        """Newest first: ``[{"tuid", "installation_status", "timestamp", "responsible"}]``."""
        params = {"limit": limit} if limit else {}
        rows = self.get_data(f"/things/{_segment(tuid)}/installations", list, **params)
        return [row for row in rows if isinstance(row, dict)]


def installation_status(raw: Any) -> str | None:
    """One of ``INSTALLATION_STATUSES`` (``retired`` included [C]), or None for a word we do not know (the
    device then keeps the status it has)."""
    if not isinstance(raw, str):
        return None
    status = raw.strip().lower()
    if status not in INSTALLATION_STATUSES:
        logger.warning("Thingsee: unknown installation status %r ignored", raw[:40])
        return None
    return status


def is_deleted(group: dict) -> bool:
    """[C] ``GET /groups`` marks a deleted group with ``"deleted": true`` (also read as a string or 1)."""
    flag = group.get("deleted")
    return flag is True or (isinstance(flag, int | str) and str(flag).strip().lower() in ("1", "true"))


def parse_group_things(data: Any, label: str = "Thingsee") -> list[str]:
    """The tuids of ``GET /groups/{id}/things``: ``{"group_id", "tuids": [...]}`` [C] (Haltian's app), or
    the older guess, a list of ``{"tuid"}`` objects."""
    if isinstance(data, dict):
        rows = data.get("tuids")
        if rows is None:
            return []
        if not isinstance(rows, list):
            raise ParseError(f"{label}: the group's tuids are not a list")
    elif isinstance(data, list):
        rows = [row.get("tuid") if isinstance(row, dict) else row for row in data]
    else:
        raise ParseError(f"{label}: the group's things are neither an object nor a list")
    return [row for row in rows if isinstance(row, str) and row.strip()]


def split_window(first: int, last: int, seen: list[int]) -> list[tuple[int, int]]:
    """[first, last] (whole seconds, first < last) cut into consecutive parts that share no second.

    A full answer covered ``max(seen) - min(seen) + 1`` seconds of the window with ``limit`` messages, so
    the window likely holds ``window / covered`` times as many: cut it so each part expects about half of
    ``limit`` (two parts at least, at most ``MAX_WINDOW_PARTS``). A wrong guess only costs another split.
    """
    length = last - first + 1
    inside = [ts for ts in seen if first <= ts <= last]
    covered = max(inside) - min(inside) + 1 if inside else length
    parts = min(max(2, math.ceil(2 * length / covered)), MAX_WINDOW_PARTS, length)
    bounds = [first + (length * k) // parts for k in range(parts + 1)]
    return [(bounds[k], bounds[k + 1] - 1) for k in range(parts)]


def _segment(value: str) -> str:
    """A tuid or group id as one path segment (a lone surrogate from a JSON escape is sent as is)."""
    return quote(str(value), safe="", errors="surrogatepass")
