"""Trackunit Classic API simulator (docs/vendors.md, "Trackunit Classic").

What it serves, as the documents say:

- HTTP Basic auth with user ``API`` and the token as password; the token may also be passed in the URL
  (``?token=...``), as the documents allow. A missing or wrong token gets 401 in the envelope.
- ``GET /Unit`` (and ``GET /Unit/{id}``): units with ``id`` (a string, as public clients see it [C]),
  ``serialNumber``, ``name``, ``location``, ``temperature1``, ``temperature2``, ``batteryLevel``,
  ``gpsFixTime``, ``run1`` ...
- ``GET /Report/UnitHistory?unitId=&from=&to=``: rows with ``time``, ``location``, ``speed`` (km/h),
  ``temperature1``, ``temperature2``, ``batteryLevel``, ``externalPower``, and the fields public clients
  see besides [C]: ``event``, ``keyId``, ``heading``, ``km``, ``run1``-``run4``, ``input1``-``input4``.
- ``GET /Report/AlarmHistory?from=&to=``: alarms with ``alarmId`` (the alarm rule: it repeats, as in the
  documents' example), ``unitId``, ``triggeredAt``, ``address``, ``location``, ``alarmType``.
- Every answer is the envelope ``{"list": [...], "responseStatus": null}``; errors are
  ``{"list": null, "responseStatus": {"errorCode", "message", "errors": [{"errorCode", "fieldName",
  "message"}]}}``. A span over 31 days is refused (400, ``invalidParameter``, field ``To``), an unknown unit
  is ``unitNotFound`` (404), more than 50 requests a second get 429.
- Formats: JSON by default; ``.json``/``.xml``/``.html`` extensions, ``?format=json|xml|html`` and the
  ``Accept`` header (``application/json``, ``application/xml``).
- Times are UTC ISO 8601 with seven fractional digits and ``Z`` (``2014-09-01T07:12:00.0000000Z``).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import math
import re
import threading
import time
import xml.etree.ElementTree as ET  # noqa: S405 - we only build XML here, we never parse any
from collections import deque
from datetime import UTC, datetime, timedelta

from werkzeug.wrappers import Request, Response

from vendors.clients.records import AlertRecord

from .base import VendorSimulator
from .world import (
    CITIES,
    COMPRESSOR_FAILURE,
    DOOR_OPENINGS,
    GOES_SILENT,
    LOW_BATTERY,
    SENSOR_ERROR,
    SENSOR_ERRORS,
    TRUCK_STOP,
    WORLD_START,
    SimChannel,
    SimDevice,
    TruthPosition,
    TruthReading,
    haversine_km,
    stable_hash,
)

# [A] How Trackunit renders a probe that failed is not documented. docs/vendors.md: "a value that is not a
# finite
# number where a measurement belongs is a sensor error". We render it as the string "NaN" (what a .NET
# double.NaN reads as), and a correct client stores it as ReadingRecord(value=None, error="NaN").
# A probe that is not fitted at all is ``null`` (the one-probe van's ``temperature2``).
SENSOR_ERROR_VALUE = "NaN"

# [A] docs/vendors.md: a span over 31 days is refused with 400, errorCode invalidParameter, field To.
MAX_SPAN = timedelta(days=31)
# [A] docs/vendors.md: over 50 requests a second gets 429.
RATE_LIMIT = 50
RATE_PERIOD = 1.0

# Alarm rules. [A] ``alarmId`` identifies the alarm rule, not the event: the documents' example shows one
# alarmId (70329) for four units at the same instant. So ids repeat across units and events here too.
ALARM_RULES = {"ByTemperature": 70329, "ByBatteryLevel": 70412, "ByNoData": 70415, "ByZoneEnter": 70533}
TEMPERATURE_LIMITS = (2.0, 8.0)  # the ByTemperature rule's limits, in °C
BATTERY_ALARM_HOUR = 6  # a unit with a nearly flat battery raises ByBatteryLevel daily at 06:00 UTC
NO_DATA_AFTER = 3600  # ByNoData fires after an hour without data

# Addresses of the route cities (for alarms): country (ISO 2), zip code, street address.
CITY_ADDRESSES: dict[str, tuple[str, str, str]] = {
    "Hamburg": ("DE", "20457", "Am Sandtorkai 50"),
    "Copenhagen": ("DK", "2150", "Containervej 9"),
    "Berlin": ("DE", "12057", "Am Treptower Park 14"),
    "Munich": ("DE", "80939", "Lilienthalallee 40"),
    "Vienna": ("AT", "1110", "Simmeringer Hauptstraße 101"),
    "Prague": ("CZ", "19000", "Kolbenova 942"),
    "Frankfurt": ("DE", "60327", "Mainzer Landstraße 350"),
    "Amsterdam": ("NL", "1043", "Radarweg 29"),
    "Antwerp": ("BE", "2030", "Noorderlaan 147"),
    "Brussels": ("BE", "1000", "Quai des Péniches 69"),
    "Lille": ("FR", "59000", "Rue du Molinel 12"),
    "Paris": ("FR", "94150", "Avenue de Flandre 1"),
}

# [C] kmodexc/TrackUnitPython: history rows carry an ``event`` number. [A] Its codes are not public: the
# simulator writes these two (a position while driving, a position while standing).
HISTORY_EVENT_DRIVING = 1
HISTORY_EVENT_STOPPED = 2
TRUCK_KM_PER_HOUR = 42.0  # the odometer's average growth, for ``km``

FORMATS = ("json", "xml", "html")
ROW_CACHE_SIZE = 200_000  # history rows kept in memory (about 40 days of 4 units is 46,000)
T1 = SimChannel("temperature1", "temperature")  # the front probe
T2 = SimChannel("temperature2", "temperature")  # the rear probe

_TIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$"
)


def format_time(epoch: int, ticks: int = 0) -> str:
    """Epoch seconds (+ 100 ns ticks) as Trackunit writes times: ``2014-09-01T07:12:00.0000000Z``."""
    return f"{datetime.fromtimestamp(epoch, tz=UTC):%Y-%m-%dT%H:%M:%S}.{ticks:07d}Z"


def parse_time(text: str, round_up: bool = False) -> datetime | None:
    """A ``from``/``to`` parameter as an aware UTC datetime; a time without a zone is UTC.

    Trackunit times have seven fractional digits (100 ns ticks); Python holds microseconds. ``round_up``
    (for ``from``) rounds a tick between two microseconds up, so ``...00.0000001Z`` (what public clients
    send, kmodexc/TrackUnitPython) starts after the reading at ``...00``; otherwise ticks are cut."""
    m = _TIME_RE.match(text.strip())
    if not m:
        return None
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    ticks = int((fraction or "0").ljust(7, "0")[:7])
    try:
        dt = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=UTC,
        ) + timedelta(microseconds=-(-ticks // 10) if round_up else ticks // 10)
    except (ValueError, OverflowError):
        return None
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        dt -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return dt


def address_line(country: str, zip_code: str, city: str, street: str) -> str:
    """The one-line address a client makes of an alarm's address (``street, zip city, country``)."""
    place = " ".join(p for p in (zip_code, city) if p)
    return ", ".join(p for p in (street, place, country) if p)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


