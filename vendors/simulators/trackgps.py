"""TrackGPS (trackgps.id), a white-label of the GPSWOX server API, simulated from its documents.

Sources: docs/vendors.md (section "TrackGPS"). Where both are silent
the simulator makes one assumption, marked [A] and kept in one named constant or function below.

- ``POST /api/login`` (form ``email``, ``password``) -> ``{"status": 1, "user_api_hash": "..."}``;
  wrong credentials -> 401 ``{"status": 0, "message": "Wrong credentials."}``.
- Every other call: ``GET /api/<endpoint>?lang=..&user_api_hash=..``. An unknown or stale hash -> 401;
  a missing ``lang`` (or another required parameter) -> 422 (``VALIDATION_STATUS``).
- ``get_devices`` (a bare array of groups, paged by ``limit`` (default 100) and ``page`` [C]; ``paging``
  off makes an older server that ignores both), ``devices_groups``, ``get_history`` (at most 31 days [C]),
  ``get_events`` (paginated), ``get_alerts``, ``get_alerts_summary``, ``get_user_drivers``,
  ``get_services``.

Four reefer trucks drive between Jakarta, Bandung, Cirebon and Semarang, one point every two minutes, and
a fifth, new one never reported (``time`` "-"). Each has cold-chain sensors and an ignition sensor that a
cold-chain client must ignore. The trucks show the shapes real GPSWOX servers send (docs/vendors.md [C]): 1001
the documented one (typed sensors with units, numbers); 1002 history sensors ``{"id", "name", "sufix"}``
without a type and values as numeric strings; 1003 values as strings carrying their unit; 1004 no type
anywhere (its sensor is known by its unit only), in °F, and now and then ``"-"`` (no value). Points after
1001's carry ``lat``/``lng`` as strings; the first group of a history answer has ``"time": null``;
``raw_time`` is wall-clock time like ``time``. The account's time zone is Asia/Jakarta: every ``time`` the
simulator writes or reads is wall-clock time there.
"""

from __future__ import annotations

import json
import math
import threading
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from werkzeug.wrappers import Request, Response

from vendors.clients.records import AlertRecord

from .base import VendorSimulator
from .world import (
    COMPRESSOR_FAILURE,
    DOOR_OPENINGS,
    GOES_SILENT,
    SENSOR_ERROR,
    SENSOR_ERRORS,
    SILENT_LENGTH,
    WORLD_START,
    SimChannel,
    SimDevice,
    TruthPosition,
    TruthReading,
    stable_hash,
    tick_hash,
    utc,
)

# [A] docs/vendors.md is silent on how GPSWOX renders a failed sensor: the simulator writes this string where
# the number belongs (in ``sensors_data`` of get_history and in ``val`` of get_devices). A client stores
# it as the reading's error code.
SENSOR_ERROR_VALUE = "ERR"

# [A] The status code of a validation error (missing ``lang``, missing or unreadable parameter). GPSWOX
# is a Laravel application, whose validation errors are 422 with ``{"status": 0, "message", "errors"}``.
VALIDATION_STATUS = 422

# [A] Events are listed newest first, ``EVENTS_PER_PAGE`` a page (a constructor parameter).
EVENTS_PER_PAGE = 30

# [C] GPSWOX's Android client refuses history spans over 31 days; the simulator refuses them too.
MAX_HISTORY_DAYS: float | None = 31

# [C] stoplight1.json: get_devices is paged, ``limit`` 100 by default.
DEVICES_PER_PAGE = 100

# [A] GPSWOX's "no value" (stoplight1.json shows "- nn": the dash and the unit): what 1004 sends now and
# then in place of a number. A client stores no reading there.
NO_VALUE = "-"
NO_VALUE_EVERY = 25  # about one point in this many, on devices that have them

# Events the world gives rise to.
TEMPERATURE_LIMIT = 8.0  # "Temperature above 8" (a custom event on the temperature sensor)
OVERSPEED_LIMIT = 83.5  # km/h, an overspeed alert
STOP_ALERT_AFTER = 1800  # seconds standing still before a "Stop duration" event
EVENT_TYPES = ("custom", "zone_in", "stop_duration", "overspeed")
EVENT_LOOK_BACK = SILENT_LENGTH + 2 * 3600  # longer than any silence, so every reading has its predecessor

