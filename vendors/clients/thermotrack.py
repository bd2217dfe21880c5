"""Thermotrack Webserve (Proges): equipment list and measurement history, JSON or XML.

Every call is a ``POST`` to ``/API/post_api.php`` with a form body, so the API key never sits in a URL
(the document itself warns against its GET endpoint). The format is the account's choice; XML is parsed
with defusedxml and refuses any DTD, so entity expansion and external entities never run.

Data methods return the oldest 1,000 records of a period with the true ``TotalRecord``, and no
pagination: ``_fetch_splitting_to_limit`` splits the period until every window fits. Times are
wall-clock time in the account's time zone, without an offset; ``_WallClockToUTC`` gives each one its UTC
instant, keeping both readings of the hour repeated at the end of summer time.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree.ElementTree import ParseError as XMLSyntaxError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from .base import Capabilities, VendorClient
from .errors import ParseError
from .parsing import measurement
from .records import (
    CELSIUS,
    HUMIDITY,
    PERCENT_RH,
    TEMPERATURE,
    ChannelInfo,
    DeviceInfo,
    GapRecord,
    PositionRecord,
    ReadingRecord,
)

logger = logging.getLogger("vendors.clients.thermotrack")

API_PATH = "/API/post_api.php"

# The document: "All data methods return a maximum of 1,000 records per request." docs/vendors.md [A]: they
# are
# the oldest 1,000 of the period, in ascending time, and TotalRecord is the true count.
VENDOR_RECORD_LIMIT = 1000

# docs/vendors.md [A]: the ``_with_localization`` methods answer for any equipment, fixed equipment with empty
# Longitude/Latitude; so history always asks for this method and keeps a position only where one is given.
HISTORY_METHOD = "equip_data_schedule_with_localization"
DISCOVERY_METHOD = "equip_data_with_localization"

SCHEDULE_FORMAT = "%Y-%m-%d_%H:%M:%S"  # parameters of the *_schedule methods
DATE_FORMAT = "%Y-%m-%d"
# docs/vendors.md [C]: ``DateTime`` is ``YYYY-MM-DD HH:MM:SS`` with no zone (wall-clock, account time zone).
DATETIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M")

TEMPERATURE_CHANNEL = ChannelInfo("Measure", TEMPERATURE, CELSIUS)
HUMIDITY_CHANNEL = ChannelInfo("MeasureHum", HUMIDITY, PERCENT_RH)

# equip_list gives only an id and a name; devices() looks at a little recent data to learn whether an
# equipment has a humidity probe and moves (has coordinates). It widens the look back while it sees
# nothing, so a logger that stopped a while ago is still described by its last data.
DISCOVERY_LOOKBACKS_DAYS = (3, 31, 366)

ONE_SECOND = timedelta(seconds=1)


class ThermotrackClient(VendorClient):
    slug = "thermotrack"
    label = "Thermotrack Webserve"
    capabilities = Capabilities(positions=True)
    credential_fields = ("api_key",)
    default_base_url = "https://www.thermotrack-webserve.com"
    formats = ("json", "xml")

    # Instances may lower it (tests do, against a simulator with the same lower limit).
    record_limit: int = VENDOR_RECORD_LIMIT

    # -- the contract ----------------------------------------------------------------------------

    def devices(self) -> list[DeviceInfo]:
        root = self._call("equip_list")
        devices = []
        for equipment in self._equipments(root):
            vendor_id, name = equipment
            has_humidity, is_vehicle = self._discover(vendor_id)
            channels = (TEMPERATURE_CHANNEL, HUMIDITY_CHANNEL) if has_humidity else (TEMPERATURE_CHANNEL,)
            devices.append(
                DeviceInfo(
                    vendor_id=vendor_id,
                    name=name or vendor_id,
                    kind="vehicle" if is_vehicle else "fixed",
                    channels=channels,
                )
            )
        return devices

    def history(
        self, device: DeviceInfo, since: datetime, until: datetime
    ) -> Iterator[ReadingRecord | PositionRecord | GapRecord]:
        since, until = since.astimezone(UTC), until.astimezone(UTC)
        if since > until:
            return
        wall_start, wall_end = self._wall_clock_bounds(since, until)
        to_utc = _WallClockToUTC(self.timezone)
        for window_start, records in self._fetch_splitting_to_limit(device.vendor_id, wall_start, wall_end):
            to_utc.start_window(window_start)
            for record in records:
                timestamp = to_utc(record["DateTime"])
                if since <= timestamp <= until:
                    yield from self._records_of(device.vendor_id, timestamp, record)

    # -- the 1,000-record limit ------------------------------------------------------------------

    def _fetch_splitting_to_limit(
        self, vendor_id: str, wall_start: datetime, wall_end: datetime
    ) -> Iterator[tuple[datetime, list[dict]]]:
        """(window start, records) for consecutive windows covering [wall_start, wall_end], oldest first.

        The vendor silently returns only the oldest 1,000 records of a period, with the true
        ``TotalRecord``. A window whose ``TotalRecord`` is over the limit is cut into pieces of about
        0.8 x limit records (at the same rate) and each piece is asked again, down to one second, so
        nothing is lost whatever the logging interval.

        Windows are contiguous and disjoint in wall-clock time (an inclusive end, the next window
        starting one second later), as the vendor compares the parameters with each record's local
        ``DateTime``. A cut is never placed inside the hour repeated at the end of summer time unless
        that hour alone holds more than the limit, so a window holds both passes of that hour.
        """
        pending = [(wall_start, wall_end)]
        while pending:
            start, end = pending.pop(0)
            total, records = self._data(vendor_id, start, end)
            if total <= self.record_limit or end <= start:
                if total > len(records):
                    logger.warning(
                        "%s: equipment %s holds %s records in one second; %s read",
                        self.label,
                        vendor_id,
                        total,
                        len(records),
                    )
                yield start, records
                continue
            pieces = math.ceil(total / (self.record_limit * 0.8))
            pending[:0] = self._split(start, end, pieces)

    def _split(self, start: datetime, end: datetime, pieces: int) -> list[tuple[datetime, datetime]]:
        span = int((end - start).total_seconds()) + 1
        step = max(1, math.ceil(span / pieces))
        cuts = []
        for k in range(1, pieces):
            cut = self._cut_outside_repeated_hour(start + timedelta(seconds=k * step), start, end)
            if start < cut <= end and (not cuts or cut > cuts[-1]):
                cuts.append(cut)
        if not cuts:  # cannot happen for a window of two seconds or more; halve it to be sure
            middle = start + timedelta(seconds=span // 2)
            cuts = [middle]
        bounds = [start, *cuts, end + ONE_SECOND]
        return [(bounds[i], bounds[i + 1] - ONE_SECOND) for i in range(len(bounds) - 1)]

    def _cut_outside_repeated_hour(self, cut: datetime, start: datetime, end: datetime) -> datetime:
        span = _repeated_span(self.timezone, cut)
        if span is None or cut == span[0]:
            return cut
        if span[0] > start:
            return span[0]
        if span[1] + ONE_SECOND <= end:
            return span[1] + ONE_SECOND
        return cut  # the window lies inside the repeated hour: cut anyway

    def _wall_clock_bounds(self, since: datetime, until: datetime) -> tuple[datetime, datetime]:
        """The smallest wall-clock period holding every instant of [since, until] (UTC)."""
        start = since.astimezone(self.timezone).replace(tzinfo=None)
        if since.microsecond:
            start = start.replace(microsecond=0) + ONE_SECOND
        end = until.astimezone(self.timezone).replace(tzinfo=None, microsecond=0)
        # In the repeated hour, instants after ``since`` (of the second pass) read earlier wall-clock
        # times, and instants before ``until`` (of the first pass) read later ones.
        span = _repeated_span(self.timezone, start)
        if span is not None:
            start = span[0]
        span = _repeated_span(self.timezone, end)
        if span is not None:
            end = span[1]
        return start, max(start, end)

    # -- requests ---------------------------------------------------------------------------------

    def _data(self, vendor_id: str, start: datetime, end: datetime) -> tuple[int, list[dict]]:
        root = self._call(
            HISTORY_METHOD,
            equip_id=vendor_id,
            date_start=start.strftime(SCHEDULE_FORMAT),
            date_end=end.strftime(SCHEDULE_FORMAT),
        )
        return self._total_and_records(root)

    def _discover(self, vendor_id: str) -> tuple[bool, bool]:
        """(has a humidity probe, is a vehicle) from the equipment's latest data."""
        today = datetime.now(self.timezone).date()
        for days in DISCOVERY_LOOKBACKS_DAYS:
            root = self._call(
                DISCOVERY_METHOD,
                equip_id=vendor_id,
                date_start=(today - timedelta(days=days)).strftime(DATE_FORMAT),
                date_end=today.strftime(DATE_FORMAT),
            )
            _, records = self._total_and_records(root)
            if records:
                has_humidity = any(_present(r.get("MeasureHum")) for r in records)
                is_vehicle = any(_coordinates(r) is not None for r in records)
                return has_humidity, is_vehicle
        return False, False

    def _call(self, method: str, **params: str) -> Any:
        """POST one method; the parsed JSON object or XML root element."""
        fmt = self.response_format or "json"
        form = {"method": method, "api_key": self.credential("api_key"), "format": fmt, **params}
        # A 429 is not documented, but a proxy in front may say so: every worker of the account waits
        # (``request``'s policy: one minute when it says no Retry-After).
        response = self.request("POST", API_PATH, data=form)
        if fmt == "xml":
            root = parse_xml(response.content, self.label)
            error = root.find("error")
            if error is not None and root.find("data") is None:
                raise ParseError(
                    f"{self.label}: the answer holds an error: {self.redact(error.text or '')[:200]}"
                )
            return root
        body = self.json_body(response)
        if not isinstance(body, dict):
            raise ParseError(f"{self.label}: the answer is not a JSON object")
        if "error" in body:
            raise ParseError(
                f"{self.label}: the answer holds an error: {self.redact(str(body['error']))[:200]}"
            )
        return body

    def error_message(self, response) -> str:
        """The text of ``{"error": msg}`` or ``<Detail-Response><error>msg</error>`` (docs/vendors.md [A])."""
        if "xml" in response.headers.get("Content-Type", "") or response.content.lstrip().startswith(b"<"):
            try:
                root = parse_xml(response.content, self.label)
            except ParseError:
                return response.reason or ""
            return (root.findtext("error") or "").strip() or response.reason or ""
        return super().error_message(response)

    # -- parsing ----------------------------------------------------------------------------------

    def _equipments(self, root: Any) -> list[tuple[str, str]]:
        """(IDEquipment, EquipmentName) of ``Detail-Response/data/Equipment`` (docs/vendors.md [C]) or of
        ``{"equipments": [...]}`` (docs/vendors.md [A])."""
        try:
            if self.response_format == "xml":
                items = [
                    {"IDEquipment": e.findtext("IDEquipment"), "EquipmentName": e.findtext("EquipmentName")}
                    for e in _data_element(root).findall("Equipment")
                ]
            else:
                items = root["equipments"]
            out = []
            for item in items:
                vendor_id = _equipment_id(item["IDEquipment"])
                out.append((vendor_id, str(item.get("EquipmentName") or "").strip()))
            return out
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ParseError(f"{self.label}: unexpected equipment list") from None

    def _total_and_records(self, root: Any) -> tuple[int, list[dict]]:
        """``TotalRecord`` and the records, each a dict of field name to text (or None).

        XML: ``Detail-Response/data/Record`` (docs/vendors.md [C]) with ``<TotalRecord>`` a child of
        ``Detail-Response``; JSON: ``{"TotalRecord": N, "records": [...]}`` (both docs/vendors.md [A]).
        """
        try:
            if self.response_format == "xml":
                total_text = root.findtext("TotalRecord")
                records = [
                    {child.tag: (child.text or "").strip() or None for child in record}
                    for record in _data_element(root, required=False).findall("Record")
                ]
            else:
                total_text = root["TotalRecord"]
                records = root["records"]
                if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
                    raise TypeError("records")
            total = int(str(total_text).strip())
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ParseError(f"{self.label}: unexpected data answer (TotalRecord/records)") from None
        if len(records) < min(total, self.record_limit):
            raise ParseError(f"{self.label}: {len(records)} records where TotalRecord says {total}")
        for record in records:
            if "DateTime" not in record:
                raise ParseError(f"{self.label}: a record without DateTime")
        return total, records

    def _records_of(
        self, vendor_id: str, timestamp: datetime, record: dict
    ) -> Iterator[ReadingRecord | PositionRecord]:
        yield _reading(vendor_id, TEMPERATURE_CHANNEL.name, timestamp, record.get("Measure"), required=True)
        if _present(record.get("MeasureHum")):
            yield _reading(vendor_id, HUMIDITY_CHANNEL.name, timestamp, record["MeasureHum"])
        coordinates = _coordinates(record)
        if coordinates is not None:
            latitude, longitude = coordinates
            yield PositionRecord(vendor_id, timestamp, latitude, longitude, None)


