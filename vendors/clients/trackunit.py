"""Trackunit Classic API client (docs/vendors.md, "Trackunit Classic").

- HTTP Basic auth, user ``API``, password = the token. The token never goes in a URL (the documents
  allow it; we do not need it).
- ``GET /Unit`` -> devices; ``GET /Report/UnitHistory`` -> temperatures (``temperature1`` front probe,
  ``temperature2`` rear probe) and GPS positions; ``GET /Report/AlarmHistory`` -> alerts. Every report is
  asked for in windows of at most 31 days, the documented maximum.
- Unit ids are strings (``"3331359"``, docs/vendors.md [C]); a number is read as its digits. History rows
carry
  more than we read (``event``, ``keyId``, ``heading``, ``km``, ``run1``-``run4``, inputs [C]): only
  ``time``, the probes, ``location`` (or flat ``latitude``/``longitude``) and ``speed`` are read, the
  rest is ignored whatever its type.
- 50 requests a second per account: every request waits its turn in the shared rate limiter (45 a second,
  a margin for clock skew between workers); a 429 is waited out a few times, then ``RateLimited``.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import requests

from .base import Capabilities, VendorClient
from .errors import ParseError, RequestRefused
from .parsing import finite_number, measurement
from .records import (
    CELSIUS,
    TEMPERATURE,
    AlertRecord,
    ChannelInfo,
    DeviceInfo,
    GapRecord,
    PositionRecord,
    ReadingRecord,
)

logger = logging.getLogger("vendors.clients.trackunit")

# The documents: "There is a maximum timespan of 31 days for API calls" (a longer one gets 400
# invalidParameter, field To: docs/vendors.md [A]). Every report request covers at most this much.
MAX_SPAN = timedelta(days=31)

# The temperature probes a unit may have: temperature1 is the front probe, temperature2 the rear one.
PROBES = ("temperature1", "temperature2")

_TIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?\s*(Z|[+-]\d{2}:?\d{2})?$"
)


def parse_time(value: Any, tz) -> datetime | None:
    """A Trackunit time (``2014-09-01T07:12:00.0000000Z``: seven fractional digits, which Python's
    datetime cannot hold, so they are cut to six) as an aware UTC datetime. A time without a zone is
    wall-clock time in ``tz`` (docs/vendors.md). None if it is not a time."""
    if not isinstance(value, str):
        return None
    m = _TIME_RE.match(value.strip())
    if not m:
        return None
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    try:
        dt = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int((fraction or "0")[:6].ljust(6, "0")),
        )
    except ValueError:
        return None
    if zone == "Z":
        return dt.replace(tzinfo=UTC)
    try:  # OverflowError: a time whose UTC instant falls outside the years 1 to 9999
        if zone is None:
            return dt.replace(tzinfo=tz).astimezone(UTC)
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        return (dt - sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))).replace(tzinfo=UTC)
    except OverflowError:
        return None


def format_time(dt: datetime) -> str:
    """An aware datetime as Trackunit writes times: UTC, seven fractional digits, ``Z``."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def parse_measurement(raw: Any) -> tuple[float | None, str] | None:
    """A probe's value as (value, error).

    - ``None`` (or a missing key): no probe fitted, no reading at all -> None. [A] The documents are silent;
      the one-probe units we model send ``temperature2: null``.
    - a finite number (or a string holding one) -> (value, "").
    - anything else (``"NaN"``, ``"Infinity"``, a word, a bool) is a sensor error (docs/vendors.md: "a value
    that is
      not a finite number where a measurement belongs is a sensor error") -> (None, the raw value as text).
    """
    if raw is None:
        return None
    return measurement(raw, _error_text)


def _error_text(raw: Any) -> str:
    """A value that is not a finite number in words: NaN, Infinity, -Infinity, true, false, the text."""
    if isinstance(raw, bool):
        return str(raw).lower()
    if isinstance(raw, float) and math.isnan(raw):
        return "NaN"
    if isinstance(raw, int | float):  # infinite, or an integer past the float range
        return "Infinity" if raw > 0 else "-Infinity"
    if isinstance(raw, str):
        return raw.strip()[:50] or "empty"
    return type(raw).__name__


parse_number = finite_number


