"""T&D WebStorage simulator (``tandd-webstorage.txt`` and the T&D section of docs/vendors.md).

Every call is ``POST`` with ``X-HTTP-Method-Override: GET`` and a JSON body holding ``api-key``,
``login-id`` and ``login-pass``. The account holds TR-7 loggers, an RTR500BW base unit with remote units
(RTR501B, RTR507B, and an RTR505B reading volts), a second RTR500BW base that uploads by FTP (its remote has
no history API) and an RTR-500 (not B) remote, which has current values only. Served paths:

- ``/v1/devices/current``: every unit with its current values (docs/vendors.md [C] shape, offsets spelled
  ``time_diff``/``std_bias``/``dst_bias``, every value a string, channel ``num`` from ``"1"``; remote units
  name their base in ``baseunit`` and leave their channel names empty), filtered by the arrays
  ``remote-serial`` and ``base-serial`` when given;
- ``/v1/devices/data``: the recorded readings of one TR-7 logger by period and number (the real shape of
  the public Go client's test resources: ``num`` as strings from ``"1"``, offsets with underscores), as
  JSON, CSV or CSV2. Any other unit is refused with 400 in the vendor's error shape;
- ``/v1/devices/data-rtr500``: the same for one remote unit of an RTR500B base uploading by HTTPS, asked
  with ``remote-serial`` and its ``base-serial`` (docs/vendors.md [C] shape, offsets with hyphens); any other
  unit
  (a TR-7 logger, an RTR-500 remote, a remote of a base uploading by FTP) is refused with 400;
- ``/v1/devices/latest-data`` and ``/v1/devices/latest-data-rtr500``: the newest readings of one unit (the
  shapes of ``/data`` and ``data-rtr500``).

Every response carries ``X-RateLimit-Limit``, ``X-RateLimit-Reset`` and ``X-RateLimit-Remaining`` (and
``X-RateLimit-Remaining-DataCount`` on ``/data``); the limits are constructor parameters so tests can shrink
them. Errors are ``{"error": {"code": N, "message": "..."}}``.

The ``data-id`` model (one place: ``TandDSimulator.data_id``): each logger numbers the ticks of its recording
grid from 1, counting from ``WORLD_START`` or from its last reset. A logger that goes silent recorded the
readings of the silent window but lost them before upload, so its ``data-id`` keeps counting and jumps over
the window. The logger with ``extra["resets"]`` is reset every ``RESET_PERIOD`` (its ``data-id`` restarts at 1
at the first reading after the reset; no reading is lost, but continuity can no longer be confirmed).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from werkzeug.wrappers import Request, Response

from .base import VendorSimulator
from .world import (
    DOOR_OPENINGS,
    GOES_SILENT,
    LOW_BATTERY,
    SENSOR_ERROR,
    SENSOR_ERRORS,
    SILENT_PERIOD,
    WORLD_START,
    SimChannel,
    SimDevice,
    TruthReading,
    stable_hash,
    utc,
)

# docs/vendors.md [C]: a faulty channel reads "Sensor Error" instead of a number.
SENSOR_ERROR_TEXT = "Sensor Error"

# Documented parameter limits (tandd-webstorage.txt, "Request Parameter").
DEFAULT_NUMBER = 16_000
MAX_NUMBER = 65_535
DATA_TYPES = ("json", "csv", "csv2")  # NOTES: "csv" is deprecated since 2024-11-01 but still served [A]
TEMPERATURE_UNITS = ("device", "C", "F")

# The logger with extra["resets"] is reset this often (its data-id restarts at 1).
RESET_PERIOD = 30 * 86400

# [A] Battery and signal strength in /current are levels from 0 to this number (public clients show "5").
BATTERY_LEVELS = 5

PATH_CURRENT = "/v1/devices/current"
PATH_DATA = "/v1/devices/data"
PATH_DATA_RTR500 = "/v1/devices/data-rtr500"
PATH_LATEST = "/v1/devices/latest-data"
PATH_LATEST_RTR500 = "/v1/devices/latest-data-rtr500"
PATHS = (PATH_CURRENT, PATH_DATA, PATH_DATA_RTR500, PATH_LATEST, PATH_LATEST_RTR500)
# The rate-limit window each path counts in: data-rtr500 shares data's limits (docs/vendors.md [A]).
WINDOW_KINDS = {
    PATH_CURRENT: "current",
    PATH_DATA: "data",
    PATH_DATA_RTR500: "data",
    PATH_LATEST: "latest",
    PATH_LATEST_RTR500: "latest",
}
# Which history each endpoint serves (``TandDSimulator.history_kind``).
HISTORY_OF_PATH = {
    PATH_DATA: "data",
    PATH_LATEST: "data",
    PATH_DATA_RTR500: "data-rtr500",
    PATH_LATEST_RTR500: "data-rtr500",
}

# Base units (serial, model, name, how they upload). Not listed by /current: only their remote units are.
WAREHOUSE_BASE = ("58580001", "RTR500BW", "Warehouse base", "https")
DOCK_BASE = ("58580002", "RTR500BW", "Dock base", "ftp")  # FTP uploads: no data-rtr500 for its remotes
OLD_BASE = ("50000001", "RTR-500NW", "Old store base", "https")  # RTR-500 (not B): current values only

# [A] /latest-data returns the readings of this last stretch of time (the document does not say).
LATEST_SPAN = 3600


@dataclass
class _Window:
    """A fixed rate-limit window that starts at the first request after the previous one ended."""

    limit: int
    period: float
    started: float = -math.inf
    used: int = 0

    def roll(self, now: float) -> None:
        if now - self.started >= self.period:
            self.started = now
            self.used = 0

    def remaining(self, now: float) -> int:
        if now - self.started >= self.period:
            return self.limit
        return max(0, self.limit - self.used)

    def reset_in(self, now: float) -> int:
        """Seconds until the window resets (the whole period while no window is running)."""
        if now - self.started >= self.period:
            return math.ceil(self.period)
        return max(1, math.ceil(self.started + self.period - now))


class TandDError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class TandDSimulator(VendorSimulator):
    slug = "tandd"
    timezone = "Asia/Tokyo"

    def __init__(
        self,
        world=None,
        faults=None,
        *,
        copies: int = 1,
        data_requests_per_window: int = 20,  # /v1/devices/data, per device
        data_request_window: float = 60.0,
        data_readings_per_window: int = 160_000,  # readings per device
        data_readings_window: float = 3600.0,
        current_requests_per_window: int = 10,  # /v1/devices/current, per account
        current_request_window: float = 120.0,
        latest_requests_per_window: int = 60,  # /v1/devices/latest-data, per device [C]
        latest_request_window: float = 60.0,
    ):
        super().__init__(world=world, faults=faults, copies=copies)
        self.data_requests_per_window = data_requests_per_window
        self.data_request_window = data_request_window
        self.data_readings_per_window = data_readings_per_window
        self.data_readings_window = data_readings_window
        self.current_requests_per_window = current_requests_per_window
        self.current_request_window = current_request_window
        self.latest_requests_per_window = latest_requests_per_window
        self.latest_request_window = latest_request_window
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], _Window] = {}
        self.rate_limit_refusals = 0  # 429s the limits served (injected burst_429 faults not counted)
        # The world's values are costly to compute; tests read the same readings as the client did.
        self._row = functools.lru_cache(maxsize=400_000)(self._compute_row)
        self._rendered_row = functools.lru_cache(maxsize=400_000)(self._render_row)

    # -- devices and credentials -----------------------------------------------------------------

    def build_devices(self) -> list[SimDevice]:
        # Serials differ in their last five digits: a copy adds 100,000 per copy (``copy_id``).
        temp_hum = (SimChannel("ch1", "temperature", "C"), SimChannel("ch2", "humidity", "%RH"))
        temp = (SimChannel("ch1", "temperature", "C"),)
        volts = (SimChannel("ch1", "other", "V"),)
        return [
            SimDevice(
                "52140001",
                "Warehouse ambient",
                "fixed",
                "ambient",
                600,
                temp_hum,
                group="Main warehouse",
                traits=frozenset({DOOR_OPENINGS}),
                extra={"model": "TR-72wf", "labels": ("Temp", "Humid"), "unit": "C"},
            ),
            SimDevice(
                "52120001",
                "Vaccine fridge",
                "fixed",
                "fridge",
                300,
                temp,
                group="Pharmacy",
                traits=frozenset({GOES_SILENT}),
                extra={"model": "TR-71wf", "labels": ("Temp",), "unit": "C"},
            ),
            SimDevice(
                "52120002",
                "Plasma freezer",
                "fixed",
                "freezer",
                300,
                temp,
                group="Pharmacy",
                traits=frozenset({SENSOR_ERRORS}),
                # Set to Fahrenheit in the device: "temperature-unit": "device" answers in F.
                extra={"model": "TR-71wf", "labels": ("Temp",), "unit": "F"},
            ),
            SimDevice(
                "52120003",
                "Ward fridge",
                "fixed",
                "fridge",
                600,
                temp,
                traits=frozenset({LOW_BATTERY}),
                extra={"model": "TR-71wf", "labels": ("Temp",), "unit": "C", "resets": True},
            ),
            SimDevice(
                "52120004",
                "Stability chamber",
                "fixed",
                "fridge",
                30,
                temp,
                group="QA lab",
                extra={"model": "TR-71wf", "labels": ("Temp",), "unit": "C"},
            ),
            # RTR500B remote units: channel names left empty, as they usually are (docs/vendors.md [C]).
            SimDevice(
                "52800001",
                "Cold room A",
                "fixed",
                "fridge",
                600,
                temp,
                group="Main warehouse",
                traits=frozenset({DOOR_OPENINGS, GOES_SILENT}),
                extra={"model": "RTR501B", "labels": ("",), "unit": "C", "base": WAREHOUSE_BASE, "num": "1"},
            ),
            SimDevice(
                "52870001",
                "Cold room B",
                "fixed",
                "fridge",
                600,
                temp_hum,
                group="Main warehouse",
                extra={
                    "model": "RTR507B",
                    "labels": ("", ""),
                    "unit": "C",
                    "base": WAREHOUSE_BASE,
                    "num": "2",
                },
            ),
            SimDevice(
                "52830001",
                "Compressor pressure signal",
                "fixed",
                "fridge",
                600,
                volts,
                group="Main warehouse",
                extra={"model": "RTR505B", "labels": ("",), "unit": "C", "base": WAREHOUSE_BASE, "num": "3"},
            ),
            SimDevice(
                "52810001",
                "Loading dock",
                "fixed",
                "ambient",
                600,
                temp,
                group="Main warehouse",
                extra={"model": "RTR502B", "labels": ("",), "unit": "C", "base": DOCK_BASE, "num": "1"},
            ),
            SimDevice(
                "50250001",
                "Old cold store",
                "fixed",
                "fridge",
                600,
                temp,
                extra={"model": "RTR-502", "labels": ("Temp",), "unit": "C", "base": OLD_BASE, "num": "1"},
            ),
        ]

    @property
    def credentials(self) -> dict[str, str]:
        seed = self.world.seed
        return {
            "api_key": _token(seed, "api-key", 45),  # documented: 45 characters
            "login_id": _token(seed, "login-id", 8),  # documented: 8 characters
            "login_pass": _token(seed, "login-pass", 16),  # documented: 4-16 characters
        }

    # -- the model -------------------------------------------------------------------------------

    def _compute_row(self, serial: str, t: int) -> tuple[float | str, ...]:
        device = self.device(serial)
        return tuple(self.world.value(device, channel, t) for channel in device.channels)

    def reset_times(self, vendor_id: str, start: int, end: int) -> list[int]:
        """The instants (epoch s) at which the logger was reset, start <= r <= end."""
        device = self.device(vendor_id)
        if not device.extra.get("resets"):
            return []
        phase = self.world.phase(device, "reset", RESET_PERIOD)
        first = WORLD_START + phase
        k = max(0, math.ceil((start - first) / RESET_PERIOD))
        out = []
        while first + k * RESET_PERIOD <= min(end, self.world.now()):
            out.append(first + k * RESET_PERIOD)
            k += 1
        return out

    @functools.cache  # noqa: B019 - a handful of devices per simulator, for its whole life
    def _grid(self, serial: str) -> tuple[int, int | None]:
        """(tick offset, reset phase) of a logger: costly hashes, computed once."""
        device = self.device(serial)
        reset_phase = self.world.phase(device, "reset", RESET_PERIOD) if device.extra.get("resets") else None
        return self.world.offset(device), reset_phase

    def data_id(self, device: SimDevice, t: int) -> int:
        """The logger's data-id for its reading at t: grid ticks counted from WORLD_START or the last reset.

        Ticks in a silent window count too (the logger recorded them and lost them), so a silent window
        shows as a jump in data-id; a reset restarts the count at 1.
        """
        off, reset_phase = self._grid(device.vendor_id)
        epoch = WORLD_START
        if reset_phase is not None and t >= WORLD_START + reset_phase:
            epoch = (
                WORLD_START + reset_phase + ((t - WORLD_START - reset_phase) // RESET_PERIOD) * RESET_PERIOD
            )
        step = device.interval
        first_tick = -((off - epoch) // step)  # ceil((epoch - off) / step)
        return (t - off) // step - first_tick + 1

    def times_newest_first(self, device: SimDevice, start: int, end: int):
        """Reading times with start <= t <= end (and t <= now), newest first."""
        start = max(start, WORLD_START)
        end = min(end, self.world.now())
        step, off = device.interval, self.world.offset(device)
        t = end - ((end - off) % step)
        while t >= start:
            if not self.world.is_silent(device, t):
                yield t
            t -= step

    def select_times(self, device: SimDevice, start: int, end: int, number: int) -> list[int]:
        """The newest ``number`` reading times of the period, oldest first (docs/vendors.md [A])."""
        out = []
        for t in self.times_newest_first(device, start, end):
            out.append(t)
            if len(out) >= number:
                break
        out.reverse()
        return out

    def history_kind(self, device: SimDevice) -> str | None:
        """The history API of a unit: "data" (TR-7 loggers), "data-rtr500" (remote units of an RTR500B base
        uploading by HTTPS), or None (RTR-500 remotes, remotes of a base uploading by FTP)."""
        base = device.extra.get("base")
        if base is None:
            return "data"
        _, base_model, _, upload = base
        return "data-rtr500" if base_model.startswith("RTR500B") and upload == "https" else None

    def render_value(self, value: float | str, channel: SimChannel, unit: str) -> str:
        if value == SENSOR_ERROR:
            return SENSOR_ERROR_TEXT
        if channel.quantity == "temperature" and unit == "F":
            value = value * 9 / 5 + 32
        return f"{value:.1f}"

    def channel_units(self, device: SimDevice, temperature_unit: str) -> list[str]:
        unit = device.extra["unit"] if temperature_unit == "device" else temperature_unit
        units = {"temperature": unit, "humidity": "%"}
        return [units.get(c.quantity, c.unit) for c in device.channels]

    def offsets(self) -> tuple[int, int, int]:
        """(time difference, standard bias, DST bias) in minutes, from the account's time zone."""
        now = utc(self.world.now()).astimezone(ZoneInfo(self.timezone))
        dst = now.dst() or timedelta(0)
        return int((now.utcoffset() - dst).total_seconds() // 60), 0, int(dst.total_seconds() // 60)

    # -- truth -----------------------------------------------------------------------------------

    def truth_readings(self, vendor_id: str, start: datetime, end: datetime) -> list[TruthReading]:
        """What a correct client yields: channels ch1, ch2... (by number), temperatures in Celsius, other
        quantities as they are, "Sensor Error" as the error. Of a unit without a history API, only its
        current value can be had (``truth_current``), when its time is in the period."""
        device = self.device(vendor_id)
        if self.history_kind(device) is None:
            return [r for r in self.truth_current(vendor_id) if start <= r.timestamp <= end]
        return self._recorded(device, int(start.timestamp()), int(end.timestamp()))

    def _recorded(self, device: SimDevice, start: int, end: int) -> list[TruthReading]:
        out = []
        for t in self.world.reading_times(device, start, end):
            for channel, value in zip(device.channels, self._row(device.vendor_id, t), strict=True):
                if value == SENSOR_ERROR:
                    out.append(TruthReading(device.vendor_id, channel.name, utc(t), None, SENSOR_ERROR_TEXT))
                else:
                    out.append(TruthReading(device.vendor_id, channel.name, utc(t), float(value)))
        return out

    def truth_current(self, vendor_id: str) -> list[TruthReading]:
        """The current values /current shows, as a correct client stores them (in Celsius): all there is
        of a unit without a history API."""
        device = self.device(vendor_id)
        last = next(self.times_newest_first(device, WORLD_START, self.world.now()), None)
        if last is None:
            return []
        return self._recorded(device, last, last)

    def truth_gaps(
        self, vendor_id: str, start: datetime, end: datetime
    ) -> list[tuple[datetime, datetime, str]]:
        """(last reading before, first reading after, "silent" or "reset") for each data-id break whose
        first reading after lies in [start, end]: what a client reading that period should report."""
        device = self.device(vendor_id)
        if self.history_kind(device) is None:
            return []  # no history, no data-id to follow
        s, e = int(start.timestamp()), int(end.timestamp())
        breaks = []  # (instant from which readings are missing or renumbered, kind)
        for w_start, _ in self.world.silent_windows(device, s - SILENT_PERIOD, e):
            breaks.append((w_start, "silent"))
        for r in self.reset_times(vendor_id, s - RESET_PERIOD, e):
            breaks.append((r, "reset"))
        gaps = []
        for instant, kind in sorted(breaks):
            before = next(self.times_newest_first(device, WORLD_START, instant - 1), None)
            after = next(self.world.reading_times(device, instant, instant + 2 * SILENT_PERIOD), None)
            if before is not None and after is not None and s <= after <= e:
                gaps.append((utc(before), utc(after), kind))
        return gaps

    # -- rate limits -----------------------------------------------------------------------------

    def _window(self, kind: str, key: str) -> _Window:
        window = self._windows.get((kind, key))
        if window is None:
            limit, period = {
                "current": (self.current_requests_per_window, self.current_request_window),
                "data": (self.data_requests_per_window, self.data_request_window),
                "readings": (self.data_readings_per_window, self.data_readings_window),
                "latest": (self.latest_requests_per_window, self.latest_request_window),
            }[kind]
            window = self._windows[(kind, key)] = _Window(limit, period)
        return window

    def _headers(self, endpoint: str, serial: str | None) -> dict[str, str]:
        """The X-RateLimit-* headers as they stand (call with the lock held).

        [A] On /data, X-RateLimit-Reset is the seconds until the request window resets, or until the
        readings window resets when the readings budget is spent (the limit that binds).
        """
        now = time.monotonic()
        kind = WINDOW_KINDS.get(endpoint, "current")
        # Unknown serials share one placeholder window, so bad requests cannot grow the table.
        key = "account" if kind == "current" else (serial if self.device(serial or "") else "")
        window = self._window(kind, key)
        headers = {
            "X-RateLimit-Limit": str(window.limit),
            "X-RateLimit-Reset": str(window.reset_in(now)),
            "X-RateLimit-Remaining": str(window.remaining(now)),
        }
        if kind == "data":
            readings = self._window("readings", key)
            headers["X-RateLimit-Remaining-DataCount"] = str(readings.remaining(now))
            if readings.remaining(now) == 0:
                headers["X-RateLimit-Reset"] = str(readings.reset_in(now))
        return headers

    def _take_turn(self, endpoint: str, serial: str | None, readings: int = 0) -> dict[str, str]:
        """Count one request (and its readings) or raise 429; returns the headers after counting.

        [A] The readings budget is checked before the answer: a /data request is refused only once the
        device's budget is spent; the answer that spends it is served whole (never cut short, which would
        look like a complete period) and shows ``X-RateLimit-Remaining-DataCount: 0``.
        """
        now = time.monotonic()
        kind = WINDOW_KINDS[endpoint]
        key = "account" if kind == "current" else serial
        with self._lock:
            window = self._window(kind, key)
            window.roll(now)
            budget = self._window("readings", key) if kind == "data" else None
            if budget is not None:
                budget.roll(now)
            if window.used >= window.limit:
                self.rate_limit_refusals += 1
                raise _RateLimitExceeded(self._headers(endpoint, serial), "Request limit exceeded")
            if budget is not None and budget.used >= budget.limit:
                self.rate_limit_refusals += 1
                headers = self._headers(endpoint, serial)
                headers["X-RateLimit-Reset"] = str(budget.reset_in(now))
                raise _RateLimitExceeded(headers, "Data count limit exceeded")
            window.used += 1
            if budget is not None:
                budget.used += readings
            return self._headers(endpoint, serial)

    # -- HTTP ------------------------------------------------------------------------------------

    def error_response(
        self, status: int, message: str, request: Request, headers: dict | None = None
    ) -> Response:
        body = json.dumps({"error": {"code": status, "message": message}})
        response = Response(body, status=status, content_type="application/json; charset=utf-8")
        if headers is None:
            endpoint, serial = request.path, _peek_serial(request)
            with self._lock:
                headers = self._headers(endpoint, serial)
            if status == 429:
                headers["X-RateLimit-Remaining"] = "0"
        response.headers.update(headers)
        response.headers["Server"] = "api.webstorage-service.com"
        return response

    def dispatch(self, request: Request) -> Response:
        endpoint = request.path
        try:
            if endpoint not in PATHS:
                raise TandDError(404, "Not Found")
            if request.method != "POST":
                raise TandDError(405, "Method Not Allowed")
            if request.headers.get("X-HTTP-Method-Override", "").upper() != "GET":
                raise TandDError(400, "X-HTTP-Method-Override: GET is required")
            try:
                params = json.loads(request.get_data() or b"")
            except ValueError:
                params = None
            if not isinstance(params, dict):
                raise TandDError(415, "Unsupported Media Type: the request body must be JSON")
            self.authenticate(params)
            if endpoint == PATH_CURRENT:
                devices = self.current_devices(params)
                headers = self._take_turn(PATH_CURRENT, None)
                body = json.dumps({"devices": [self.current(device) for device in devices]})
                return self._ok(body, headers)
            device = self._device_param(params, endpoint)
            if endpoint in (PATH_LATEST, PATH_LATEST_RTR500):
                now = self.world.now()
                times = self.select_times(device, now - LATEST_SPAN, now, MAX_NUMBER)
                headers = self._take_turn(endpoint, device.vendor_id)
                return self._ok(self.render_json(device, times, "device", endpoint), headers)
            return self.data(device, params, endpoint)
        except _RateLimitExceeded as exc:
            return self.error_response(429, exc.message, request, headers=exc.headers)
        except TandDError as exc:
            return self.error_response(exc.status, exc.message, request)

    def _ok(self, body: str, headers: dict[str, str], content_type: str = "application/json; charset=utf-8"):
        response = Response(body, status=200, content_type=content_type)
        response.headers.update(headers)
        response.headers["Server"] = "api.webstorage-service.com"
        return response

    def authenticate(self, params: dict) -> None:
        expected = self.credentials
        given = {key: params.get(key.replace("_", "-")) for key in expected}
        if any(not isinstance(v, str) or not v for v in given.values()):
            raise TandDError(400, "api-key, login-id and login-pass are required")
        # Key-only vendor: "expired" behaves like "revoked" (no session to renew).
        if self.faults.credentials != "valid" or given != expected:
            raise TandDError(401, "Authentication failed: wrong api-key, login-id or login-pass")

    def _device_param(self, params: dict, endpoint: str) -> SimDevice:
        serial = params.get("remote-serial")
        if not isinstance(serial, str) or len(serial) != 8:
            raise TandDError(400, "remote-serial must be a serial number of 8 characters")
        device = self.device(serial)
        if device is None:
            raise TandDError(400, f"remote-serial {serial}: no such device in this account")
        kind = HISTORY_OF_PATH[endpoint]
        if kind == "data-rtr500":
            base = params.get("base-serial")
            if not isinstance(base, str) or len(base) != 8:
                raise TandDError(400, "base-serial must be a serial number of 8 characters")
            if base != (device.extra.get("base") or ("",))[0]:
                raise TandDError(400, f"remote-serial {serial}: not a remote unit of base-serial {base}")
        if self.history_kind(device) != kind:
            # [A] The words of the real refusal are not public; its shape and status are the vendor's.
            raise TandDError(400, f"remote-serial {serial}: this API is not available for this device")
        return device

    def current_devices(self, params: dict) -> list[SimDevice]:
        """The units /current lists: all, or those of the ``remote-serial`` and ``base-serial`` arrays."""
        wanted = {}
        for name in ("remote-serial", "base-serial"):
            value = params.get(name)
            if value is None:
                continue
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise TandDError(400, f"{name} must be an array of serial numbers")
            wanted[name] = set(value)
        devices = self.devices
        if "remote-serial" in wanted:
            devices = [d for d in devices if d.vendor_id in wanted["remote-serial"]]
        if "base-serial" in wanted:
            devices = [d for d in devices if self.base_of(d)[0] in wanted["base-serial"]]
        return devices

    def base_of(self, device: SimDevice) -> tuple[str, str, str]:
        """(serial, model, name) of the unit's base unit; a standalone logger is its own."""
        base = device.extra.get("base")
        if base is None:
            return device.vendor_id, device.extra["model"], device.name
        return base[0], base[1], base[2]

    def current(self, device: SimDevice) -> dict:
        now = self.world.now()
        last = next(self.times_newest_first(device, WORLD_START, now), None)
        row = self._row(device.vendor_id, last) if last is not None else ()
        units = self.channel_units(device, "device")
        time_diff, std_bias, dst_bias = self.offsets()
        battery = self.world.battery(device, now)
        return {
            "num": device.extra.get("num", "1"),
            "serial": device.vendor_id,
            "model": device.extra["model"],
            "name": device.name,
            "battery": str(max(1, math.ceil(battery / 100 * BATTERY_LEVELS))),
            "rssi": str(1 + stable_hash(self.world.seed, device.vendor_id, "rssi") % BATTERY_LEVELS),
            # docs/vendors.md [C]: /current spells the offsets with underscores.
            "time_diff": str(time_diff),
            "std_bias": str(std_bias),
            "dst_bias": str(dst_bias),
            "unixtime": str(last) if last is not None else "",
            "channel": [
                {
                    "num": str(i + 1),  # docs/vendors.md [C]: from "1", as strings
                    "name": device.extra["labels"][i],
                    "value": self.render_value(row[i], channel, units[i]) if row else "",
                    "unit": units[i],
                }
                for i, channel in enumerate(device.channels)
            ],
            "baseunit": dict(zip(("serial", "model", "name"), self.base_of(device), strict=True)),
            "group": {"num": "1", "name": device.group} if device.group else {},
        }

    def data(self, device: SimDevice, params: dict, endpoint: str) -> Response:
        now = self.world.now()
        start = _int_param(params, "unixtime-from", WORLD_START)
        end = _int_param(params, "unixtime-to", now)
        number = min(_int_param(params, "number", DEFAULT_NUMBER), MAX_NUMBER)
        if number < 1:
            raise TandDError(400, "number must be 1 or more")
        # [A] data-rtr500 answers in JSON only, in the units set in the device (its parameters, as the
        # public clients send them, hold no type and no temperature-unit).
        rtr500 = endpoint == PATH_DATA_RTR500
        kind = "json" if rtr500 else params.get("type", "json")
        if kind not in DATA_TYPES:
            raise TandDError(400, "type must be json, csv or csv2")
        unit = "device" if rtr500 else params.get("temperature-unit", "device")
        if unit not in TEMPERATURE_UNITS:
            raise TandDError(400, "temperature-unit must be device, C or F")
        times = self.select_times(device, start, end, number)
        headers = self._take_turn(endpoint, device.vendor_id, readings=len(times))
        if kind == "json":
            return self._ok(self.render_json(device, times, unit, endpoint), headers)
        return self._ok(self.render_csv(device, times, unit), headers, "text/csv; charset=utf-8")

    def render_json(self, device: SimDevice, times: list[int], temperature_unit: str, endpoint: str) -> str:
        units = tuple(self.channel_units(device, temperature_unit))
        time_diff, std_bias, dst_bias = self.offsets()
        if HISTORY_OF_PATH[endpoint] == "data-rtr500":
            base_serial, base_model, base_name = self.base_of(device)
            # docs/vendors.md [C] (the public Go client's test resources): the remote and its base, the
            # offsets
            # with hyphens, a channel's name "ch1" where /current shows an empty one.
            head_fields = {
                "remote-serial": device.vendor_id,
                "remote-model": device.extra["model"],
                "remote-name": device.name,
                "base-serial": base_serial,
                "base-model": base_model,
                "base-name": base_name,
                "time-diff": str(time_diff),
                "std-bias": str(std_bias),
                "dst-bias": str(dst_bias),
                "channel": [
                    {"name": device.extra["labels"][i] or f"ch{i + 1}", "num": str(i + 1), "unit": units[i]}
                    for i in range(len(device.channels))
                ],
            }
        else:
            # docs/vendors.md [C] (the same source): /data spells the offsets with underscores, num from "1".
            head_fields = {
                "serial": device.vendor_id,
                "model": device.extra["model"],
                "name": device.name,
                "time_diff": str(time_diff),
                "std_bias": str(std_bias),
                "dst_bias": str(dst_bias),
                "channel": [
                    {"num": str(i + 1), "name": device.extra["labels"][i], "unit": units[i]}
                    for i in range(len(device.channels))
                ],
            }
        head = json.dumps(head_fields)
        rendered = self._rendered_row
        rows = ", ".join([rendered(device.vendor_id, t, units) for t in times])
        return f'{head[:-1]}, "data": [{rows}]}}'

    def _render_row(self, serial: str, t: int, units: tuple[str, ...]) -> str:
        """One /data row as JSON text (cached: a vendor answers from its database, not by recomputing)."""
        device = self.device(serial)
        row = {"unixtime": str(t), "data-id": str(self.data_id(device, t))}
        for i, (channel, value) in enumerate(zip(device.channels, self._row(serial, t), strict=True)):
            row[f"ch{i + 1}"] = self.render_value(value, channel, units[i])
        return json.dumps(row)

    def render_csv(self, device: SimDevice, times: list[int], temperature_unit: str) -> str:
        """The document's CSV: three header rows, then local time, Excel serial date, a column per channel."""
        units = self.channel_units(device, temperature_unit)
        time_diff, _, dst_bias = self.offsets()
        offset = time_diff + dst_bias
        sign = "+" if offset >= 0 else "-"
        zone = f"GMT{sign}{abs(offset) // 60}:{abs(offset) % 60:02d}"
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        count = len(device.channels)
        writer.writerow(["Date/Time", "Date/Time", *[f"No.{i + 1}" for i in range(count)]])
        writer.writerow(
            [
                f"time difference:{zone}/daylight savings time:{'on' if dst_bias else 'off'}",
                "date as serial value(Excel)",
                *device.extra["labels"],
            ]
        )
        writer.writerow(["", "", *units])
        excel_epoch = datetime(1899, 12, 30)
        for t in times:
            local = datetime.fromtimestamp(t, UTC).replace(tzinfo=None) + timedelta(minutes=offset)
            serial = (local - excel_epoch).total_seconds() / 86400
            values = self._row(device.vendor_id, t)
            writer.writerow(
                [
                    local.strftime("%Y-%m-%d %H:%M:%S"),
                    f"{serial:.9f}".rstrip("0").rstrip("."),
                    *[
                        self.render_value(v, c, u)
                        for v, c, u in zip(values, device.channels, units, strict=True)
                    ],
                ]
            )
        return out.getvalue()


class _RateLimitExceeded(Exception):
    def __init__(self, headers: dict[str, str], message: str):
        super().__init__(message)
        self.headers = headers
        self.message = message


def _int_param(params: dict, name: str, default: int) -> int:
    """A number parameter; numeric strings are accepted, anything else is a 400."""
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        raise TandDError(400, f"{name} must be a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TandDError(400, f"{name} must be a number") from None
    if not math.isfinite(number):
        raise TandDError(400, f"{name} must be a number")
    return int(number)


def _peek_serial(request: Request) -> str | None:
    try:
        params = json.loads(request.get_data() or b"")
    except ValueError:
        return None
    serial = params.get("remote-serial") if isinstance(params, dict) else None
    return serial if isinstance(serial, str) else None


def _token(seed: int, what: str, length: int) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(alphabet[stable_hash(seed, "tandd", what, i) % len(alphabet)] for i in range(length))