# -- wall-clock time -------------------------------------------------------------------------------


class _WallClockToUTC:
    """Turns the vendor's wall-clock ``DateTime`` strings into UTC, record after record.

    Records come in ascending time. A wall-clock time that happens twice (the hour repeated at the end of
    summer time) is the first occurrence (fold=0) until the times go back (a time not after the previous
    one), from there the second (fold=1) until the repeated hour is left. The state carries from one
    window to the next; a window that starts inside the repeated hour starts over, as the vendor
    selects by wall-clock time and such a window holds the first pass of its part of the hour again.
    """

    def __init__(self, timezone):
        self.timezone = timezone
        self.previous: datetime | None = None
        self.fold = 0

    def start_window(self, window_start: datetime) -> None:
        span = _repeated_span(self.timezone, window_start)
        if span is not None and window_start > span[0]:
            self.previous, self.fold = None, 0

    def __call__(self, text: Any) -> datetime:
        wall = _parse_datetime(text)
        if _repeated_span(self.timezone, wall) is None:
            self.fold = 0
        elif self.previous is not None and wall <= self.previous:
            self.fold = 1
        self.previous = wall
        try:
            return wall.replace(tzinfo=self.timezone, fold=self.fold).astimezone(UTC)
        except OverflowError:  # its UTC instant falls outside the years 1 to 9999
            raise ParseError(f"Thermotrack Webserve: DateTime out of range {str(text)[:40]!r}") from None