def parse_location(raw: Any) -> tuple[float, float] | None:
    """``{"latitude", "longitude"}`` -> (lat, lon), or None when absent or not a valid position. A history
    row is read this way too where it has no ``location`` (a public client's cache keeps them flat)."""
    if not isinstance(raw, dict):
        return None
    lat, lon = parse_number(raw.get("latitude")), parse_number(raw.get("longitude"))
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return lat, lon


def unit_id_text(raw: Any) -> str | None:
    """A unit id as text: a string as it is (stripped), a whole number as its digits [C]; else None."""
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    text = str(raw).strip()
    return text or None


def address_line(raw: Any) -> str:
    """An alarm's address as one line: ``street, zip city, country``."""
    if not isinstance(raw, dict):
        return ""

    def part(key: str) -> str:
        value = raw.get(key)
        return str(value).strip() if value is not None else ""

    place = " ".join(p for p in (part("zipCode"), part("city")) if p)
    return ", ".join(p for p in (part("streetAddress"), place, part("country")) if p)


def alert_id(alarm_id: Any, unit_id: str, triggered_at: datetime) -> str:
    """[A] ``alarmId`` names the alarm rule, not the event: the documents' own example repeats 70329 for four
    units. So an alert's stable id is the rule, the unit and the instant together."""
    return f"{alarm_id}:{unit_id}:{triggered_at:%Y-%m-%dT%H:%M:%S.%f}Z"


class TrackunitClient(VendorClient):
    slug = "trackunit"
    label = "Trackunit Classic"
    capabilities = Capabilities(positions=True, alerts=True)
    credential_fields = ("token",)
    default_base_url = "https://api.trackunit.com/public"
    formats = ("json",)

    # The documented limit is 50 requests a second per account (docs/vendors.md [A]: more gets 429). The
    # shared
    # limiter counts fixed windows, and two adjacent windows can fall in one sliding second, so each
    # window gets less than half the limit: no second can ever hold more than 2 x 22 = 44 requests, with
    # room for clock skew between workers. Tests set these to match a simulator with a lowered limit.
    rate_limit: ClassVar[int] = 22
    rate_period: ClassVar[float] = 1.0
    # On a 429: wait (Retry-After, or 0.5 s, 1 s, 2 s...) and retry at most this many times. The documents
    # say an excess is delayed "for up to 3 seconds", so a longer wait is not worth blocking a worker for.
    retries_after_429: ClassVar[int] = 3
    backoff_base: ClassVar[float] = 0.5
    max_wait: ClassVar[float] = 3.0

    # -- HTTP ------------------------------------------------------------------------------------

    def get(self, path: str, params: dict[str, str] | None = None) -> list:
        """GET one resource; returns the envelope's ``list`` (a 429 is waited out by ``request``)."""
        response = self.request(
            "GET",
            path,
            params=params,
            auth=("API", self.credential("token")),
            headers={"Accept": "application/json"},
            turn=(self.rate_limit, self.rate_period),
        )
        return self.envelope_list(response)

    def envelope_list(self, response: requests.Response) -> list:
        body = self.json_body(response)
        if not isinstance(body, dict):
            raise ParseError(f"{self.label}: the answer is not the documented envelope")
        status = body.get("responseStatus")
        if isinstance(status, dict) and status.get("errorCode"):
            # SOAP-style: a 200 may still carry an error (the documents say to check ResponseStatus).
            raise RequestRefused(f"{self.label}: request refused ({self.redact(_status_text(status))})")
        items = body.get("list")
        if items is None:
            return []
        if not isinstance(items, list):
            raise ParseError(f"{self.label}: the answer's list is not a list")
        return [item for item in items if isinstance(item, dict)]

    def error_message(self, response: requests.Response) -> str:
        try:
            body = response.json()
        except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
            return response.text[:200].strip() or response.reason or ""
        status = body.get("responseStatus") if isinstance(body, dict) else None
        if isinstance(status, dict):
            return _status_text(status)
        return super().error_message(response)

    def windows(self, since: datetime, until: datetime) -> Iterator[tuple[datetime, datetime]]:
        """[since, until] cut into windows of at most MAX_SPAN (each window's end is the next one's start)."""
        start = since
        while start <= until:
            end = min(start + MAX_SPAN, until)
            yield start, end
            if end >= until:
                break
            start = end

    # -- the contract ----------------------------------------------------------------------------

    def devices(self) -> list[DeviceInfo]:
        out = []
        for unit in self.get("/Unit"):
            unit_id = unit_id_text(unit.get("id"))
            if unit_id is None:
                continue
            channels = tuple(
                ChannelInfo(name, TEMPERATURE, CELSIUS)
                for name in PROBES
                if parse_measurement(unit.get(name)) is not None
            )
            location = parse_location(unit.get("location"))
            name = unit.get("name") or unit.get("serialNumber") or unit_id
            out.append(
                DeviceInfo(
                    vendor_id=unit_id,
                    name=str(name),
                    kind="vehicle",
                    channels=channels,
                    battery=parse_number(unit.get("batteryLevel")),
                    last_seen=parse_time(unit.get("gpsFixTime"), self.timezone),
                    latitude=location[0] if location else None,
                    longitude=location[1] if location else None,
                )
            )
        return out

    def history(
        self, device: DeviceInfo, since: datetime, until: datetime
    ) -> Iterator[ReadingRecord | PositionRecord | GapRecord]:
        unit_id = device.vendor_id
        probes = tuple(c.name for c in device.channels if c.name in PROBES) or PROBES
        previous_end: datetime | None = None
        seen_at_boundary: set[datetime] = set()
        for start, end in self.windows(since, until):
            rows = self.get(
                "/Report/UnitHistory", {"unitId": unit_id, "from": format_time(start), "to": format_time(end)}
            )
            at_end: set[datetime] = set()
            for row in rows:
                ts = parse_time(row.get("time"), self.timezone)
                if ts is None:
                    raise ParseError(f"{self.label}: a history row has no readable time")
                if not start <= ts <= end:
                    continue
                if ts == previous_end and ts in seen_at_boundary:
                    continue  # the previous window ended on this instant and already gave it
                if ts == end:
                    at_end.add(ts)
                yield from row_records(unit_id, ts, row, probes)
            previous_end, seen_at_boundary = end, at_end

    def alerts(self, since: datetime, until: datetime) -> Iterator[AlertRecord]:
        seen: set[str] = set()
        for start, end in self.windows(since, until):
            for alarm in self.get(
                "/Report/AlarmHistory", {"from": format_time(start), "to": format_time(end)}
            ):
                at = parse_time(alarm.get("triggeredAt"), self.timezone)
                if at is None:
                    raise ParseError(f"{self.label}: an alarm has no readable time")
                if not since <= at <= until:
                    continue
                device_id = unit_id_text(alarm.get("unitId"))
                vendor_alert_id = alert_id(alarm.get("alarmId"), device_id or "", at)
                if vendor_alert_id in seen:
                    continue
                seen.add(vendor_alert_id)
                location = parse_location(alarm.get("location"))
                yield AlertRecord(
                    vendor_alert_id=vendor_alert_id,
                    device_id=device_id or None,
                    alert_type=str(alarm.get("alarmType") or "Unknown"),
                    started_at=at,
                    latitude=location[0] if location else None,
                    longitude=location[1] if location else None,
                    address=address_line(alarm.get("address")),
                )


