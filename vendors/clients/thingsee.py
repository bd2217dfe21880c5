"""Thingsee (Haltian) client: short-lived tokens, deployment groups, messages paged by time.

- A token from ``POST /auth/client-token`` lives 15 minutes [C]; it is kept with its expiry in the session
  store (shared by every worker), reused, renewed a minute before it runs out, and renewed once more
  after a 401 (a second 401 means the credentials are refused).
- Things are found through the deployment groups: every group of ``GET /groups``, plus ``unassigned``
  for things in no group (NOTES.md [A]).
- Readings come from ``/things/{tuid}/messages`` (12100: ``temp`` and ``humd``), at most ``limit`` per
  answer in ascending ``tsmTs`` (NOTES.md [A]): ``from`` moves to the last second seen, and messages of
  that second already yielded are skipped, so none is lost or doubled when several share a second.
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

from .base import VendorClient
from .errors import AuthenticationError, ParseError, RateLimited, RequestRefused
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

# [C] NOTES.md: a token expires 15 minutes after it was created; the answer does not say so itself.
TOKEN_LIFETIME = 15 * 60
TOKEN_RENEW_MARGIN = 60  # renew this long before the token runs out

# [C] NOTES.md message ids; the channels of a 12100 environment message we keep.
ENVIRONMENT_MESSAGE = 12100
BATTERY_MESSAGE = 1110
CHANNELS = (ChannelInfo("temp", TEMPERATURE, CELSIUS), ChannelInfo("humd", HUMIDITY, PERCENT_RH))

MESSAGE_PAGE_SIZE = 500
MAX_MESSAGE_PAGE_SIZE = 10_000  # if more than this share one second, the vendor's answer makes no sense

# NOTES.md [A]: things in no group are listed under this group id.
UNASSIGNED = "unassigned"

# [A] Alert times: "YYYY-MM-DDTHH:MM:SS" without a zone, wall-clock time in the account's zone (NOTES.md).
ALERT_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"

_TOKEN = re.compile(r"[\x21-\x7e]+")

# Only the rate limiter's "blocked" state is used: Thingsee documents no limit, but a 429 is honoured.
DEFAULT_RETRY_AFTER = 30.0


def parse_measurement(raw: Any) -> tuple[float | None, str]:
    """(value, error) of a measurement field: a finite number (maybe a string), else a sensor error code.

    [A] thingsee.txt does not say how a failed sensor is reported: whatever is not a finite number is
    the error code, kept as a string (the simulator sends "ERROR").
    """
    if isinstance(raw, bool) or raw is None:
        return None, json.dumps(raw)
    try:
        value = float(raw) if isinstance(raw, int | float) else float(str(raw).strip())
    except (ValueError, OverflowError):  # OverflowError: an integer past the float range
        return None, str(raw)
    if not math.isfinite(value):
        return None, str(raw)
    return value, ""


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
    credential_fields = ("client_id", "client_secret")
    default_base_url = ""  # NOTES.md: none, each deployment has its own (…/prod/v1)

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
        """One request; a 429 blocks every worker of this account for the time the vendor asks."""
        try:
            return self.request(method, path, **kwargs)
        except RateLimited as exc:
            self.rate_limiter.block_for(
                f"{self.slug}:{self.account_key}", exc.retry_after or DEFAULT_RETRY_AFTER
            )
            raise

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
        if not isinstance(data, expected):
            raise ParseError(f"{self.label}: the answer has no {expected.__name__} under 'data'")
        return data

    def error_message(self, response: requests.Response) -> str:
        """The vendor's words: ``{"error": {"code", "message"}}`` (or a plain message, as a fallback)."""
        try:
            body = response.json()
        except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
            return response.text[:200].strip() or response.reason or ""
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]
        return super().error_message(response)

    # -- devices ---------------------------------------------------------------------------------

    def groups(self, q: str | None = None, limit: int | None = None) -> list[dict]:
        """``[{"group_id", "group_description"}]`` (``q`` searches, ``limit`` caps)."""
        params = {k: v for k, v in {"q": q, "limit": limit}.items() if v is not None}
        return [g for g in self.get_data("/groups/", list, **params) if isinstance(g, dict)]

    def group_things(self, group_id: str) -> list[str]:
        """The tuids of a group (``unassigned`` for things in no group)."""
        rows = self.get_data(f"/groups/{_segment(group_id)}/things", list)
        return [str(row["tuid"]) for row in rows if isinstance(row, dict) and row.get("tuid")]

    def thing_groups(self) -> dict[str, str | None]:
        """tuid -> group id (None for things in no group), from every group plus ``unassigned``."""
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
            status = (
                history[0].get("installation_status") if history and isinstance(history[0], dict) else None
            )
            last_seen = parse_epoch(info.get("timestamp"))
            out.append(
                DeviceInfo(
                    vendor_id=tuid,
                    name=tuid,  # Thingsee gives things no name
                    kind="fixed",
                    channels=CHANNELS,
                    group=group,
                    installation_status=status if isinstance(status, str) else None,
                    battery=parse_number(info.get("battery_level")),
                    last_seen=_utc(last_seen) if last_seen is not None else None,
                    latitude=parse_number(location.get("lat")),
                    longitude=parse_number(location.get("lon")),
                    extra={k: info[k] for k in ("gateway_tuid", "version") if isinstance(info.get(k), str)},
                )
            )
        return out

    # -- messages and readings -------------------------------------------------------------------

    def messages(
        self, tuid: str, since: datetime, until: datetime, message_ids: tuple[int, ...] = ()
    ) -> Iterator[dict]:
        """Every message of a thing with since <= tsmTs <= until, oldest first, each once.

        The vendor answers at most ``limit`` messages in ascending ``tsmTs`` (NOTES.md [A]); the next
        page starts at the last second seen (``from`` is inclusive), skipping the messages of that
        second already yielded, so several messages at one second survive a page boundary.
        """
        start, end = math.ceil(since.timestamp()), math.floor(until.timestamp())
        cursor, seen_at_cursor, limit = start, set(), self.page_size
        path = f"/things/{_segment(tuid)}/messages"
        while cursor <= end:
            params: dict[str, Any] = {"from": cursor, "to": end, "limit": limit}
            if message_ids:
                params["messageid"] = ",".join(map(str, message_ids))
            page = self.get_data(path, list, **params)
            fresh, last = [], cursor
            for message in page:
                ts = parse_epoch(message.get("tsmTs")) if isinstance(message, dict) else None
                if ts is None:
                    logger.warning(
                        "%s: a message of %s without a readable tsmTs was skipped", self.label, tuid
                    )
                    continue
                last = max(last, ts)
                key = json.dumps(message, sort_keys=True)
                if ts == cursor and key in seen_at_cursor:
                    continue
                if start <= ts <= end:
                    fresh.append((ts, key, message))
            for _, _, message in fresh:
                yield message
            if len(page) < limit:
                return
            if last == cursor:
                # A whole page of one second: ask again from that second for more at once.
                seen_at_cursor |= {key for ts, key, _ in fresh}
                limit *= 2
                if limit > MAX_MESSAGE_PAGE_SIZE:
                    raise ParseError(f"{self.label}: too many messages at one second for {tuid}")
            else:
                cursor, seen_at_cursor = last, {key for ts, key, _ in fresh if ts == last}

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

    def alerting_tuids(self) -> list[str]:
        data = self.get_data("/things/alerts", dict)
        tuids = data.get("alerting_tuids")
        return [str(t) for t in tuids] if isinstance(tuids, list) else []

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

    def send_commands(self, tuid: str, commands: list[dict]) -> dict:
        """Send commands (message ids 1500, 1501, 12200, 13200 only); ``{"responsible", "commands"}``."""
        return self._data(self.call("POST", f"/things/{_segment(tuid)}/commands", json=commands), dict)

    def commands(self, tuid: str, limit: int | None = None) -> list[dict]:
        params = {"limit": limit} if limit else {}
        return [
            c
            for c in self.get_data(f"/things/{_segment(tuid)}/commands", list, **params)
            if isinstance(c, dict)
        ]


def _segment(value: str) -> str:
    """A tuid or group id as one path segment (a lone surrogate from a JSON escape is sent as is)."""
    return quote(str(value), safe="", errors="surrogatepass")


def _utc(seconds: int) -> datetime | None:
    """The UTC instant of epoch seconds, or None past the years datetime can hold."""
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None
