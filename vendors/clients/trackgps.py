"""TrackGPS (trackgps.id), a white-label of the GPSWOX server API.

Sources: ../shared/vendor-docs/trackgps.txt and NOTES.md (section "TrackGPS").

- ``POST /api/login`` (form ``email``, ``password``) gives a ``user_api_hash``. It is kept in the session
  store (so every worker reuses it) and sent, with ``lang``, as query parameters of every other call:
  GPSWOX has no other way. After a 401 the client logs in once more; a second 401 is an
  ``AuthenticationError``. The hash never appears in a log line or an exception message (the base logs
  the path only; ``_RedactHashFilter`` below keeps urllib3's own debug lines clean).
- Devices: ``get_devices`` (a bare array of groups; the group title becomes ``DeviceInfo.group``), with
  drivers from ``get_user_drivers``. Channels: the GPSWOX sensors of type ``temperature`` and
  ``humidity``, named by their sensor id.
- History: ``get_history`` in windows of at most ``HISTORY_WINDOW``, with from/to dates and times as
  wall-clock in the account's time zone. Every point is a ``PositionRecord``; its temperature and
  humidity sensor values are ``ReadingRecord``s.
- Alerts: ``get_events``, every page.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

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

logger = logging.getLogger("vendors.clients")

# The language sent with every call (GPSWOX requires ``lang``; "en" is its default).
LANG = "en"

# [A] No maximum span per get_history request is documented; we ask for at most one day at a time,
# which keeps each answer small (720 points at one point every two minutes).
HISTORY_WINDOW = timedelta(days=1)

# A safety stop for paginated lists (get_events, get_user_drivers) whose last_page never comes.
MAX_PAGES = 10_000

# GPSWOX sensor types that carry cold-chain readings, and what they measure.
SENSOR_QUANTITIES = {"temperature": (TEMPERATURE, CELSIUS), "humidity": (HUMIDITY, PERCENT_RH)}

WALL_CLOCK_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%d-%m-%Y %H:%M:%S")
SESSION_KEY = "user_api_hash"
_NUMBER = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*(?:°\s*C|C|%\s*RH|%)?\s*$")


class _RedactHashFilter(logging.Filter):
    """urllib3 logs every request line, query string included, at DEBUG: hide the user_api_hash there."""

    pattern = re.compile(r"(user_api_hash=)[^&\s\"']*")

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - never break logging
            return True
        if "user_api_hash" in message:
            record.msg = self.pattern.sub(r"\1***", message)
            record.args = ()
        return True


def _install_log_filter() -> None:
    log = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, _RedactHashFilter) for f in log.filters):
        log.addFilter(_RedactHashFilter())


_install_log_filter()


# -- parsers: each quirk in one place ------------------------------------------------------------------


def parse_measurement(value: Any) -> tuple[float | None, str]:
    """A sensor value -> (number, "") or (None, error code).

    Numbers may arrive as numbers or strings (with the unit, "4.5 °C"); anything that is not a finite
    number is a sensor error, stored as the vendor wrote it (the simulator writes "ERR")."""
    if isinstance(value, bool):
        return None, str(value)
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # an integer past the float range: not a finite number
            return None, str(value)[:100]
    elif isinstance(value, str) and (match := _NUMBER.match(value)):
        number = float(match.group(1))
    else:
        return None, "null" if value is None else str(value)[:100]
    if not math.isfinite(number):
        return None, str(value)[:100]
    return number, ""


def _number(value: Any) -> float | None:
    number, error = parse_measurement(value)
    return None if error else number


def _utc(seconds: float) -> datetime | None:
    """The UTC instant of epoch seconds, or None past the years datetime can hold."""
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


class TrackGPSClient(VendorClient):
    slug = "trackgps"
    label = "TrackGPS"
    credential_fields = ("email", "password")
    default_base_url = "https://trackgps.id"

    # -- time ------------------------------------------------------------------------------------

    def parse_time(self, text: Any) -> datetime:
        """NOTES [A]: a GPSWOX ``time`` is wall-clock time in the account's time zone -> aware UTC.

        History points also carry ``server_time`` (UTC), but that is when the server received the
        point, seconds to hours after it was measured; the measurement instant is ``time``."""
        if not isinstance(text, str):
            raise ParseError(f"{self.label}: a time is missing or not text")
        for fmt in WALL_CLOCK_FORMATS:
            try:
                naive = datetime.strptime(text.strip(), fmt)
            except ValueError:
                continue
            try:
                return naive.replace(tzinfo=self.timezone).astimezone(UTC)
            except OverflowError:  # its UTC instant falls outside the years 1 to 9999
                break
        raise ParseError(f"{self.label}: unreadable time {text[:30]!r}")

    def wall_clock(self, instant: datetime) -> datetime:
        return instant.astimezone(self.timezone)

    # -- session ---------------------------------------------------------------------------------

    def login(self) -> str:
        form = {"email": self.credential("email"), "password": self.credential("password")}
        response = self._send("POST", "/api/login", data=form)  # in the body, never in the URL
        body = self.json_body(response)
        value = body.get(SESSION_KEY) if isinstance(body, dict) else None
        if not isinstance(value, str) or not value or not value.isprintable():
            # (not printable: a lone surrogate or a control character no query string can carry)
            if isinstance(body, dict) and str(body.get("status")) == "0":
                raise AuthenticationError(f"{self.label}: credentials refused")
            raise ParseError(f"{self.label}: the login answer holds no user_api_hash")
        self.session_store.save({**self.session_store.load(), SESSION_KEY: value})
        logger.info("%s: logged in", self.label)
        return value

    def _user_api_hash(self) -> str:
        value = self.session_store.load().get(SESSION_KEY)
        return value if isinstance(value, str) and value else self.login()

    def _forget(self, value: str) -> None:
        data = self.session_store.load()
        if data.get(SESSION_KEY) == value:
            data.pop(SESSION_KEY)
            self.session_store.save(data)

    def call(self, endpoint: str, **params: Any) -> Any:
        """GET ``/api/<endpoint>`` with ``lang`` and ``user_api_hash``; one new login after a 401."""
        for attempt in (1, 2):
            value = self._user_api_hash()
            try:
                response = self._send(
                    "GET", f"/api/{endpoint}", params={"lang": LANG, SESSION_KEY: value, **params}
                )
            except AuthenticationError:
                self._forget(value)
                if attempt == 2:
                    raise
                logger.info("%s: user_api_hash refused, logging in again", self.label)
                continue
            body = self.json_body(response)
            if isinstance(body, dict) and str(body.get("status", 1)) == "0":
                detail = self.redact(str(body.get("message", "")))[:200]
                raise RequestRefused(f"{self.label}: {endpoint} refused ({detail})")
            return body
        raise AssertionError("unreachable")

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """``request()``; a 429 also tells the shared rate limiter to hold every worker back."""
        try:
            return self.request(method, path, **kwargs)
        except RateLimited as exc:
            self.rate_limiter.block_for(f"{self.slug}:{self.account_key}", exc.retry_after or 60)
            raise

    # -- devices ---------------------------------------------------------------------------------

    def devices(self) -> list[DeviceInfo]:
        body = self.call("get_devices")
        if isinstance(body, dict) and isinstance(body.get("items"), list):
            body = body["items"]  # tolerate an envelope; NOTES [C] says a bare array
        if not isinstance(body, list):
            raise ParseError(f"{self.label}: get_devices is not a list of groups")
        drivers = self.drivers()
        out = []
        for group in body:
            if not isinstance(group, dict) or not isinstance(group.get("items", []), list):
                raise ParseError(f"{self.label}: unreadable device group")
            title = group.get("title")
            for item in group.get("items") or []:
                out.append(self._device(item, str(title) if title else None, drivers))
        return out

    def _device(self, item: Any, group: str | None, drivers: dict[str, str]) -> DeviceInfo:
        if not isinstance(item, dict) or item.get("id") in (None, ""):
            raise ParseError(f"{self.label}: a device without an id")
        vendor_id = str(item["id"])
        channels = []
        sensors = item.get("sensors")
        for sensor in sensors if isinstance(sensors, list) else []:
            if (
                isinstance(sensor, dict)
                and isinstance(sensor.get("type"), str)
                and sensor.get("type") in SENSOR_QUANTITIES
                and sensor.get("id") is not None
            ):
                quantity, unit = SENSOR_QUANTITIES[sensor["type"]]
                channels.append(ChannelInfo(str(sensor["id"]), quantity, unit))
        driver = drivers.get(vendor_id)
        if driver is None:
            data = item.get("driver_data")
            if isinstance(data, dict) and isinstance(data.get("name"), str) and data["name"]:
                driver = data["name"]
        timestamp = _number(item.get("timestamp"))
        data = item.get("device_data") if isinstance(item.get("device_data"), dict) else {}
        extra = {k: data.get(k) for k in ("imei", "plate_number", "device_model") if data.get(k)}
        if item.get("online") is not None:
            extra["online"] = item["online"]
        lat, lng = _number(item.get("lat")), _number(item.get("lng"))
        has_position = lat is not None and lng is not None and (lat, lng) != (0.0, 0.0)
        return DeviceInfo(
            vendor_id=vendor_id,
            name=str(item.get("name") or vendor_id),
            kind="vehicle",  # GPSWOX tracks vehicles
            channels=tuple(channels),
            group=group,
            last_seen=_utc(timestamp) if timestamp else None,
            latitude=lat if has_position else None,
            longitude=lng if has_position else None,
            driver=driver,
            extra=extra,
        )

    def drivers(self) -> dict[str, str]:
        """Vehicle id -> the name of the driver linked to it (``get_user_drivers``)."""
        out: dict[str, str] = {}
        try:
            rows = list(self._pages("get_user_drivers"))
        except RequestRefused:  # a server without drivers: the device's own driver_data still counts
            return out
        for row in rows:
            if isinstance(row, dict) and row.get("device_id") not in (None, "", 0) and row.get("name"):
                out.setdefault(str(row["device_id"]), str(row["name"]))
        return out

    def _pages(self, endpoint: str, **params: Any) -> Iterator[Any]:
        """Rows of a paginated list: ``{"items": {"data", "current_page", "last_page"}}`` (NOTES [C])."""
        page = 1
        while page <= MAX_PAGES:
            body = self.call(endpoint, page=page, **params)
            items = body.get("items") if isinstance(body, dict) else body
            if isinstance(items, list):  # not paginated at all
                yield from items
                return
            if not isinstance(items, dict) or not isinstance(items.get("data"), list):
                raise ParseError(f"{self.label}: {endpoint} is not a paginated list")
            yield from items["data"]
            last = _number(items.get("last_page"))
            if not items["data"] or last is None or page >= last:
                return
            page += 1

    # -- history ---------------------------------------------------------------------------------

    def history(
        self, device: DeviceInfo, since: datetime, until: datetime
    ) -> Iterator[ReadingRecord | PositionRecord | GapRecord]:
        since, until = since.astimezone(UTC), until.astimezone(UTC)
        start = since
        while start <= until:
            end = min(start + HISTORY_WINDOW, until)
            last = end >= until
            for record in self._window(device, start, end):
                t = record.timestamp
                if start <= t and (t < end or (last and t <= end)):
                    yield record
            if last:
                break
            start = end

    def _window(self, device: DeviceInfo, start: datetime, end: datetime) -> list:
        """The records of one get_history call (the window's ends wall-clock in the account's zone)."""
        a, b = self.wall_clock(start), self.wall_clock(end)
        body = self.call(
            "get_history",
            device_id=device.vendor_id,
            from_date=a.strftime("%Y-%m-%d"),
            from_time=a.strftime("%H:%M:%S"),
            to_date=b.strftime("%Y-%m-%d"),
            to_time=b.strftime("%H:%M:%S"),
        )
        try:
            return self._history_records(device, body)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            raise ParseError(f"{self.label}: unreadable history of device {device.vendor_id}") from None

    def _history_records(self, device: DeviceInfo, body: Any) -> list:
        if not isinstance(body, dict) or not isinstance(body.get("items", []), list):
            raise ParseError(f"{self.label}: get_history is not a history")
        channels = {c.name for c in device.channels}
        for sensor in body.get("sensors") or []:  # the history names its own sensors too
            if isinstance(sensor, dict) and sensor.get("type") in SENSOR_QUANTITIES:
                channels.add(str(sensor["id"]))
        out: list = []
        seen: set[datetime] = set()
        for segment in body.get("items") or []:
            points = segment.get("items") if isinstance(segment, dict) else None
            if not isinstance(points, list):
                raise ParseError(f"{self.label}: unreadable history segment")
            for point in points:
                t = self.parse_time(point["time"])
                if t in seen:  # GPSWOX may repeat a point where two segments meet
                    continue
                seen.add(t)
                lat, lng = _number(point.get("lat")), _number(point.get("lng"))
                if lat is not None and lng is not None:
                    out.append(PositionRecord(device.vendor_id, t, lat, lng, _number(point.get("speed"))))
                for entry in point.get("sensors_data") or []:
                    if str(entry["id"]) in channels:
                        value, error = parse_measurement(entry.get("value"))
                        out.append(ReadingRecord(device.vendor_id, str(entry["id"]), t, value, error))
        return out

    # -- alerts ----------------------------------------------------------------------------------

    def alerts(self, since: datetime, until: datetime) -> list[AlertRecord]:
        """Every event of the account with since <= time <= until (``get_events``, every page)."""
        since, until = since.astimezone(UTC), until.astimezone(UTC)
        a, b = self.wall_clock(since), self.wall_clock(until)
        out: dict[str, AlertRecord] = {}
        rows = self._pages(
            "get_events", date_from=a.strftime("%Y-%m-%d %H:%M:%S"), date_to=b.strftime("%Y-%m-%d %H:%M:%S")
        )
        for row in rows:
            if not isinstance(row, dict) or row.get("id") in (None, ""):
                raise ParseError(f"{self.label}: an event without an id")
            started = self.parse_time(row.get("time"))
            if not since <= started <= until:
                continue
            device_id = row.get("device_id")
            message = str(row.get("message") or row.get("name") or "")
            out[str(row["id"])] = AlertRecord(
                vendor_alert_id=str(row["id"]),
                device_id=str(device_id) if device_id not in (None, "") else None,
                alert_type=str(row.get("type") or message or "event"),
                started_at=started,
                message=message,
                latitude=_number(row.get("latitude")),
                longitude=_number(row.get("longitude")),
                address=str(row.get("address") or ""),
                speed_kmh=_number(row.get("speed")),
            )
        return sorted(out.values(), key=lambda r: (r.started_at, r.vendor_alert_id))
