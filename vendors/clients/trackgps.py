"""TrackGPS (trackgps.id), a white-label of the GPSWOX server API.

Sources: docs/vendors.md (section "TrackGPS"): GPSWOX's own API
specification (``Jhamnerx/gpswox-api``, ``stoplight1.json``) and its Android client
(``ZWVAPPS/GPSWOX-Android-Client_source``) are [C] and win over the document.

- ``POST /api/login`` (form ``email``, ``password``) gives a ``user_api_hash``. It is kept in the session
  store (so every worker reuses it) and sent, with ``lang``, as query parameters of every other call:
  GPSWOX has no other way. After a 401 the client logs in once more; a second 401 is an
  ``AuthenticationError``. The hash never appears in a log line or an exception message (the base logs
  the path only; ``_RedactHashFilter`` below keeps urllib3's own debug lines clean).
- Devices: ``get_devices`` (a bare array of groups; the group title becomes ``DeviceInfo.group``), paged
  with ``limit``/``page`` [C] until a page brings no device id not already seen (so a server that ignores
  ``page`` and answers the same list again ends the paging too), with drivers from ``get_user_drivers``.
  A device whose ``time`` is missing or ``"-"`` (it never reported) is kept, with no last-seen time.
- Channels: the GPSWOX sensors of type ``temperature`` and ``humidity``, named by their sensor id. Where
  a sensor has no such type [C], its unit (``unit_of_measurement``, the unit in its shown value: °C, °F,
  %) or its name tells (``sensor_quantity``); a °F sensor is read in °C.
- History: ``get_history`` in windows of ``HISTORY_WINDOW`` (never more than the 31 days GPSWOX's app
  allows [C]), with from/to dates and times as wall-clock in the account's time zone. Every point is a
  ``PositionRecord`` (``lat``/``lng`` numbers or strings [C]); its values of the device's cold-chain
  sensors, matched by sensor ``id`` [C], are ``ReadingRecord``s. History sensors may be ``{"id", "name",
  "sufix"}`` with no type [C]; values are numbers or strings, a string may carry its unit [C]. A value
  of ``"-"`` (alone or with its unit, GPSWOX's "no value") is no reading at all [A]; any other value that
  is not a number is a sensor error. A history group's ``time`` may be null [C]: only points' times count.
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

from .base import Capabilities, VendorClient
from .errors import AuthenticationError, ParseError, RequestRefused
from .parsing import finite_number, measurement, utc_from_epoch
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

# [C] GPSWOX's Android client refuses history spans over 31 days (HistoryActivity.java).
MAX_HISTORY_SPAN = timedelta(days=31)
# [A] We ask for one day at a time, well inside that: each answer stays small (720 points at one point
# every two minutes).
HISTORY_WINDOW = timedelta(days=1)
assert HISTORY_WINDOW <= MAX_HISTORY_SPAN

# [C] stoplight1.json: get_devices takes ``limit`` (default 100) and ``page`` (default 1).
DEVICES_PAGE_SIZE = 100

# A safety stop for paginated lists (get_devices, get_events, get_user_drivers) whose end never comes.
MAX_PAGES = 10_000

WALL_CLOCK_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%d-%m-%Y %H:%M:%S")
SESSION_KEY = "user_api_hash"

# -- recognising a cold-chain sensor (docs/vendors.md [C]: the type may be missing; then unit, suffix or
# name) --

FAHRENHEIT = "F"  # a temperature sensor read in °F: its values are converted to °C
# GPSWOX sensor types: these two carry cold-chain readings ("temperature_calibration" is a temperature
# too); "numerical" (a plain number) or no type at all is recognised by unit or name; any other type
# (acc, ignition, fuel_tank, battery, odometer, ...) is not a cold-chain reading.
UNTYPED = ("", "numerical", "numeric")
CELSIUS_UNITS = ("°c", "℃", "c", "degc", "°")
FAHRENHEIT_UNITS = ("°f", "℉", "f", "degf")
HUMIDITY_UNITS = ("%rh", "rh", "%")
# [A] Names, where no type and no unit tell (English, Indonesian, a few European words).
TEMPERATURE_NAME = re.compile(r"temp|suhu|°", re.IGNORECASE)
HUMIDITY_NAME = re.compile(r"humid|kelemba|feucht|\brh\b", re.IGNORECASE)
# [A] A "%" sensor with one of these words in its name measures something else than humidity.
NOT_HUMIDITY_NAME = re.compile(
    r"fuel|batt|\bbat\b|level|load|throttle|engine|tank|bbm|bensin|solar|baterai|\baki\b|signal|gsm|sat",
    re.IGNORECASE,
)

# A value: a number and maybe its unit ("4.5", "4.5 °C", "40.1°F", "82 %").
_VALUE = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S.*?)?\s*$")
# [A] GPSWOX's "no value": a dash alone or followed by the unit ("-", "- °C", "- nn" in stoplight1.json).
_NO_VALUE = re.compile(r"^\s*-(?:\s+[^\d\s.].*)?\s*$")


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


def unit_kind(text: Any) -> str | None:
    """CELSIUS, FAHRENHEIT or PERCENT_RH for a unit text ("°C", "° F", "%RH", "%"), else None."""
    if not isinstance(text, str):
        return None
    unit = "".join(text.split()).lower().replace("deg.", "deg")
    if unit in CELSIUS_UNITS:
        return CELSIUS
    if unit in FAHRENHEIT_UNITS:
        return FAHRENHEIT
    if unit in HUMIDITY_UNITS:
        return PERCENT_RH
    return None


def sensor_quantity(sensor_type: Any, unit: Any, name: Any) -> tuple[str, str] | None:
    """(quantity, unit) of a GPSWOX sensor, or None when it is no cold-chain reading.

    The unit is CELSIUS, FAHRENHEIT (values to convert) or PERCENT_RH. The type decides where there is one
    (docs/vendors.md [C]); where there is none (or "numerical"), the unit or suffix; where neither, the name.
    """
    kind = sensor_type.strip().lower() if isinstance(sensor_type, str) else ""
    unit_is = unit_kind(unit)
    name = name if isinstance(name, str) else ""
    if kind.startswith("temperature"):
        return TEMPERATURE, FAHRENHEIT if unit_is == FAHRENHEIT else CELSIUS
    if kind.startswith("humidity"):
        return HUMIDITY, PERCENT_RH
    if kind not in UNTYPED:
        return None
    if unit_is in (CELSIUS, FAHRENHEIT):
        return TEMPERATURE, unit_is
    if unit_is == PERCENT_RH:
        explicit = "rh" in "".join(str(unit).split()).lower() or HUMIDITY_NAME.search(name)
        if explicit or not NOT_HUMIDITY_NAME.search(name):
            return HUMIDITY, PERCENT_RH
        return None
    if unit is not None and str(unit).strip():
        return None  # a unit we know is not ours (km/h, V, l, ...)
    if TEMPERATURE_NAME.search(name):
        return TEMPERATURE, CELSIUS
    if HUMIDITY_NAME.search(name):
        return HUMIDITY, PERCENT_RH
    return None


def value_unit(value: Any) -> str | None:
    """The unit a shown value carries ("4.5 °C" -> "°C", "- °F" -> "°F"), or None."""
    if not isinstance(value, str):
        return None
    match = _VALUE.match(value)
    if match:
        return match.group(2)
    if _NO_VALUE.match(value):
        return value.strip()[1:].strip() or None
    return None


def parse_measurement(value: Any, scale: str = CELSIUS) -> tuple[float | None, str] | None:
    """A sensor value -> (number, "") or (None, error code), or None for GPSWOX's "no value".

    Numbers arrive as numbers or strings, a string may carry its unit (docs/vendors.md [C]); a °F value (by
    its
    own unit, or by ``scale``, the sensor's unit) is converted to °C. ``"-"`` alone or with a unit is "no
    value" [A]: no reading at all. Anything else that is not a finite number is a sensor error, stored as
    the vendor wrote it (the simulator writes "ERR"), and so is a value whose unit contradicts its sensor
    (a % on a temperature sensor, a °C on a humidity one)."""
    if isinstance(value, bool):
        return None, str(value)
    if isinstance(value, str) and _NO_VALUE.match(value):
        return None
    unit = None
    if isinstance(value, int | float):
        number, error = measurement(value, lambda raw: str(raw)[:100])
        if number is None:
            return None, error
    elif isinstance(value, str) and (match := _VALUE.match(value)):
        number = float(match.group(1))
        if match.group(2) is not None:
            unit = unit_kind(match.group(2))
            if unit is None:
                return None, value.strip()[:100]  # a unit we cannot read
    else:
        return None, "null" if value is None else str(value)[:100]
    if not math.isfinite(number):
        return None, str(value)[:100]
    temperature_scale = scale in (CELSIUS, FAHRENHEIT)
    if unit is not None and (unit == PERCENT_RH) == temperature_scale:
        return None, value.strip()[:100]
    if (unit or scale) == FAHRENHEIT:
        number = fahrenheit_to_celsius(number)
    return number, ""


def fahrenheit_to_celsius(value: float) -> float:
    """°F -> °C, to 4 decimals (a sensor's own precision is far coarser; no float noise is stored)."""
    return round((value - 32.0) * 5.0 / 9.0, 4)


_number = finite_number  # coordinates, speeds, timestamps: numbers or numeric strings [C]


class TrackGPSClient(VendorClient):
    slug = "trackgps"
    label = "TrackGPS (GPSWOX)"
    capabilities = Capabilities(positions=True, alerts=True)
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
        """``request()``: a 429 holds every worker of the account back (``request``'s policy, a minute
        when the vendor says no Retry-After)."""
        return self.request(method, path, **kwargs)

    # -- devices ---------------------------------------------------------------------------------

    def devices(self) -> list[DeviceInfo]:
        drivers = self.drivers()
        found: dict[str, DeviceInfo] = {}
        for groups in self._device_pages():
            for title, item in groups:
                info = self.device_info(item, title, drivers)
                found.setdefault(info.vendor_id, info)
        return list(found.values())

    def _device_pages(self) -> Iterator[list[tuple[str | None, Any]]]:
        """``get_devices`` page after page [C], each as (group title, device item) pairs, until a page
        brings no device id not already seen [A] (an empty page, the end of the list, or a server that
        ignores ``page`` and answers the same devices again)."""
        seen: set[str] = set()
        for page in range(1, MAX_PAGES + 1):
            body = self.call("get_devices", limit=DEVICES_PAGE_SIZE, page=page)
            if isinstance(body, dict) and isinstance(body.get("items"), list):
                body = body["items"]  # tolerate an envelope; NOTES [C] says a bare array
            if not isinstance(body, list):
                raise ParseError(f"{self.label}: get_devices is not a list of groups")
            pairs = []
            for group in body:
                if not isinstance(group, dict) or not isinstance(group.get("items", []), list):
                    raise ParseError(f"{self.label}: unreadable device group")
                title = group.get("title")
                for item in group.get("items") or []:
                    if not isinstance(item, dict) or item.get("id") in (None, ""):
                        raise ParseError(f"{self.label}: a device without an id")
                    pairs.append((str(title) if title else None, item))
            ids = {str(item["id"]) for _, item in pairs}
            if not ids - seen:
                return
            seen |= ids
            yield pairs

    def device_info(self, item: Any, group: str | None, drivers: dict[str, str] | None = None) -> DeviceInfo:
        """One item of ``get_devices`` (in the group titled ``group``) as a ``DeviceInfo``."""
        if not isinstance(item, dict) or item.get("id") in (None, ""):
            raise ParseError(f"{self.label}: a device without an id")
        vendor_id = str(item["id"])
        channels, fahrenheit = [], []
        sensors = item.get("sensors")
        for sensor in sensors if isinstance(sensors, list) else []:
            if not isinstance(sensor, dict) or sensor.get("id") in (None, ""):
                continue  # [C] stoplight1.json shows sensors without an id: no channel can be named
            unit = sensor.get("unit_of_measurement") or sensor.get("sufix") or value_unit(sensor.get("value"))
            kind = sensor_quantity(sensor.get("type"), unit, sensor.get("name"))
            if kind is None:
                continue
            quantity, scale = kind
            channels.append(
                ChannelInfo(str(sensor["id"]), quantity, CELSIUS if quantity == TEMPERATURE else scale)
            )
            if scale == FAHRENHEIT:
                fahrenheit.append(str(sensor["id"]))
        driver = (drivers or {}).get(vendor_id)
        if driver is None:
            data = item.get("driver_data")
            if isinstance(data, dict) and isinstance(data.get("name"), str) and data["name"]:
                driver = data["name"]
        # What the history parser needs of the device (its sensors in °F); nothing only for show.
        extra = {"fahrenheit_sensors": fahrenheit} if fahrenheit else {}
        lat, lng = _number(item.get("lat")), _number(item.get("lng"))
        has_position = lat is not None and lng is not None and (lat, lng) != (0.0, 0.0)
        return DeviceInfo(
            vendor_id=vendor_id,
            name=str(item.get("name") or vendor_id),
            kind="vehicle",  # GPSWOX tracks vehicles
            channels=tuple(channels),
            group=group,
            last_seen=self._last_seen(item),
            latitude=lat if has_position else None,
            longitude=lng if has_position else None,
            driver=driver,
            extra=extra,
        )

    def _last_seen(self, item: dict) -> datetime | None:
        """``timestamp`` (epoch seconds), else ``time`` (wall-clock); None for a device that never reported
        (``time`` missing or ``"-"``, ``timestamp`` 0) or a time we cannot read: never a failure."""
        timestamp = _number(item.get("timestamp"))
        if timestamp:
            return utc_from_epoch(timestamp)
        try:
            return self.parse_time(item.get("time"))
        except ParseError:
            return None

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
            return self.history_records(device, body)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            raise ParseError(f"{self.label}: unreadable history of device {device.vendor_id}") from None

    def history_records(self, device: DeviceInfo, body: Any) -> list:
        """The records of one ``get_history`` answer (``_window`` turns a malformed one into ParseError)."""
        if not isinstance(body, dict) or not isinstance(body.get("items", []), list):
            raise ParseError(f"{self.label}: get_history is not a history")
        scales = self._scales(device, body.get("sensors"))
        out: list = []
        seen: set[datetime] = set()
        for segment in body.get("items") or []:  # a segment's own "time" may be null [C]: not read
            points = segment.get("items") if isinstance(segment, dict) else None
            if not isinstance(points, list):
                raise ParseError(f"{self.label}: unreadable history segment")
            for point in points:
                t = self._point_time(point)
                if t in seen:  # GPSWOX may repeat a point where two segments meet
                    continue
                seen.add(t)
                lat, lng = _number(point.get("lat")), _number(point.get("lng"))
                if lat is not None and lng is not None:
                    out.append(PositionRecord(device.vendor_id, t, lat, lng, _number(point.get("speed"))))
                for entry in point.get("sensors_data") or []:
                    sensor_id = str(entry["id"])
                    if sensor_id not in scales:
                        continue
                    measurement = parse_measurement(entry.get("value"), scales[sensor_id])
                    if measurement is not None:
                        out.append(ReadingRecord(device.vendor_id, sensor_id, t, *measurement))
        return out

    def _scales(self, device: DeviceInfo, history_sensors: Any) -> dict[str, str]:
        """Sensor id -> the unit its plain numbers are in, for the device's channels only: matched to the
        history's own sensors by ``id`` [C], whose unit or ``sufix`` (°F) counts where it says one."""
        fahrenheit = set(device.extra.get("fahrenheit_sensors") or ())
        scales = {
            c.name: (FAHRENHEIT if c.name in fahrenheit else c.unit) if c.quantity == TEMPERATURE else c.unit
            for c in device.channels
        }
        for sensor in history_sensors if isinstance(history_sensors, list) else []:
            if not isinstance(sensor, dict) or str(sensor.get("id")) not in scales:
                continue
            sensor_id = str(sensor["id"])
            unit = unit_kind(sensor.get("unit_of_measurement") or sensor.get("sufix"))
            if unit in (CELSIUS, FAHRENHEIT) and scales[sensor_id] in (CELSIUS, FAHRENHEIT):
                scales[sensor_id] = unit
        return scales

    def _point_time(self, point: Any) -> datetime:
        """A point's ``time``, else its ``raw_time`` (both wall-clock in the account's zone, NOTES [C])."""
        try:
            return self.parse_time(point.get("time"))
        except ParseError:
            if isinstance(point.get("raw_time"), str):
                return self.parse_time(point["raw_time"])
            raise

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