def _repeated_span(timezone, wall: datetime) -> tuple[datetime, datetime] | None:
    """(first, last second) of the repeated wall-clock period ``wall`` is in, or None if it happens once."""
    first = wall.replace(tzinfo=timezone, fold=0)
    second = wall.replace(tzinfo=timezone, fold=1)
    offset_before, offset_after = first.utcoffset(), second.utcoffset()
    if offset_before is None or offset_after is None or offset_before <= offset_after:
        return None  # unambiguous, or a time skipped when the clocks went forward
    # The clocks went back at an instant between the two readings of ``wall``: find it to the second.
    low = int(first.timestamp())  # offset_before applies
    high = int(second.timestamp())  # offset_after applies
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, timezone).utcoffset() == offset_before:
            low = middle
        else:
            high = middle
    change = datetime.fromtimestamp(high, UTC).replace(tzinfo=None)
    return change + offset_after, change + offset_before - ONE_SECOND


def _parse_datetime(text: Any) -> datetime:
    value = str(text or "").strip()
    for fmt in DATETIME_FORMATS:
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    raise ParseError(f"Thermotrack Webserve: unreadable DateTime {value[:40]!r}")


# -- values ----------------------------------------------------------------------------------------


def _present(value: Any) -> bool:
    """False for null (JSON) or an empty element (XML): no such probe / no coordinates."""
    return value is not None and str(value).strip() != ""


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(str(value).strip().replace(",", "."))
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _reading(
    vendor_id: str, channel: str, timestamp: datetime, raw: Any, required: bool = False
) -> ReadingRecord:
    """A value, or the vendor's text where a number belongs as the reading's error code."""
    if not _present(raw):
        # A record with no Measure at all: the logger sent nothing usable at that time.
        return ReadingRecord(vendor_id, channel, timestamp, None, "missing" if required else "")
    text = str(raw).strip()
    number, error = measurement(text.replace(",", "."), lambda _: text[:50])  # a decimal comma [A]
    return ReadingRecord(vendor_id, channel, timestamp, number, error)


def _coordinates(record: dict) -> tuple[float, float] | None:
    latitude, longitude = _number(record.get("Latitude")), _number(record.get("Longitude"))
    if latitude is None or longitude is None:
        return None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    return latitude, longitude


def _equipment_id(value: Any) -> str:
    text = str(value).strip()
    if isinstance(value, float) and value.is_integer():
        text = str(int(value))
    if not text:
        raise ValueError("IDEquipment")
    return text


# -- XML -------------------------------------------------------------------------------------------


def parse_xml(content: bytes, label: str = "Thermotrack Webserve"):
    """The root element of a ``Detail-Response``; a DTD (entity bombs, external entities) is refused."""
    try:
        root = SafeET.fromstring(content, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, XMLSyntaxError, ValueError):
        raise ParseError(f"{label}: the answer is not valid or safe XML") from None
    if root.tag != "Detail-Response":
        raise ParseError(f"{label}: the answer is not a Detail-Response")
    return root


def _data_element(root, required: bool = True):
    data = root.find("data")
    if data is None:
        if required:
            raise KeyError("data")
        return root  # no <data>: no Record to find
    return data