ONLINE_WITHIN = 300  # a device whose last point is older than this is "offline"
HASH_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
WALL_CLOCK = "%Y-%m-%d %H:%M:%S"

GROUPS = ((1, "Armada Jakarta"), (2, "Armada Jawa Tengah"))
# (id, name, phone, rfid, device id or None)
DRIVERS = (
    (301, "Budi Santoso", "+62 812 1100 2001", "0A1B2C3D", "1001"),
    (302, "Agus Wibowo", "+62 812 1100 2002", "0A1B2C3E", "1002"),
    (303, "Siti Rahayu", "+62 812 1100 2003", "0A1B2C3F", "1003"),
    (304, "Dedi Kurniawan", "+62 812 1100 2004", "0A1B2C40", None),
)


def _temperature(sensor_id: int) -> SimChannel:
    return SimChannel(str(sensor_id), "temperature", "C")


def _humidity(sensor_id: int) -> SimChannel:
    return SimChannel(str(sensor_id), "humidity", "%RH")


class TrackGPSSimulator(VendorSimulator):
    slug = "trackgps"
    timezone = "Asia/Jakarta"

    def __init__(
        self,
        world=None,
        faults=None,
        *,
        copies: int = 1,
        events_per_page: int = EVENTS_PER_PAGE,
        max_history_days: float | None = MAX_HISTORY_DAYS,
        paging: bool = True,
    ):
        self.events_per_page = events_per_page
        self.max_history_days = max_history_days
        self.paging = paging  # False: an older server that ignores get_devices' limit and page
        self.zone = ZoneInfo(self.timezone)
        self._lock = threading.Lock()
        self._hashes: set[str] = set()
        self._issued = 0
        self._expiry_applied = False
        self._password: str | None = None
        self._event_cache: dict[tuple, list[dict]] = {}
        self.logins = 0  # successful logins, for tests
        self.seen_params: list[dict[str, str]] = []  # query parameters of every API call, for tests
        super().__init__(world=world, faults=faults, copies=copies)

    # -- devices ---------------------------------------------------------------------------------

    def build_devices(self) -> list[SimDevice]:
        g1, g2 = GROUPS[0][1], GROUPS[1][1]
        return [
            SimDevice(
                "1001", "B 9123 KXA Reefer", "vehicle", "reefer", 120, (_temperature(5011),), g1,
                frozenset({COMPRESSOR_FAILURE, DOOR_OPENINGS}), ("Jakarta", "Bandung"),
                extra={"imei": "860000000001001", "ignition": 5019, "shape": "documented"},
            ),
            SimDevice(
                "1002", "B 9456 KXB Reefer", "vehicle", "reefer", 120, (_temperature(5021), _humidity(5022)),
                g1, frozenset({SENSOR_ERRORS}), ("Jakarta", "Cirebon", "Semarang"),
                extra={"imei": "860000000001002", "ignition": 5029, "shape": "sufix"},
            ),
            SimDevice(
                "1003", "D 8011 TRK Reefer", "vehicle", "reefer", 120, (_temperature(5031),), g2,
                frozenset({GOES_SILENT}), ("Bandung", "Cirebon", "Semarang"),
                extra={"imei": "860000000001003", "ignition": 5039, "shape": "units"},
            ),
            SimDevice(
                "1004", "H 1234 RF Freezer Van", "vehicle", "freezer", 120, (_temperature(5041),), g2,
                frozenset(), ("Semarang", "Cirebon"),
                extra={"imei": "860000000001004", "ignition": 5049, "shape": "untyped_fahrenheit"},
            ),
            SimDevice(
                "1005", "B 7777 NEW Reefer", "vehicle", "reefer", 120, (_temperature(5051),), g1,
                frozenset(), ("Jakarta", "Bandung"),
                extra={"imei": "860000000001005", "ignition": 5059, "shape": "documented",
                       "never_reported": True},
            ),
        ]  # fmt: skip

    def reading_times(self, device: SimDevice, start: int, end: int):
        """The world's reading times of a device; none for a device that never reported."""
        if device.extra.get("never_reported"):
            return iter(())
        return self.world.reading_times(device, start, end)

    # -- credentials and sessions ----------------------------------------------------------------

    @property
    def credentials(self) -> dict[str, str]:
        seed = self.world.seed
        return {"email": f"qa.coldchain.{seed}@trackgps.example", "password": self.password}

    @property
    def password(self) -> str:
        if self._password is not None:
            return self._password
        return f"Tg-{stable_hash(self.world.seed, 'trackgps', 'password'):016x}"[:18]

    def change_password(self, new_password: str | None = None) -> None:
        """As a user changing the password on the web: every user_api_hash issued so far goes stale.

        Without ``new_password`` the password stays the same (a re-login fixes the client)."""
        with self._lock:
            if new_password is not None:
                self._password = new_password
            self._hashes.clear()

    def _new_hash(self) -> str:
        self._issued += 1
        h = stable_hash(self.world.seed, "user_api_hash", self._issued)
        chars = []
        for i in range(53):
            h = stable_hash(h, i)
            chars.append(HASH_ALPHABET[h % len(HASH_ALPHABET)])
        return "$2y$10$" + "".join(chars)  # shaped like GPSWOX's bcrypt hash, "$", "/" and "." included

    def _apply_credential_faults(self) -> None:
        """ "expired": every hash issued before the fault was noticed goes stale; new logins work."""
        with self._lock:
            if self.faults.credentials == "expired":
                if not self._expiry_applied:
                    self._hashes.clear()
                    self._expiry_applied = True
            else:
                self._expiry_applied = False

    def hash_is_valid(self, value: str | None) -> bool:
        if self.faults.credentials == "revoked":
            return False
        with self._lock:
            return bool(value) and value in self._hashes

    # -- HTTP ------------------------------------------------------------------------------------

    def error_response(
        self, status: int, message: str, request: Request, errors: dict | None = None
    ) -> Response:
        body: dict = {"status": 0, "message": message}
        if errors:
            body["errors"] = errors
        response = Response(json.dumps(body), status=status, mimetype="application/json")
        if status == 429:
            response.headers["Retry-After"] = "60"
        return response

    def _json(self, body) -> Response:
        return Response(json.dumps(body), status=200, mimetype="application/json")

    def _invalid(self, request: Request, field: str, message: str | None = None) -> Response:
        text = message or f"The {field} field is required."
        return self.error_response(VALIDATION_STATUS, text, request, {field: [text]})

    def dispatch(self, request: Request) -> Response:
        self._apply_credential_faults()
        path = request.path.rstrip("/")
        if path == "/api/login":
            if request.method != "POST":
                return self.error_response(405, "Method not allowed.", request)
            return self.login(request)
        routes = {
            "/api/get_devices": self.get_devices,
            "/api/devices_groups": self.devices_groups,
            "/api/get_history": self.get_history,
            "/api/get_events": self.get_events,
            "/api/get_alerts": self.get_alerts,
            "/api/get_alerts_summary": self.get_alerts_summary,
            "/api/get_user_drivers": self.get_user_drivers,
            "/api/get_services": self.get_services,
        }
        handler = routes.get(path)
        if handler is None:
            return self.error_response(404, "Not found.", request)
        if request.method != "GET":
            return self.error_response(405, "Method not allowed.", request)
        args = request.args
        with self._lock:
            self.seen_params.append(dict(args))
        if not self.hash_is_valid(args.get("user_api_hash")):
            return self.error_response(401, "Wrong user hash.", request)
        if not args.get("lang"):
            return self._invalid(request, "lang")
        return handler(request)

    def login(self, request: Request) -> Response:
        data = request.form
        if not data and request.is_json:
            data = request.get_json(silent=True) or {}
        for field in ("email", "password"):
            if not data.get(field):
                return self._invalid(request, field)
        creds = self.credentials
        if (
            self.faults.credentials == "revoked"
            or data.get("email") != creds["email"]
            or data.get("password") != creds["password"]
        ):
            return self.error_response(401, "Wrong credentials.", request)
        with self._lock:
            value = self._new_hash()
            self._hashes.add(value)
            self.logins += 1
        return self._json({"status": 1, "user_api_hash": value})

    # -- time ------------------------------------------------------------------------------------

    def wall(self, t: int | float) -> str:
        """Epoch seconds -> wall-clock time in the account's zone (NOTES [A]: ``time`` is local)."""
        return datetime.fromtimestamp(t, tz=UTC).astimezone(self.zone).strftime(WALL_CLOCK)

    def parse_wall(self, date: str, clock: str = "00:00:00") -> int:
        """``2026-11-20`` + ``10:15`` or ``10:15:22`` in the account's zone -> epoch seconds."""
        text = f"{date.strip()} {clock.strip()}"
        for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"):
            try:
                naive = datetime.strptime(text, fmt)
            except ValueError:
                continue
            return int(naive.replace(tzinfo=self.zone).timestamp())
        raise ValueError(text)

    @staticmethod
    def server_lag(device: SimDevice, t: int, seed: int) -> int:
        """Seconds between a point's measurement and its arrival at the server (``server_time``)."""
        return 2 + (t * 7919 + int(device.vendor_id) * 104729 + seed * 31) % 40  # cheap, deterministic

    # -- rendering -------------------------------------------------------------------------------

    def sensor_value(self, device: SimDevice, channel: SimChannel, t: int) -> float | str:
        """A sensor's value in the device's own shape: a number, a numeric string, a string with its unit
        (°F on 1004), SENSOR_ERROR_VALUE, or NO_VALUE now and then on 1004."""
        value = self.world.value(device, channel, t)
        if value == SENSOR_ERROR:
            return SENSOR_ERROR_VALUE
        shape = device.extra["shape"]
        if shape == "untyped_fahrenheit":
            if self.no_value_at(device, t):
                return NO_VALUE
            return f"{round(value * 1.8 + 32, 2):g} °F"
        if shape == "sufix":
            return f"{value:g}"
        if shape == "units":
            return f"{value:g} {'°C' if channel.quantity == 'temperature' else '%'}"
        return value

    def no_value_at(self, device: SimDevice, t: int) -> bool:
        return (
            device.extra["shape"] == "untyped_fahrenheit"
            and tick_hash(t, self.world.seed, device.vendor_id, "no-value") % NO_VALUE_EVERY == 0
        )

    def unit_of(self, device: SimDevice, channel: SimChannel) -> str:
        if channel.quantity != "temperature":
            return "%"
        return "°F" if device.extra["shape"] == "untyped_fahrenheit" else "°C"

    def sensor_name(self, channel: SimChannel, i: int) -> str:
        return f"Suhu Box {i + 1}" if channel.quantity == "temperature" else "Kelembapan Box"

    def sensor_defs(self, device: SimDevice) -> list[dict]:
        """The sensors as ``get_devices`` describes them; 1004's cold-chain sensor has no type [C]."""
        out = []
        for i, channel in enumerate(device.channels):
            definition = {"id": int(channel.name), "name": self.sensor_name(channel, i)}
            if device.extra["shape"] != "untyped_fahrenheit":
                definition["type"] = channel.quantity
                definition["unit_of_measurement"] = self.unit_of(device, channel)
            out.append(definition)
        out.append(
            {"id": device.extra["ignition"], "name": "Ignition", "type": "acc", "unit_of_measurement": ""}
        )
        return out

    def history_sensors(self, device: SimDevice) -> list[dict]:
        """get_history's ``sensors``: as get_devices (1001, 1003) or ``{"id", "name", "sufix"}`` without a
        type, as GPSWOX's Android client reads them (1002, 1004) [C]."""
        if device.extra["shape"] in ("documented", "units"):
            return self.sensor_defs(device)
        out = [
            {"id": channel.name, "name": self.sensor_name(channel, i), "sufix": self.unit_of(device, channel)}
            for i, channel in enumerate(device.channels)
        ]
        out.append({"id": str(device.extra["ignition"]), "name": "Ignition", "sufix": ""})
        return out

    def point(self, device: SimDevice, t: int) -> dict:
        pos = self.world.position(device, t)
        state = {"stopped": pos.speed_kmh == 0}  # a driving truck is never at 0 km/h
        sensors_data = [
            {"id": int(c.name), "value": self.sensor_value(device, c, t)} for c in device.channels
        ]
        sensors_data.append({"id": device.extra["ignition"], "value": "Off" if state["stopped"] else "On"})
        as_text = device.extra["shape"] != "documented"  # [C] lat/lng as strings (HistoryItemCoord.java)
        return {
            "id": (t - WORLD_START) * 10_000 + self.device_number(device),
            "device_id": int(device.vendor_id),
            "lat": str(pos.latitude) if as_text else pos.latitude,
            "lng": str(pos.longitude) if as_text else pos.longitude,
            "course": (t // 120 * 37 + int(device.vendor_id)) % 360,
            "altitude": 12,
            "speed": pos.speed_kmh,
            "time": self.wall(t),
            "raw_time": self.wall(t),  # [C] local time like ``time``
            "server_time": utc(t + self.server_lag(device, t, self.world.seed)).strftime(WALL_CLOCK),
            "sensors_data": sensors_data,
            "other": f"<info><ignition>{0 if state['stopped'] else 1}</ignition></info>",
        }

    def last_time(self, device: SimDevice) -> int | None:
        now = self.world.now()
        times = list(self.reading_times(device, now - 86400 - device.interval, now))
        return times[-1] if times else None

    def driver_of(self, device: SimDevice) -> tuple | None:
        for driver in DRIVERS:
            if driver[4] == device.vendor_id:
                return driver
        return None

    def device_number(self, device: SimDevice) -> int:
        """The device's place in the list: part of the ids of its points, events and services."""
        if not hasattr(self, "_numbers"):
            self._numbers = {d.vendor_id: n for n, d in enumerate(self.devices)}
        return self._numbers[device.vendor_id]

    def device_item(self, device: SimDevice) -> dict:
        t = self.last_time(device)
        point = self.point(device, t) if t is not None else None
        sensors = []
        for definition in self.sensor_defs(device):
            value = (
                next((s["value"] for s in point["sensors_data"] if s["id"] == definition["id"]), None)
                if point
                else None
            )
            unit = definition.get("unit_of_measurement")
            if unit is None:  # [C] an untyped sensor: its shown value carries the unit
                channel = next(c for c in device.channels if c.name == str(definition["id"]))
                unit = self.unit_of(device, channel)
            if isinstance(value, float):
                shown = f"{value} {unit}".strip()
            elif isinstance(value, str) and value not in (NO_VALUE, SENSOR_ERROR_VALUE, "On", "Off"):
                shown = value if not value[-1].isdigit() else f"{value} {unit}".strip()
            elif value is None or value == NO_VALUE:
                shown = f"{NO_VALUE} {unit}".strip()
            else:
                shown = value
            sensor = {
                "id": definition["id"],
                "name": definition["name"],
                "show_in_popup": 1,
                "value": shown,
                "val": value,
                "scale_value": None,
            }
            if "type" in definition:
                sensor["type"] = definition["type"]
            sensors.append(sensor)
        driver = self.driver_of(device)
        group_id = next(gid for gid, title in GROUPS if title == device.group)
        online = t is not None and self.world.now() - t <= ONLINE_WITHIN
        return {
            "id": int(device.vendor_id),
            "alarm": 0,
            "name": device.name,
            "online": "online" if online else "offline",
            "time": self.wall(t) if t is not None else "-",
            "timestamp": t or 0,
            "acktimestamp": 0,
            "lat": point["lat"] if point else 0,
            "lng": point["lng"] if point else 0,
            "course": point["course"] if point else 0,
            "speed": point["speed"] if point else 0,
            "altitude": 12,
            "icon_type": "arrow",
            "icon_color": "green" if online else "red",
            "power": "-",
            "address": "-",
            "protocol": "teltonika",
            "driver": driver[1] if driver else "-",
            "driver_data": (
                {"id": driver[0], "name": driver[1], "phone": driver[2], "rfid": driver[3], "email": ""}
                if driver
                else {"id": None, "name": None}
            ),
            "sensors": sensors,
            "services": [],
            "tail": [],
            "distance_unit_hour": "kph",
            "unit_of_distance": "km",
            "device_data": {
                "id": int(device.vendor_id),
                "name": device.name,
                "imei": device.extra["imei"],
                "plate_number": device.name.split(" Re")[0].split(" Fr")[0],
                "device_model": "Teltonika FMB130",
                "sim_number": f"+62811{device.vendor_id}",
                "active": 1,
                "group_id": group_id,
                "timezone_id": None,
            },
        }

    # -- endpoints -------------------------------------------------------------------------------

    def get_devices(self, request: Request) -> Response:
        """A bare array of groups (NOTES [C]); every device of the account is in one group.

        Paged [C]: ``limit`` devices (100 by default) of page ``page`` (1 by default), in the order of the
        groups; a group appears on a page where it has devices; a page past the end is ``[]``. With
        ``paging`` off, every device every time (an older server that ignores both)."""
        ordered = [d for _, title in GROUPS for d in self.devices if d.group == title]
        if self.paging:
            try:
                limit = max(1, int(request.args.get("limit") or DEVICES_PER_PAGE))
                page = max(1, int(request.args.get("page") or 1))
            except ValueError:
                return self._invalid(request, "limit", "The limit and page must be integers.")
            ordered = ordered[(page - 1) * limit : page * limit]
        out = []
        for gid, title in GROUPS:
            items = [self.device_item(d) for d in ordered if d.group == title]
            if items:
                out.append({"id": gid, "title": title, "items": items})
        return self._json(out)

    @staticmethod
    def _paginate(rows: list, page_arg: str | None, per_page: int) -> dict:
        try:
            page = max(1, int(page_arg or 1))
        except ValueError:
            page = 1
        last_page = max(1, math.ceil(len(rows) / per_page))
        start = (page - 1) * per_page
        data = rows[start : start + per_page]
        return {
            "total": len(rows),
            "per_page": per_page,
            "current_page": page,
            "last_page": last_page,
            "from": start + 1 if data else None,
            "to": start + len(data) if data else None,
            "data": data,
        }

    def devices_groups(self, request: Request) -> Response:
        # [A] paginated like get_events; ``search_phrase`` filters titles, ``limit`` sets the page size.
        rows = [{"id": gid, "title": title, "open": 1} for gid, title in GROUPS]
        phrase = request.args.get("search_phrase", "").lower()
        if phrase:
            rows = [r for r in rows if phrase in r["title"].lower()]
        try:
            limit = max(1, int(request.args.get("limit") or 50))
        except ValueError:
            return self._invalid(request, "limit", "The limit must be an integer.")
        return self._json({"status": 1, "items": self._paginate(rows, request.args.get("page"), limit)})

    def _device_arg(self, request: Request) -> SimDevice | Response:
        raw = request.args.get("device_id")
        if not raw:
            return self._invalid(request, "device_id")
        device = self.device(raw.strip())
        if device is None:
            return self.error_response(404, "Device not found.", request)
        return device

    def get_history(self, request: Request) -> Response:
        """Points with from <= time <= to (both wall-clock in the account's zone, inclusive) [A]."""
        device = self._device_arg(request)
        if isinstance(device, Response):
            return device
        args = request.args
        for field in ("from_date", "from_time", "to_date", "to_time"):
            if not args.get(field):
                return self._invalid(request, field)
        try:
            start = self.parse_wall(args["from_date"], args["from_time"])
            end = self.parse_wall(args["to_date"], args["to_time"])
        except ValueError:
            return self._invalid(request, "from_date", "The dates or times are not valid.")
        if end < start:
            return self._invalid(request, "to_date", "The to date must be after the from date.")
        if self.max_history_days is not None and end - start > self.max_history_days * 86400:
            return self._invalid(
                request, "to_date", f"The period may not exceed {self.max_history_days:g} days."
            )
        segments: list[dict] = []
        top_speed = 0.0
        for t in self.reading_times(device, start, end):
            point = self.point(device, t)
            status = 2 if point["speed"] == 0 else 1  # GPSWOX: 1 driving, 2 stopped
            top_speed = max(top_speed, point["speed"])
            if not segments or segments[-1]["status"] != status:
                segments.append(
                    {
                        "status": status,
                        # [C] stoplight1.json's example group has "time": null: the first group here does
                        "time": point["time"] if segments else None,
                        "show": point["time"],
                        "raw_time": point["raw_time"],
                        "distance": 0,
                        "items": [],
                    }
                )
            segments[-1]["items"].append(point)
        return self._json(
            {
                "status": 1,
                "items": segments,
                "distance_sum": "-",
                "top_speed": f"{top_speed:g} kph",
                "sensors": self.history_sensors(device),
                "device": {"id": int(device.vendor_id), "name": device.name},
            }
        )

    # -- events ----------------------------------------------------------------------------------

    def _event(self, device: SimDevice, t: int, kind: str, message: str) -> dict:
        pos = self.world.position(device, t)
        return {
            # unique: one reading per device per two minutes, one digit per device and per type
            "id": ((t - WORLD_START) // 60) * 100_000
            + self.device_number(device) * 10
            + EVENT_TYPES.index(kind),
            "device_id": int(device.vendor_id),
            "device_name": device.name,
            "type": kind,
            "name": message,
            "message": message,
            "latitude": pos.latitude,
            "longitude": pos.longitude,
            "speed": pos.speed_kmh,
            "altitude": 12,
            "time": self.wall(t),
            "_t": t,
        }

    def events(self, device: SimDevice, start: int, end: int) -> list[dict]:
        """Every event of a device with start <= t <= end, oldest first (from the world's data).

        An event at a reading depends on that reading and the one before it only, so the list of a
        period never depends on the period asked (the look-back covers the longest silence)."""
        out = []
        temp = next((c for c in device.channels if c.quantity == "temperature"), None)
        prev: dict | None = None  # state at the previous reading
        for t in self.reading_times(device, start - EVENT_LOOK_BACK, end):
            state = self.world.route_state(device, t)
            value = self.world.value(device, temp, t) if temp else None
            cur = {
                "t": t,
                "warm": isinstance(value, float) and value > TEMPERATURE_LIMIT,
                "fast": state["speed"] > OVERSPEED_LIMIT,
                "arrived": t - state["stopped_for"] if state["stopped"] else None,
            }
            if prev is not None and start <= t:
                if cur["warm"] and not prev["warm"]:
                    out.append(self._event(device, t, "custom", f"Temperature above {TEMPERATURE_LIMIT:g}"))
                if cur["fast"] and not prev["fast"]:
                    out.append(self._event(device, t, "overspeed", f"Overspeed ({state['speed']:.0f} kph)"))
                arrived = cur["arrived"]
                if arrived is not None and arrived != prev["arrived"]:
                    out.append(self._event(device, t, "zone_in", f"Zone in ({state['city']})"))
                if (
                    arrived is not None
                    and t - arrived >= STOP_ALERT_AFTER
                    and (prev["arrived"] != arrived or prev["t"] - arrived < STOP_ALERT_AFTER)
                ):
                    out.append(self._event(device, t, "stop_duration", f"Stop duration ({state['city']})"))
            prev = cur
        return out

    def all_events(
        self, start: int, end: int, device_id: str | None = None, kind: str | None = None
    ) -> list[dict]:
        # Events of a period that is over never change: key by the part of the period already past.
        key = (start, min(end, self.world.now()), device_id, kind)
        with self._lock:
            cached = self._event_cache.get(key)
        if cached is not None:
            return cached
        out = []
        for device in self.devices:
            if device_id is not None and device.vendor_id != device_id:
                continue
            out.extend(e for e in self.events(device, start, end) if kind is None or e["type"] == kind)
        out.sort(key=lambda e: (e["_t"], e["id"]), reverse=True)  # [A] newest first
        with self._lock:
            if len(self._event_cache) > 16:
                self._event_cache.clear()
            self._event_cache[key] = out
        return out

    def _range_args(self, request: Request) -> tuple[int, int] | Response:
        args = request.args
        for field in ("date_from", "date_to"):
            if not args.get(field):
                return self._invalid(request, field)
        try:
            start = self._parse_datetime_arg(args["date_from"], end_of_day=False)
            end = self._parse_datetime_arg(args["date_to"], end_of_day=True)
        except ValueError:
            return self._invalid(request, "date_from", "The dates are not valid.")
        return start, end

    def _parse_datetime_arg(self, text: str, end_of_day: bool) -> int:
        """[A] ``date_from``/``date_to``: ``YYYY-MM-DD HH:MM[:SS]`` wall-clock in the account's zone,
        inclusive; a date alone means the start (date_from) or the end (date_to) of that day."""
        text = text.strip().replace("T", " ")
        if len(text) == 10:
            return self.parse_wall(text, "23:59:59" if end_of_day else "00:00:00")
        date, _, clock = text.partition(" ")
        return self.parse_wall(date, clock)

    def get_events(self, request: Request) -> Response:
        span = self._range_args(request)
        if isinstance(span, Response):
            return span
        device_id = request.args.get("device_id")
        if device_id and self.device(device_id.strip()) is None:
            return self.error_response(404, "Device not found.", request)
        rows = self.all_events(
            *span, device_id=device_id.strip() if device_id else None, kind=request.args.get("type") or None
        )
        search = (request.args.get("search") or "").lower()
        if search:
            rows = [e for e in rows if search in e["message"].lower() or search in e["device_name"].lower()]
        rows = [{k: v for k, v in e.items() if k != "_t"} for e in rows]
        return self._json(
            {"status": 1, "items": self._paginate(rows, request.args.get("page"), self.events_per_page)}
        )

    def truth_alerts(self, start: datetime, end: datetime) -> list[AlertRecord]:
        events = self.all_events(int(math.ceil(start.timestamp())), int(end.timestamp()))
        return [
            AlertRecord(
                vendor_alert_id=str(e["id"]),
                device_id=str(e["device_id"]),
                alert_type=e["type"],
                started_at=utc(e["_t"]),
                message=e["message"],
                latitude=e["latitude"],
                longitude=e["longitude"],
                speed_kmh=e["speed"],
            )
            for e in sorted(events, key=lambda e: (e["_t"], e["id"]))
        ]

    # -- alerts, drivers, services ---------------------------------------------------------------

    def get_alerts(self, request: Request) -> Response:
        ids = [int(d.vendor_id) for d in self.devices]
        alerts = [
            {"id": 11, "name": f"Temperature above {TEMPERATURE_LIMIT:g}", "type": "custom"},
            {"id": 12, "name": "Overspeed", "type": "overspeed", "overspeed": OVERSPEED_LIMIT},
            {
                "id": 13,
                "name": "Zone in",
                "type": "geofence_in",
                "zones": ["Jakarta", "Bandung", "Cirebon", "Semarang"],
            },
            {
                "id": 14,
                "name": "Stop duration",
                "type": "stop_duration",
                "stop_duration": STOP_ALERT_AFTER // 60,
            },
        ]
        for alert in alerts:
            alert.update(active=1, devices=ids)
        return self._json({"status": 1, "items": {"alerts": alerts}})

    def get_alerts_summary(self, request: Request) -> Response:
        """[A] the number of events of each type today (the account's day)."""
        now = self.world.now()
        day_start = self.parse_wall(self.wall(now)[:10])
        counts: dict[str, int] = {}
        for event in self.all_events(day_start, now):
            counts[event["type"]] = counts.get(event["type"], 0) + 1
        return self._json({"status": 1, "items": [{"type": k, "count": counts[k]} for k in sorted(counts)]})

    def get_user_drivers(self, request: Request) -> Response:
        """[A] paginated like get_events; ``device_id`` is the vehicle the driver is linked to (or null)."""
        rows = [
            {"id": i, "user_id": 1, "device_id": int(dev) if dev else None, "name": name, "rfid": rfid,
             "phone": phone, "email": "", "description": ""}
            for i, name, phone, rfid, dev in DRIVERS
        ]  # fmt: skip
        return self._json({"status": 1, "items": self._paginate(rows, request.args.get("page"), 50)})

    def get_services(self, request: Request) -> Response:
        device = self._device_arg(request)
        if isinstance(device, Response):
            return device
        now = self.world.now()
        next_due = (now // 86400 + 30 + int(device.vendor_id) % 7) * 86400
        items = [
            {
                "id": 700 + self.device_number(device),
                "device_id": int(device.vendor_id),
                "name": "Servis unit pendingin",
                "expiration_by": "days",
                "interval": 90,
                "last_service": self.wall(next_due - 90 * 86400)[:10],
                "expires": self.wall(next_due)[:10],
                "expired": 0,
            }
        ]
        return self._json({"status": 1, "items": items})

    # -- truth -----------------------------------------------------------------------------------

    def truth_readings(self, vendor_id: str, start: datetime, end: datetime) -> list[TruthReading]:
        """As the base, with the sensor error written as GPSWOX shows it (``SENSOR_ERROR_VALUE``), no
        reading where the device sent ``NO_VALUE``, none at all for a device that never reported."""
        device = self.device(vendor_id)
        if device.extra.get("never_reported"):
            return []
        out = []
        for r in super().truth_readings(vendor_id, start, end):
            if self.no_value_at(device, int(r.timestamp.timestamp())):
                continue
            if r.error == SENSOR_ERROR:
                r = TruthReading(r.device_id, r.channel, r.timestamp, None, SENSOR_ERROR_VALUE)
            out.append(r)
        return out

    def truth_positions(self, vendor_id: str, start: datetime, end: datetime) -> list[TruthPosition]:
        if self.device(vendor_id).extra.get("never_reported"):
            return []
        return super().truth_positions(vendor_id, start, end)

    def server_time_of(self, vendor_id: str, timestamp: datetime) -> datetime:
        device = self.device(vendor_id)
        t = int(timestamp.timestamp())
        return utc(t + self.server_lag(device, t, self.world.seed))


__all__ = ["SENSOR_ERROR_VALUE", "VALIDATION_STATUS", "TrackGPSSimulator"]
