"""Thermotrack Webserve, simulated from its API document (thermotrack-webserve.txt) and docs/vendors.md.

Two endpoints answer the same five methods: ``GET /API/get_api.php`` reads the query string and
``POST /API/post_api.php`` reads a form body. The key is the ``api_key`` parameter; ``format`` picks JSON
or XML. Data methods return at most the oldest 1,000 records of the period and the true ``TotalRecord``
(silent truncation). Times, in the parameters and in ``DateTime``, are wall-clock time in the account's
time zone (Europe/Paris): a period is compared with each record's local wall-clock time, as a database
holding local ``DATETIME`` values would, so at the end of summer time the repeated hour shows the same
``DateTime`` strings twice (in ascending UTC order).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from werkzeug.wrappers import Request, Response

from .base import VendorSimulator
from .world import (
    COMPRESSOR_FAILURE,
    DOOR_OPENINGS,
    SENSOR_ERROR,
    SENSOR_ERRORS,
    SimChannel,
    SimDevice,
    TruthPosition,
    TruthReading,
    stable_hash,
)

GET_PATH = "/API/get_api.php"
POST_PATH = "/API/post_api.php"

DATA_METHODS = (
    "equip_data",
    "equip_data_schedule",
    "equip_data_with_localization",
    "equip_data_schedule_with_localization",
)
METHODS = ("equip_list", *DATA_METHODS)
FORMATS = ("json", "xml")

# The document: "All data methods return a maximum of 1,000 records per request."
MAX_RECORDS = 1000

# The document is silent on how a failed sensor shows; Thermotrack puts this text where ``Measure`` (or
# ``MeasureHum``) would hold a number. A client stores it as the reading's error code.
SENSOR_ERROR_VALUE = "ERR"

DATE_FORMAT = "%Y-%m-%d"  # equip_data, equip_data_with_localization
SCHEDULE_FORMAT = "%Y-%m-%d_%H:%M:%S"  # the *_schedule methods: an underscore between date and time
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # DateTime in answers: a space
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SCHEDULE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}_\d{2}:\d{2}:\d{2}$")

MEASURE = SimChannel("Measure", "temperature", "C")
MEASURE_HUM = SimChannel("MeasureHum", "humidity", "%RH")

# Paris time is UTC+1 or UTC+2: a wall-clock period lies within these UTC bounds.
_MAX_OFFSET = timedelta(hours=14)


class ThermotrackSimulator(VendorSimulator):
    slug = "thermotrack"
    timezone = "Europe/Paris"

    def __init__(self, world=None, faults=None, max_records: int = MAX_RECORDS, copies: int = 1):
        self.max_records = max_records
        self.tz = ZoneInfo(self.timezone)
        super().__init__(world=world, faults=faults, copies=copies)

    # -- devices and credentials ----------------------------------------------------------------

    def build_devices(self) -> list[SimDevice]:
        return [
            SimDevice(
                "6128",
                "Vaccine fridge - Pharmacy",
                "fixed",
                "fridge",
                600,
                (MEASURE,),
                traits=frozenset({COMPRESSOR_FAILURE}),
            ),
            SimDevice(
                "6129",
                "Kitchen fridge",
                "fixed",
                "fridge",
                300,
                (MEASURE,),
                traits=frozenset({DOOR_OPENINGS}),
            ),
            SimDevice(
                "6130",
                "Freezer -20 C - Lab",
                "fixed",
                "freezer",
                900,
                (MEASURE,),
                traits=frozenset({SENSOR_ERRORS}),
            ),
            SimDevice("6131", "Dry store room", "fixed", "ambient", 600, (MEASURE, MEASURE_HUM)),
            # A logger set to one reading a minute: a week is 10,080 records, far over the 1,000 limit.
            SimDevice(
                "6132",
                "Blood bank fridge (1-minute logger)",
                "fixed",
                "fridge",
                60,
                (MEASURE,),
                traits=frozenset({DOOR_OPENINGS}),
            ),
            SimDevice(
                "9409",
                "Reefer truck FR-482-TK",
                "vehicle",
                "reefer",
                300,
                (MEASURE, MEASURE_HUM),
                route=("Lyon", "Paris", "Lille"),
            ),
        ]

    @property
    def credentials(self) -> dict[str, str]:
        return {"api_key": f"ttw{stable_hash(self.world.seed, 'thermotrack', 'api_key'):016x}"}

    # -- truth ----------------------------------------------------------------------------------

    def truth_readings(self, vendor_id: str, start: datetime, end: datetime) -> list[TruthReading]:
        """As the world has them, with the sensor error spelt as Thermotrack spells it."""
        out = []
        for reading in super().truth_readings(vendor_id, start, end):
            if reading.error == SENSOR_ERROR:
                reading = TruthReading(
                    reading.device_id, reading.channel, reading.timestamp, None, SENSOR_ERROR_VALUE
                )
            out.append(reading)
        return out

    def truth_positions(self, vendor_id: str, start: datetime, end: datetime) -> list[TruthPosition]:
        """Thermotrack gives coordinates but no speed: the truth has ``speed_kmh=None``."""
        return [
            TruthPosition(p.device_id, p.timestamp, p.latitude, p.longitude, None)
            for p in super().truth_positions(vendor_id, start, end)
        ]

    # -- HTTP -----------------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Response:
        if request.path == GET_PATH:
            params = request.args
        elif request.path == POST_PATH:
            # A PHP script reading $_POST: a query string is not looked at.
            params = request.form if request.method == "POST" else {}
        else:
            return Response("Not Found", status=404, mimetype="text/html")
        fmt = params.get("format", "")

        api_key = params.get("api_key", "")
        if not api_key:
            return self._error(401, "Missing API key", fmt)
        if api_key != self.credentials["api_key"] or self.faults.credentials != "valid":
            # A key-only vendor: an "expired" credential behaves as a revoked one.
            return self._error(401, "Invalid API key", fmt)

        method = params.get("method", "")
        if not method:
            return self._error(400, "Missing parameter: method", fmt)
        if method not in METHODS:
            return self._error(400, f"Unknown method: {method}", fmt)
        if not fmt:
            return self._error(400, "Missing parameter: format", fmt)
        if fmt not in FORMATS:
            return self._error(400, "Malformed parameter: format (json or xml)", fmt)

        if method == "equip_list":
            return self._equip_list(fmt)
        return self._equip_data(method, params, fmt)

    def error_response(self, status: int, message: str, request: Request) -> Response:
        params = request.form if request.path == POST_PATH and request.method == "POST" else request.args
        return self._error(status, message, params.get("format", ""))

    def _error(self, status: int, message: str, fmt: str) -> Response:
        """docs/vendors.md [A]: the document's HTTP code with ``{"error": msg}`` or the XML equivalent."""
        if fmt == "xml":
            body = f"<Detail-Response><error>{escape(message)}</error></Detail-Response>"
            return _xml_response(body, status)
        return Response(json.dumps({"error": message}), status=status, mimetype="application/json")

    # -- methods --------------------------------------------------------------------------------

    def _equip_list(self, fmt: str) -> Response:
        if fmt == "xml":
            items = "".join(
                f"<Equipment><IDEquipment>{d.vendor_id}</IDEquipment>"
                f"<EquipmentName>{escape(d.name)}</EquipmentName></Equipment>"
                for d in self.devices
            )
            return _xml_response(f"<Detail-Response><data>{items}</data></Detail-Response>")
        equipments = [{"IDEquipment": int(d.vendor_id), "EquipmentName": d.name} for d in self.devices]
        return Response(json.dumps({"equipments": equipments}), mimetype="application/json")

    def _equip_data(self, method: str, params, fmt: str) -> Response:
        equip_id = params.get("equip_id", "")
        if not equip_id:
            return self._error(400, "Missing parameter: equip_id", fmt)
        if not equip_id.isdigit():
            return self._error(400, "Malformed parameter: equip_id (integer)", fmt)
        device = self.device(str(int(equip_id)))
        if device is None:
            return self._error(400, f"Unknown equip_id: {equip_id}", fmt)

        schedule = "_schedule" in method
        pattern, parse_format = (_SCHEDULE_RE, SCHEDULE_FORMAT) if schedule else (_DATE_RE, DATE_FORMAT)
        bounds = []
        for name in ("date_start", "date_end"):
            text = params.get(name, "")
            if not text:
                return self._error(400, f"Missing parameter: {name}", fmt)
            try:
                if not pattern.match(text):
                    raise ValueError(text)
                bounds.append(datetime.strptime(text, parse_format))
            except ValueError:
                shape = "YYYY-MM-DD_HH:MM:SS" if schedule else "YYYY-MM-DD"
                return self._error(400, f"Malformed parameter: {name} ({shape})", fmt)
        wall_start, wall_end = bounds
        if not schedule:
            # docs/vendors.md [A]: date_end is inclusive, a date-only query covers whole days.
            wall_end = wall_end + timedelta(days=1) - timedelta(seconds=1)
        if wall_start > wall_end:
            return self._error(400, "Malformed parameter: date_start is after date_end", fmt)

        times = self.wall_clock_times(device, wall_start, wall_end)
        total = len(times)
        localized = "_with_localization" in method
        records = [self._record(device, t, localized) for t in times[: self.max_records]]
        if fmt == "xml":
            rows = "".join(
                "<Record>"
                + "".join(f"<{k}>{escape(v) if v is not None else ''}</{k}>" for k, v in r.items())
                + "</Record>"
                for r in records
            )
            body = f"<Detail-Response><TotalRecord>{total}</TotalRecord><data>{rows}</data></Detail-Response>"
            return _xml_response(body)
        return Response(json.dumps({"TotalRecord": total, "records": records}), mimetype="application/json")

    def wall_clock_times(self, device: SimDevice, wall_start: datetime, wall_end: datetime) -> list[int]:
        """Epoch seconds of the readings whose local wall-clock time is within [wall_start, wall_end],
        in ascending UTC order (docs/vendors.md [A]: ascending time)."""
        lo = int((wall_start.replace(tzinfo=UTC) - _MAX_OFFSET).timestamp())
        hi = int((wall_end.replace(tzinfo=UTC) + _MAX_OFFSET).timestamp())
        tz = self.tz
        out = []
        for t in self.world.reading_times(device, lo, hi):
            wall = datetime.fromtimestamp(t, tz).replace(tzinfo=None)
            if wall_start <= wall <= wall_end:
                out.append(t)
        return out

    def _record(self, device: SimDevice, t: int, localized: bool) -> dict[str, str | None]:
        # Values are strings, as PHP hands a database row over; a missing humidity probe gives null.
        record: dict[str, str | None] = {
            "DateTime": datetime.fromtimestamp(t, self.tz).strftime(DATETIME_FORMAT),
            "Measure": None,
            "MeasureHum": None,
        }
        for channel in device.channels:
            value = self.world.value(device, channel, t)
            record[channel.name] = SENSOR_ERROR_VALUE if value == SENSOR_ERROR else repr(float(value))
        if localized:
            # docs/vendors.md [A]: any equipment answers; fixed equipment has empty coordinates.
            if device.kind == "vehicle" and device.route:
                position = self.world.position(device, t)
                record["Longitude"] = repr(position.longitude)
                record["Latitude"] = repr(position.latitude)
            else:
                record["Longitude"] = ""
                record["Latitude"] = ""
        return record

    # -- helpers for tests ----------------------------------------------------------------------

    def day_count(self, vendor_id: str, day: date) -> int:
        """How many records a date-only query of one local day holds."""
        start = datetime(day.year, day.month, day.day)
        return len(
            self.wall_clock_times(self.device(vendor_id), start, start + timedelta(days=1, seconds=-1))
        )


def _xml_response(body: str, status: int = 200) -> Response:
    return Response(
        '<?xml version="1.0" encoding="UTF-8"?>' + body, status=status, mimetype="application/xml"
    )