def row_records(
    unit_id: str, ts: datetime, row: dict, probes: tuple[str, ...] = PROBES
) -> Iterator[ReadingRecord | PositionRecord]:
    """The readings of the unit's probes and its position in one ``UnitHistory`` row at ``ts``.

    Only ``temperature1``/``temperature2``, ``location`` (or flat ``latitude``/``longitude``) and ``speed``
    are read; every other field (``event``, ``keyId``, ``heading``, ``km``, ``run1``..., inputs [C]) is
    ignored, whatever its type."""
    for probe in probes:
        measurement = parse_measurement(row.get(probe))
        if measurement is not None:
            value, error = measurement
            yield ReadingRecord(unit_id, probe, ts, value, error)
    location = parse_location(row.get("location")) or parse_location(row)
    if location is not None:
        yield PositionRecord(unit_id, ts, location[0], location[1], parse_number(row.get("speed")))


def _status_text(status: dict) -> str:
    parts = [str(status.get(k)) for k in ("errorCode", "message") if status.get(k)]
    errors = status.get("errors")
    for error in errors if isinstance(errors, list) else []:
        if isinstance(error, dict) and error.get("fieldName"):
            parts.append(f"field {error.get('fieldName')}")
    return ": ".join(parts[:2]) + (f" ({', '.join(parts[2:])})" if parts[2:] else "")