class TrackunitSimulator(VendorSimulator):
    slug = "trackunit"
    timezone = "UTC"

    def __init__(
        self,
        world=None,
        faults=None,
        *,
        copies: int = 1,
        rate_limit: int = RATE_LIMIT,
        rate_period: float = RATE_PERIOD,
        max_span: timedelta = MAX_SPAN,
    ):
        super().__init__(world=world, faults=faults, copies=copies)
        self.rate_limit = rate_limit
        self.rate_period = rate_period
        self.max_span = max_span
        self._recent: deque[float] = deque()
        self._rate_lock = threading.Lock()
        self._rows: dict[tuple[str, int], dict] = {}  # (unit id, epoch) -> history row (the world is slow)
        self.token = hashlib.sha256(f"trackunit-token-{self.world.seed}".encode()).hexdigest()[:32].upper()

    # -- devices ---------------------------------------------------------------------------------

    def build_devices(self) -> list[SimDevice]:
        def serial(vid: str) -> str:
            return str(3000000 + stable_hash(self.world.seed, "trackunit-serial", vid) % 999999)

        specs = [
            (
                "34333",
                "Reefer truck HH-01",
                (T1, T2),
                frozenset({COMPRESSOR_FAILURE}),
                ("Hamburg", "Copenhagen", "Berlin"),
            ),
            (
                "39670",
                "Reefer truck MUC-02",
                (T1, T2),
                frozenset({DOOR_OPENINGS, SENSOR_ERRORS}),
                ("Munich", "Vienna", "Prague", "Frankfurt"),
            ),
            (
                "46208",
                "Delivery van AMS-03",
                (T1,),
                frozenset({LOW_BATTERY}),
                ("Amsterdam", "Antwerp", "Brussels"),
            ),
            (
                "46209",
                "Reefer trailer PAR-04",
                (T1, T2),
                frozenset({GOES_SILENT}),
                ("Paris", "Lille", "Brussels"),
            ),
        ]
        return [
            SimDevice(
                vendor_id=vid,
                name=name,
                kind="vehicle",
                profile="reefer",
                interval=300,
                channels=channels,
                traits=traits,
                route=route,
                extra={"serialNumber": serial(vid), "keyId": f"{stable_hash(vid, 'key') % 16**8:08X}"},
            )
            for vid, name, channels, traits, route in specs
        ]

    @property
    def credentials(self) -> dict[str, str]:
        return {"token": self.token}

    # -- data ------------------------------------------------------------------------------------

    def row(self, device: SimDevice, t: int) -> dict:
        """The history row of a unit at reading time t (cached: the world's signals are costly)."""
        key = (device.vendor_id, t)
        row = self._rows.get(key)
        if row is None:
            world = self.world
            pos = world.position(device, t)
            row = {
                "time": format_time(t),
                "event": HISTORY_EVENT_DRIVING if pos.speed_kmh else HISTORY_EVENT_STOPPED,
                "keyId": device.extra["keyId"],
                "location": {"latitude": pos.latitude, "longitude": pos.longitude},
                "heading": (t // device.interval * 37 + int(device.vendor_id)) % 360,
                "speed": pos.speed_kmh,
                **self.counters(device, t),
            }
            for channel in (T1, T2):
                if channel in device.channels:
                    value = world.value(device, channel, t)
                    row[channel.name] = SENSOR_ERROR_VALUE if value == SENSOR_ERROR else value
                else:
                    row[channel.name] = None  # no probe fitted
            row["batteryLevel"] = world.battery(device, t)
            row["externalPower"] = LOW_BATTERY not in device.traits
            moving = 1 if pos.speed_kmh else 0
            row.update(input1=moving, input2=0, input3=1, input4=0)  # ignition, door, reefer on, alarm
            if len(self._rows) >= ROW_CACHE_SIZE:  # a long-running demo must not grow without bound
                self._rows.clear()
            self._rows[key] = row
        return row

    def counters(self, device: SimDevice, t: int) -> dict:
        """Odometer (``km``) and run-hour counters (``run1``-``run4``) at time t: they only ever grow."""
        hours = (t - WORLD_START) / 3600
        base = stable_hash(self.world.seed, device.vendor_id, "odometer") % 50_000
        return {
            "km": round(base + hours * TRUCK_KM_PER_HOUR, 1),
            "run1": round(hours * 0.62, 2),  # engine
            "run2": round(hours * 0.95, 2),  # reefer unit
            "run3": 0.0,
            "run4": 0.0,
        }

    def rows(self, device: SimDevice, start: int, end: int) -> list[tuple[int, dict]]:
        return [(t, self.row(device, t)) for t in self.world.reading_times(device, start, end)]

    def latest_time(self, device: SimDevice) -> int | None:
        world = self.world
        step, now = device.interval, world.now()
        t = now - ((now - world.offset(device)) % step)
        while t >= WORLD_START:
            if not world.is_silent(device, t):
                return t
            t -= step
        return None

    def unit(self, device: SimDevice) -> dict:
        t = self.latest_time(device)
        row = self.row(device, t) if t is not None else {}
        return {
            "id": device.vendor_id,  # [C] a string, as public clients see it ("3331359")
            "serialNumber": device.extra["serialNumber"],
            "name": device.name,
            "referenceNumber": f"REF-{device.vendor_id}",
            "type": "Truck",
            "location": row.get("location"),
            "speed": row.get("speed"),
            "temperature1": row.get("temperature1"),
            "temperature2": row.get("temperature2"),
            "batteryLevel": row.get("batteryLevel"),
            "externalPower": row.get("externalPower"),
            "gpsFixTime": row.get("time"),
            "run1": row.get("run1"),
            "isActive": True,
        }

    # -- alarms ----------------------------------------------------------------------------------

    def alarms(self, start: int, end: int) -> list[dict]:
        """Every alarm with start <= triggeredAt <= end (epoch seconds), oldest first."""
        start = max(start, WORLD_START)
        end = min(end, self.world.now())
        events: list[tuple[int, int, str, SimDevice, tuple[float, float], str]] = []
        for device in self.devices:
            for t, kind, city in self._alarm_events(device, start, end):
                ticks = stable_hash(self.world.seed, device.vendor_id, kind, t) % 10_000_000
                if kind == "ByZoneEnter":
                    lat, lon = CITIES[city]
                else:
                    last = t if kind != "ByNoData" else self._last_reading_before(device, t - NO_DATA_AFTER)
                    pos = self.world.position(device, last)
                    lat, lon = pos.latitude, pos.longitude
                    city = min(device.route, key=lambda c: haversine_km(CITIES[c], (lat, lon)))
                events.append((t, ticks, kind, device, (lat, lon), city))
        events.sort(key=lambda e: (e[0], e[1], e[3].vendor_id))
        out = []
        for t, ticks, kind, device, (lat, lon), city in events:
            country, zip_code, street = CITY_ADDRESSES[city]
            out.append(
                {
                    "alarmId": ALARM_RULES[kind],
                    "unitId": device.vendor_id,  # a string, as the unit's id [C]
                    "triggeredAt": format_time(t, ticks),
                    "address": {
                        "country": country,
                        "zipCode": zip_code,
                        "city": city,
                        "streetAddress": street,
                    },
                    "location": {"latitude": lat, "longitude": lon},
                    "alarmType": kind,
                }
            )
        return out

    def _last_reading_before(self, device: SimDevice, t: int) -> int:
        step, off = device.interval, self.world.offset(device)
        t -= 1
        return t - ((t - off) % step)

    def _alarm_events(self, device: SimDevice, start: int, end: int):
        """(epoch, alarmType, city or None) of one unit's alarms in [start, end]."""
        world = self.world
        low, high = TEMPERATURE_LIMITS
        if COMPRESSOR_FAILURE in device.traits:
            for f_start, f_end in world.failure_windows(device, start, end):
                for t, row in self.rows(device, f_start, f_end):
                    values = [row[c.name] for c in device.channels]
                    if any(isinstance(v, float) and not low <= v <= high for v in values):
                        if start <= t <= end:
                            yield t, "ByTemperature", None
                        break
        if LOW_BATTERY in device.traits:
            day = (start // 86400 - 1) * 86400
            while day <= end:
                t = day + BATTERY_ALARM_HOUR * 3600 + world.offset(device)
                if start <= t <= end and not world.is_silent(device, t):
                    yield t, "ByBatteryLevel", None
                day += 86400
        if GOES_SILENT in device.traits:
            for w_start, _w_end in world.silent_windows(device, start - NO_DATA_AFTER, end):
                t = w_start + NO_DATA_AFTER
                if start <= t <= end:
                    yield t, "ByNoData", None
        if device.route:
            legs = world.route_legs(device)
            cycle = sum(d + TRUCK_STOP for _, _, d in legs)
            phase = world.phase(device, "route", cycle)
            offsets, acc = [], 0
            for city, _to, driving in legs:
                offsets.append((acc, city))
                acc += TRUCK_STOP + driving
            k = (start + phase) // cycle - 1
            while k * cycle - phase <= end:
                for offset, city in offsets:
                    t = k * cycle - phase + offset
                    if start <= t <= end and not world.is_silent(device, t):
                        yield t, "ByZoneEnter", city
                k += 1

    # -- truth -----------------------------------------------------------------------------------

    def truth_readings(self, vendor_id: str, start: datetime, end: datetime) -> list[TruthReading]:
        device = self.device(vendor_id)
        out = []
        for t, row in self.rows(device, math.ceil(start.timestamp()), int(end.timestamp())):
            ts = datetime.fromtimestamp(t, tz=UTC)
            for channel in device.channels:
                value = row[channel.name]
                if value == SENSOR_ERROR_VALUE:
                    out.append(TruthReading(vendor_id, channel.name, ts, None, SENSOR_ERROR_VALUE))
                else:
                    out.append(TruthReading(vendor_id, channel.name, ts, float(value)))
        return out

    def truth_positions(self, vendor_id: str, start: datetime, end: datetime) -> list[TruthPosition]:
        device = self.device(vendor_id)
        return [
            TruthPosition(
                vendor_id,
                datetime.fromtimestamp(t, tz=UTC),
                row["location"]["latitude"],
                row["location"]["longitude"],
                row["speed"],
            )
            for t, row in self.rows(device, math.ceil(start.timestamp()), int(end.timestamp()))
        ]

    def truth_alerts(self, start: datetime, end: datetime) -> list[AlertRecord]:
        """The AlertRecords a correct client makes of the alarms with start <= triggeredAt <= end."""
        out = []
        for alarm in self.alarms(int(start.timestamp()) - 1, math.ceil(end.timestamp())):
            at = parse_time(alarm["triggeredAt"])
            if not start <= at <= end:
                continue
            a = alarm["address"]
            out.append(
                AlertRecord(
                    vendor_alert_id=f"{alarm['alarmId']}:{alarm['unitId']}:{at:%Y-%m-%dT%H:%M:%S.%f}Z",
                    device_id=str(alarm["unitId"]),
                    alert_type=alarm["alarmType"],
                    started_at=at,
                    latitude=alarm["location"]["latitude"],
                    longitude=alarm["location"]["longitude"],
                    address=address_line(a["country"], a["zipCode"], a["city"], a["streetAddress"]),
                )
            )
        return out

    # -- HTTP ------------------------------------------------------------------------------------

    def response_format(self, request: Request) -> tuple[str, str]:
        """(format, path without its extension): extension, then ?format=, then the Accept header."""
        path = request.path
        for fmt in FORMATS:
            if path.lower().endswith(f".{fmt}"):
                return fmt, path[: -len(fmt) - 1]
        fmt = request.args.get("format", "").lower()
        if fmt in FORMATS:
            return fmt, path
        best = request.accept_mimetypes.best_match(["application/json", "application/xml", "text/xml"])
        return ("xml" if best in ("application/xml", "text/xml") else "json"), path

    def render(self, body: dict, fmt: str, status: int = 200, item_tag: str = "item") -> Response:
        if fmt == "xml":
            root = ET.Element("Response")
            _to_xml(root, "list", body["list"], item_tag)
            _to_xml(root, "responseStatus", body["responseStatus"], "error")
            data = ET.tostring(root, encoding="utf-8", xml_declaration=True)
            return Response(data, status=status, mimetype="application/xml")
        text = json.dumps(body, ensure_ascii=False)
        if fmt == "html":
            page = (
                "<!DOCTYPE html><html><head><title>Trackunit API</title></head>"
                f"<body><pre>{html.escape(text)}</pre></body></html>"
            )
            return Response(page, status=status, mimetype="text/html")
        return Response(text, status=status, mimetype="application/json")

    def error_response(self, status: int, message: str, request: Request) -> Response:
        codes = {
            401: "Unauthorized",
            404: "NotFound",
            405: "MethodNotAllowed",
            429: "TooManyRequests",
            500: "InternalServerError",
            503: "ServiceUnavailable",
            504: "GatewayTimeout",
        }
        return self.api_error(ApiError(status, codes.get(status, "Error"), message), request)

    def api_error(self, error: ApiError, request: Request) -> Response:
        fmt, _ = self.response_format(request)
        errors = []
        if error.field:
            errors.append({"errorCode": error.code, "fieldName": error.field, "message": error.message})
        body = {
            "list": None,
            "responseStatus": {"errorCode": error.code, "message": error.message, "errors": errors},
        }
        response = self.render(body, fmt, status=error.status)
        if error.status == 401:
            response.headers["WWW-Authenticate"] = 'Basic realm="Trackunit API"'
        return response

    def authenticated(self, request: Request) -> bool:
        if self.faults.credentials != "valid":  # "expired" is "revoked" for a key-only vendor
            return False
        auth = request.authorization
        if auth is not None and auth.type == "basic":
            if auth.username != "API":
                return False
            token = auth.password or ""
        else:
            token = request.args.get("token", "")  # the documents allow the token in the URL
        return bool(token) and hmac.compare_digest(token.encode(), self.token.encode())

    def within_rate(self) -> bool:
        now = time.monotonic()
        with self._rate_lock:
            while self._recent and now - self._recent[0] >= self.rate_period:
                self._recent.popleft()
            if len(self._recent) >= self.rate_limit:
                return False
            self._recent.append(now)
            return True

    def dispatch(self, request: Request) -> Response:
        fmt, path = self.response_format(request)
        try:
            if not self.within_rate():
                raise ApiError(429, "TooManyRequests", "Too many requests in a given amount of time")
            if not self.authenticated(request):
                raise ApiError(401, "Unauthorized", "Invalid or missing API token")
            parts = [p.lower() for p in path.strip("/").split("/")]
            if parts[:1] == ["unit"] and len(parts) <= 2:
                self.require_get(request)
                if len(parts) == 2:
                    return self.render(
                        self.envelope([self.unit(self.find_unit(path.strip("/").split("/")[1]))]),
                        fmt,
                        item_tag="Unit",
                    )
                return self.render(self.envelope([self.unit(d) for d in self.devices]), fmt, item_tag="Unit")
            if parts == ["report", "unithistory"]:
                self.require_get(request)
                device = self.find_unit(request.args.get("unitId", ""))
                start, end = self.span(request)
                rows = [
                    row for _, row in self.rows(device, math.ceil(start.timestamp()), int(end.timestamp()))
                ]
                return self.render(self.envelope(rows), fmt, item_tag="UnitHistory")
            if parts == ["report", "alarmhistory"]:
                self.require_get(request)
                start, end = self.span(request)
                alarms = [
                    a
                    for a in self.alarms(int(start.timestamp()) - 1, math.ceil(end.timestamp()))
                    if start <= parse_time(a["triggeredAt"]) <= end
                ]
                return self.render(self.envelope(alarms), fmt, item_tag="Alarm")
            raise ApiError(404, "NotFound", f"Handler for Request not found: GET {path}")
        except ApiError as error:
            return self.api_error(error, request)

    @staticmethod
    def envelope(items: list) -> dict:
        return {"list": items, "responseStatus": None}

    @staticmethod
    def require_get(request: Request) -> None:
        if request.method != "GET":
            raise ApiError(405, "MethodNotAllowed", f"Method {request.method} is not supported here")

    def find_unit(self, unit_id: str) -> SimDevice:
        if not unit_id.strip():
            raise ApiError(400, "invalidParameter", "UnitId is required.", field="UnitId")
        device = self.device(unit_id.strip())
        if device is None:
            raise ApiError(404, "unitNotFound", "Unit with supplied “Id” was not found.", field="Id")
        return device

    def span(self, request: Request) -> tuple[datetime, datetime]:
        """The ``from``/``to`` parameters; a span over 31 days is refused (docs/vendors.md [A])."""
        bounds = []
        for name, field in (("from", "From"), ("to", "To")):
            text = request.args.get(name, "")
            value = parse_time(text, round_up=name == "from") if text else None
            if value is None:
                raise ApiError(
                    400, "invalidParameter", f"'{field}' must be a valid UTC date and time.", field=field
                )
            bounds.append(value)
        start, end = bounds
        if end < start:
            raise ApiError(400, "invalidParameter", "'From' must be before 'To'.", field="From")
        if end - start > self.max_span:
            raise ApiError(400, "invalidParameter", "The history timespan extends the limit.", field="To")
        return start, end


def _to_xml(parent: ET.Element, tag: str, value, item_tag: str) -> None:
    element = ET.SubElement(parent, tag)
    if value is None:
        element.set("nil", "true")
    elif isinstance(value, dict):
        for key, inner in value.items():
            _to_xml(element, key, inner, "item")
    elif isinstance(value, list):
        for inner in value:
            _to_xml(element, item_tag, inner, "item")
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    else:
        element.text = str(value)
