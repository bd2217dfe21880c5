"""T&D WebStorage client (``tandd-webstorage.txt`` and the T&D section of docs/vendors.md).

- Every call is ``POST`` with ``X-HTTP-Method-Override: GET`` and the credentials in the JSON body
  (``api-key``, ``login-id``, ``login-pass``), never in the URL.
- Devices and their current values come from ``/v1/devices/current``. Where a unit's recorded readings come
  from is decided in one place, ``history_path`` (the official model table, docs/vendors.md [C]):
  ``/v1/devices/data`` for TR7A, TR-7wb/nw/wf, TR4A and TR32B loggers (asked in Celsius);
  ``/v1/devices/data-rtr500`` for the remote units of an RTR500B base unit (listed by ``/current`` with a
  ``baseunit.serial`` that is not their own; asked with ``remote-serial`` and ``base-serial``); none for
  RTR-500 (not B) and TR-700W units, which are *current value only*: each sync stores the current value
  of ``/current`` as a reading. A remote unit that ``data-rtr500`` refuses (HTTP 400: the remotes of a base
  uploading by FTP look the same in ``/current``) is current value only too, and is asked again a day later.
- Channels are keyed by their number (``num``, ``"1"``, ``"2"``... in every answer; the rows' ``ch1``,
  ``ch2``...), never by their display name, which is often empty: an empty name is shown as
  "Channel 1 (°C)". Every channel is kept, whatever it measures: a unit that is not a temperature or a
  humidity (kWh, V, mA, ppm, lx, hPa...) is stored as it comes, with its unit.
- Both history endpoints answer a period holding more than ``number`` readings with its newest ``number``
  (capped at 65,535), so ``history`` pages backwards until the period is complete, under the same rate
  limits (docs/vendors.md [A] for ``data-rtr500``), and the usual answers of both are read straight into
  columns.
- ``data-id`` increases by one per reading: a jump (readings lost) or a restart (logger reset) is reported
  as a ``GapRecord``. To see a break at the start of the period, the reading just before ``since`` is
  fetched too; a gap is reported by the period that holds its first reading after the break.
- The ``X-RateLimit-*`` headers are read after every answer: when a budget is spent, the client waits (and
  tells the shared rate limiter) instead of earning a 429; a 429 still gets a bounded, clean back-off.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from operator import itemgetter, lt, methodcaller
from typing import Any, NamedTuple

import requests

from .base import Capabilities, VendorClient
from .errors import ParseError, RateLimited, RequestRefused
from .parsing import all_finite, finite_number, measurement, paused_garbage_collection, utc_from_epoch
from .records import (
    CELSIUS,
    HUMIDITY,
    OTHER,
    PERCENT_RH,
    TEMPERATURE,
    ChannelInfo,
    DeviceInfo,
    GapRecord,
    ReadingBatch,
)

logger = logging.getLogger("vendors.clients.tandd")

PATH_CURRENT = "/v1/devices/current"
PATH_DATA = "/v1/devices/data"
PATH_DATA_RTR500 = "/v1/devices/data-rtr500"

# docs/vendors.md [C], the official model table: data-rtr500 serves the remote units of these base units (not
# of an
# RTR500BC, not when the base uploads by FTP); RTR-500 (not B) and TR-700W units have current values only.
RTR500B_HISTORY_BASES = ("RTR500BW", "RTR500BM")
RTR500B_REMOTE = re.compile(r"RTR5\d\dB")  # RTR501B, RTR502BL, RTR505B-V...: a remote of the B series
CURRENT_VALUE_ONLY_MODELS = re.compile(r"RTR-5\d\d|TR-7\dW$")  # RTR-501, RTR-574..., TR-71W, TR-72W
# A unit whose history endpoint refused it is asked again after this long (its base may have changed
# from FTP to HTTPS uploads).
REFUSED_HISTORY_RECHECK = 86400.0

# The document: "the upper limit is 65,535" readings per /data answer (docs/vendors.md [A]: data-rtr500 too).
MAX_NUMBER = 65_535

# docs/vendors.md [C] rate limits: /data 20 requests a minute per device ([A] data-rtr500 too), /current 10
# per
# 2 minutes.
DATA_REQUESTS_PER_MINUTE = 20
CURRENT_REQUESTS = 10
CURRENT_PERIOD = 120.0

# [A] Battery in /current is a level from 0 to 5 (public clients show "5"): percent = level * 20.
BATTERY_LEVELS = 5


@dataclass(frozen=True)
class TimeOffsets:
    """A logger's time settings, in minutes."""

    time_diff: int | None
    std_bias: int | None
    dst_bias: int | None


def parse_time_offsets(obj: dict) -> TimeOffsets:
    """The offsets of a device or a history answer, in either spelling.

    docs/vendors.md [C]: the document spells them ``time-diff``/``std-bias``/``dst-bias`` (as data-rtr500
    answers);
    public clients see ``time_diff``/``std_bias``/``dst_bias`` (as /current answers). Accept both.
    """

    def minutes(name: str) -> int | None:
        for key in (name, name.replace("-", "_")):
            if key in obj:
                number = _number(obj[key])
                return int(number) if number is not None else None
        return None

    return TimeOffsets(minutes("time-diff"), minutes("std-bias"), minutes("dst-bias"))


def parse_value(raw: Any) -> tuple[float | None, str]:
    """(value, error) of one channel value. docs/vendors.md [A]: anything that is not a finite number (e.g.
    the
    string "Sensor Error") is the vendor's error code, stored as such, never a temperature."""
    return measurement(raw, _as_written)


def _as_written(raw: Any) -> str:
    return (str(raw).strip() if raw is not None else "") or "no value"


def quantity_for_unit(unit: str) -> str:
    """The quantity a channel measures, from its unit: C/F -> temperature, % -> humidity, else another one
    (kWh, V, mA, ppm, lx, hPa...), stored with its unit."""
    unit = str(unit or "").strip().replace("°", "").upper()
    if unit in ("C", "F"):
        return TEMPERATURE
    if unit in ("%", "%RH", "RH"):
        return HUMIDITY
    return OTHER


def stored_unit(quantity: str, unit: Any) -> str:
    """The unit a channel's readings are stored in: Celsius, %RH, or the vendor's own unit."""
    if quantity == TEMPERATURE:
        return CELSIUS
    if quantity == HUMIDITY:
        return PERCENT_RH
    return str(unit or "").strip()


def history_path(item: dict) -> str | None:
    """Where the recorded readings of a unit listed by /current come from: PATH_DATA, PATH_DATA_RTR500, or
    None (current value only). docs/vendors.md [C]; [A] a model we do not know is a logger that /data
    serves."""
    serial = str(item.get("serial") or "").strip()
    model = str(item.get("model") or "").strip()
    base = item.get("baseunit") if isinstance(item.get("baseunit"), dict) else {}
    base_serial = str(base.get("serial") or "").strip()
    base_model = str(base.get("model") or "").strip().upper().replace("-", "")
    if CURRENT_VALUE_ONLY_MODELS.match(model):
        return None
    if base_serial and base_serial != serial:  # a remote unit of a base unit
        if base_model.startswith(RTR500B_HISTORY_BASES):
            return PATH_DATA_RTR500
        if not base_model and RTR500B_REMOTE.match(model.upper()):
            return PATH_DATA_RTR500
        return None  # a remote of an RTR-500 (not B) or an RTR500BC base unit
    return PATH_DATA


def to_celsius(value: float, unit: str) -> float:
    """A temperature in Celsius: /data is asked in C, but a value still in F (data-rtr500 has no unit
    parameter) is converted, never kept."""
    if is_fahrenheit(unit):
        celsius = round((value - 32) * 5 / 9, 2)
        # (value - 32) * 5 overflows for a value near the float maximum: divide first there.
        return celsius if math.isfinite(celsius) else round((value - 32) / 9 * 5, 2)
    return value


def is_fahrenheit(unit: str) -> bool:
    return str(unit or "").strip().replace("°", "").upper() == "F"


def channel_key(number: int) -> str:
    """The key of channel ``number`` (1-based): its values are under ``ch1``, ``ch2``... in the rows."""
    return f"ch{number}"


def numbered_channels(listed: Any) -> list[tuple[int, dict]]:
    """(1-based number, channel) of a channel list, in number order.

    docs/vendors.md [C]: ``num`` is ``"1"``, ``"2"``... in every real answer; the document shows it from 0,
    so a
    list that holds a 0 is counted from 0. A list whose numbers cannot be read is numbered in its order.
    """
    channels = [c for c in _list(listed) if isinstance(c, dict)]
    nums = [_whole(c.get("num")) for c in channels]
    if channels and all(n is not None and n >= 0 for n in nums) and len(set(nums)) == len(nums):
        shift = 1 if min(nums) == 0 else 0
        return sorted(((n + shift, c) for n, c in zip(nums, channels, strict=True)), key=itemgetter(0))
    return [(i + 1, c) for i, c in enumerate(channels)]


def channel_label(number: int, name: Any, unit: str) -> str:
    """The name to show: the vendor's, or for an empty one "Channel 1 (°C)" (``unit``: as stored)."""
    name = str(name or "").strip()
    if name:
        return name
    shown = {CELSIUS: "°C", PERCENT_RH: "% RH"}.get(unit, unit)
    return f"Channel {number} ({shown})" if shown else f"Channel {number}"


def battery_percent(level: Any) -> float | None:
    number = _number(level)
    if number is None:
        return None
    return max(0.0, min(100.0, number * 100 / BATTERY_LEVELS))


@dataclass
class _Budget:
    """What the last X-RateLimit-* headers said about one limit."""

    remaining: int | None = None
    remaining_readings: int | None = None
    until: float = 0.0  # time.monotonic() at which the window resets


class TandDClient(VendorClient):
    slug = "tandd"
    label = "T&D WebStorage"
    capabilities = Capabilities()  # some units have no history API: DeviceInfo.current_value_only
    credential_fields = ("api_key", "login_id", "login_pass")
    default_base_url = "https://api.webstorage-service.com"

    page_size: int = MAX_NUMBER  # readings asked per history request
    span_seconds: int = 30 * 86400  # history reads long periods in spans of this length, oldest first
    max_wait: float = 90.0  # longer waits raise RateLimited so the worker is given back
    retries_after_429: int = 3
    backoff_base: float = 2.0
    min_wait: float = 1.0

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._budgets: dict[str, _Budget] = {}

    # -- the contract ----------------------------------------------------------------------------

    def devices(self) -> list[DeviceInfo]:
        name = f"{self.slug}:{self.account_key}:current"
        body = self._call(PATH_CURRENT, {}, name, CURRENT_REQUESTS, CURRENT_PERIOD)
        devices = body.get("devices") if isinstance(body, dict) else None
        if not isinstance(devices, list):
            raise ParseError(f"{self.label}: the device list has no 'devices' array")
        refused = self._refused_history()
        return [
            self._device(item, refused) for item in devices if isinstance(item, dict) and item.get("serial")
        ]

    def history_batches(
        self, device: DeviceInfo, since: datetime, until: datetime
    ) -> Iterator[ReadingBatch | GapRecord]:
        """The period's data-id gaps and each channel's readings in columns, span by span, oldest first;
        of a unit that is current value only, its current value when its time is in the period.

        The period is read in spans of ``span_seconds``, oldest first, so that when a limit stops a long
        backfill (RateLimited), every span already yielded is complete.
        """
        serial = device.vendor_id
        path = device.extra.get("history", PATH_DATA)
        if device.current_value_only or not path:
            yield from self._current_readings(device, since, until)
            return
        source = _source(path, serial, device.extra.get("base_serial") or "")
        start, end = math.ceil(since.timestamp()), math.floor(until.timestamp())
        previous: tuple[int | None, datetime] | None = None  # (data-id, time) of the last reading read
        looked_before = False
        for span_start in range(start, end + 1, self.span_seconds):
            span_end = min(span_start + self.span_seconds - 1, end)
            try:
                page = self._read(source, span_start, span_end)
            except RequestRefused as exc:
                if not (span_start == start and exc.status == 400 and path == PATH_DATA_RTR500):
                    raise
                # docs/vendors.md [C]: data-rtr500 serves no remote of a base that uploads by FTP, and
                # /current
                # does not tell them apart: its refusal says so. (A refusal of /data stays an error: every
                # unit it is asked for is one the model table says it serves.)
                logger.warning("%s: current value only (%s)", serial, exc)
                self._remember_refused(serial)
                yield from self._current_readings(device, since, until)
                return
            if page.unixtimes and not looked_before:
                looked_before = True
                if page.data_ids[0]:  # the reading before the period shows a break at its start
                    before = self._read(source, None, start - 1, limit=1)
                    previous = (before.data_ids[-1], before.timestamps[-1]) if before.unixtimes else None
            yield from _gaps(serial, previous, page.data_ids, page.timestamps)
            for key, (timestamps, values, errors) in page.channels.items():
                if timestamps:
                    yield ReadingBatch(serial, key, timestamps, values, errors)
            if page.unixtimes:
                previous = (page.data_ids[-1], page.timestamps[-1])

    # -- devices ---------------------------------------------------------------------------------

    def _device(self, item: dict, refused: dict[str, float]) -> DeviceInfo:
        serial = str(item["serial"])
        channels, current = [], {}
        for number, channel in numbered_channels(item.get("channel")):
            raw_unit = channel.get("unit")
            quantity = quantity_for_unit(raw_unit)
            unit = stored_unit(quantity, raw_unit)
            key = channel_key(number)
            label = channel_label(number, channel.get("name"), unit)
            channels.append(ChannelInfo(key, quantity, unit, label))
            raw = channel.get("value")
            value, error = parse_value(raw) if raw not in (None, "") else (None, "")  # "": nothing yet
            if value is not None and quantity == TEMPERATURE:
                value = to_celsius(value, raw_unit)
            current[key] = {"label": label, "value": value, "error": error}
        last = _number(item.get("unixtime"))
        group = item.get("group") if isinstance(item.get("group"), dict) else {}
        base = item.get("baseunit") if isinstance(item.get("baseunit"), dict) else {}
        offsets = parse_time_offsets(item)
        path = history_path(item)
        if path and time.time() - refused.get(serial, -math.inf) < REFUSED_HISTORY_RECHECK:
            path = None  # its history endpoint refused it lately
        return DeviceInfo(
            vendor_id=serial,
            name=str(item.get("name") or serial),
            kind="fixed",
            channels=tuple(channels),
            group=str(group["name"]) if group.get("name") else None,
            battery=battery_percent(item.get("battery")),
            last_seen=utc_from_epoch(last) if last else None,
            current_value_only=path is None,
            extra={
                "model": str(item.get("model") or ""),
                "base_serial": str(base.get("serial") or ""),
                "history": path or "",
                "time_diff": offsets.time_diff,
                "current": current,
            },
        )

    def _current_readings(
        self, device: DeviceInfo, since: datetime, until: datetime
    ) -> Iterator[ReadingBatch]:
        """The current value of each channel (from /current) as a reading, when its time is in the period:
        all there is of a unit that has no history API."""
        timestamp = device.last_seen
        if timestamp is None or not since <= timestamp <= until:
            return
        for key, current in device.extra.get("current", {}).items():
            if current["value"] is not None or current["error"]:
                yield ReadingBatch(device.vendor_id, key, [timestamp], [current["value"]], [current["error"]])

    # -- units whose history endpoint refused them ------------------------------------------------

    def _refused_history(self) -> dict[str, float]:
        """{serial: when its history endpoint last refused it}, kept with the account's session."""
        refused = self.session_store.load().get("history_refused")
        if not isinstance(refused, dict):
            return {}
        return {str(k): when for k, v in refused.items() if (when := _number(v)) is not None}

    def _remember_refused(self, serial: str) -> None:
        session = self.session_store.load()
        refused = self._refused_history()
        refused[serial] = time.time()
        session["history_refused"] = refused
        self.session_store.save(session)

    # -- readings --------------------------------------------------------------------------------

    def _read(self, source: _Source, start: int | None, end: int, limit: int | None = None) -> _Columns:
        """The readings of ``start <= unixtime <= end``, oldest first, each once.

        The document: a period with more than ``number`` readings answers with its newest ``number``, so ask
        again for what is older than the oldest one received until an answer is not full. The usual
        answers go straight into columns (``_fast_columns``) and are put end to end; from the first one
        that is not usual on, the answers are read by the general parser, and merged by time (``_merge``).
        """
        # One budget per unit, whichever endpoint serves it (docs/vendors.md [A]: data-rtr500 has data's
        # limits).
        name = f"{self.slug}:{self.account_key}:{source.serial}"
        pages: list[tuple[int, _Columns]] = []  # (the end asked, what came), newest first
        usual = True
        while True:
            number = limit or self.page_size
            params = {"remote-serial": source.serial, "unixtime-to": end, "number": number, **source.params}
            if start is not None:
                params["unixtime-from"] = start
            read = functools.partial(self._read_answer, usual, start, end)
            page, usual = self._call(source.path, params, name, DATA_REQUESTS_PER_MINUTE, 60.0, read)
            pages.append((end, page))
            received = len(page.unixtimes)
            oldest = (page.unixtimes[0] if usual else min(page.unixtimes)) if page.unixtimes else None
            if limit or received < number or oldest is None:
                break
            if start is not None and oldest <= start:
                break
            end = oldest - 1
        if usual:
            return _concatenate([page for _, page in reversed(pages)])
        return _merge(pages, start)

    def _read_answer(self, usual: bool, start: int | None, end: int, body: Any) -> tuple[_Columns, bool]:
        """(the answer in columns, whether it was usual): read the fast way when it is usual (and every
        one before it was), else by the general parser."""
        page = _fast_columns(body, start, end) if usual else None
        return (page, True) if page is not None else (_parse_data(body, self.label), False)

    # -- HTTP with rate limits -------------------------------------------------------------------

    def _call(
        self,
        path: str,
        params: dict,
        name: str,
        limit: int,
        period: float,
        read: Callable[[Any], Any] | None = None,
    ) -> Any:
        """The JSON of a successful answer, or what ``read`` makes of it (decoded and read with garbage
        collection paused: 65,535 rows make as many fresh objects, which all die with the answer)."""
        body = {
            "api-key": self.credential("api_key"),
            "login-id": self.credential("login_id"),
            "login-pass": self.credential("login_pass"),
            **params,
        }
        response = self.request(
            "POST",
            path,
            json=body,
            headers={"X-HTTP-Method-Override": "GET", "Accept": "application/json"},
            limiter_key=name,
            turn=(limit, period),
        )
        with paused_garbage_collection():
            body = self.json_body(response)
            return read(body) if read else body

    # The budget the vendor announces in its headers, read from every answer and waited for before each
    # request; a 429's wait is its X-RateLimit-Reset (else Retry-After, else 2 s, 4 s, 8 s).

    def before_request(self, limiter_key: str) -> None:
        self._wait_for_budget(limiter_key)

    def note_limits(self, limiter_key: str, response: requests.Response) -> None:
        self._read_budget(limiter_key, response)

    def retry_after(self, response: requests.Response) -> float | None:
        return _header_number(response, "X-RateLimit-Reset") or _header_number(response, "Retry-After")

    def _read_budget(self, name: str, response: requests.Response) -> None:
        reset = _header_number(response, "X-RateLimit-Reset")
        remaining = _header_number(response, "X-RateLimit-Remaining")
        readings = _header_number(response, "X-RateLimit-Remaining-DataCount")
        if reset is None or (remaining is None and readings is None):
            return
        self._budgets[name] = _Budget(
            remaining=int(remaining) if remaining is not None else None,
            remaining_readings=int(readings) if readings is not None else None,
            until=time.monotonic() + reset,
        )
        if remaining == 0 or readings == 0:
            # Tell every worker: this budget is spent until the window resets.
            self.rate_limiter.block_for(name, reset)

    def _wait_for_budget(self, name: str) -> None:
        """Sleep until the window resets when the last headers said the budget is spent."""
        budget = self._budgets.get(name)
        if not budget or (budget.remaining != 0 and budget.remaining_readings != 0):
            return
        wait = budget.until - time.monotonic()
        if wait <= 0:
            return
        if wait > self.max_wait:
            raise RateLimited(
                f"{self.label}: rate limit reached, try again in {wait:.0f} s", retry_after=wait
            )
        logger.info("%s: rate limit budget spent, waiting %.1f s", self.label, wait)
        time.sleep(wait + 0.05)
        self._budgets.pop(name, None)

    def error_message(self, response: requests.Response) -> str:
        """T&D errors: ``{"error": {"code": N, "message": "..."}}``."""
        try:
            body = response.json()
        except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
            return response.reason or ""
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            return f"{error.get('code')}: {error.get('message')}"
        return super().error_message(response)


class _Source(NamedTuple):
    """Where a unit's recorded readings are asked: the endpoint, the unit, and what else the endpoint
    needs besides the period."""

    path: str
    serial: str
    params: dict


def _source(path: str, serial: str, base_serial: str) -> _Source:
    if path == PATH_DATA_RTR500:
        # [A] data-rtr500 takes no temperature-unit: a value in F is converted here (``to_celsius``).
        return _Source(path, serial, {"base-serial": base_serial})
    return _Source(path, serial, {"temperature-unit": "C"})


def _parse_data(body: Any, label: str) -> _Columns:
    """A /data or data-rtr500 answer in columns as it came (in any order, a time maybe twice, a row maybe
    without a channel: ``rows`` says which); a shape we cannot read is a ParseError. ``_merge`` makes
    clean columns of it.

    The general parser, for the answers ``_fast_columns`` does not take as usual. Even here the usual
    values (numbers as strings, as the vendor sends them, or as JSON numbers) take a short path; anything
    else goes through ``_number`` and ``parse_value``, with the same results.
    """
    if not isinstance(body, dict) or not isinstance(body.get("data", []), list):
        raise ParseError(f"{label}: the data answer has no 'data' array")
    answer_channels = _answer_channels(body)
    unixtimes: list[int] = []
    timestamps: list[datetime] = []
    data_ids: list[int | None] = []
    channels: dict[str, tuple[list, list, list]] = {key: ([], [], []) for key, _, _ in answer_channels}
    rows: dict[str, list[int]] = {key: [] for key, _, _ in answer_channels}
    for row, item in enumerate(body.get("data") or []):
        if type(item) is not dict:
            raise ParseError(f"{label}: a data row is not an object")
        unixtime = _whole(item.get("unixtime"))
        if unixtime is None:
            raise ParseError(f"{label}: a data row has no unixtime")
        # docs/vendors.md [A]: unixtime is UTC epoch seconds.
        timestamp = utc_from_epoch(unixtime)
        if timestamp is None:
            raise ParseError(f"{label}: a data row's unixtime is out of range")
        unixtimes.append(unixtime)
        timestamps.append(timestamp)
        data_ids.append(_whole(item.get("data-id")) or None)
        for key, unit, fahrenheit in answer_channels:
            if key in item:
                times, values, errors = channels[key]
                value, error = _read_value(item[key], unit, fahrenheit)
                times.append(timestamp)
                values.append(value)
                errors.append(error)
                rows[key].append(row)
    return _Columns(unixtimes, timestamps, data_ids, channels, rows)


def _plain_float(raw: Any) -> float | None:
    """The short path of ``_number`` for a string or a float; None for anything else (then ask it)."""
    kind = type(raw)
    if kind is str or kind is float:
        try:
            number = float(raw)
        except ValueError:
            return None
        if number - number == 0.0:  # finite: inf - inf and nan - nan are nan
            return number
    return None


def _whole(raw: Any) -> int | None:
    """A whole number (unixtime, data-id) as ``int(_number(raw))``, with a short path for digit strings."""
    if type(raw) is str and len(raw) < 16 and raw.isascii() and raw.isdigit():
        return int(raw)
    number = _number(raw)
    return int(number) if number is not None else None


def _answer_channels(body: dict) -> list[tuple[str, str, bool]]:
    """(key in the rows, unit, in Fahrenheit) of every channel of a /data or data-rtr500 answer."""
    channels = []
    for number, channel in numbered_channels(body.get("channel")):
        unit = str(channel.get("unit") or "")
        fahrenheit = quantity_for_unit(unit) == TEMPERATURE and is_fahrenheit(unit)
        channels.append((channel_key(number), unit, fahrenheit))
    return channels


class _Columns(NamedTuple):
    """A period's readings in columns: oldest first, each time once, every row holding every channel;
    except as the general parser reads an answer, where ``rows`` gives the row of each channel value."""

    unixtimes: list[int]
    timestamps: list[datetime]
    data_ids: list[int | None]
    channels: dict[str, tuple[list[datetime], list[float | None], list[str]]]  # key: times, values, errors
    rows: dict[str, list[int]] | None = None


def _fast_columns(body: Any, start: int | None, end: int) -> _Columns | None:
    """A usual /data or data-rtr500 answer in columns, with no Python step per reading where a C loop
    does it.

    Usual: every row an object with its unixtime and every channel, unixtimes as digit strings, oldest
    first and within ``start``/``end``. Anything else gives None, and the general parser (``_parse_data``)
    reads the answer. Values and data-ids are read as ``_parse_data`` reads them (a test checks it).
    """
    if type(body) is not dict or type(body.get("data")) is not list:
        return None
    data = body["data"]
    if data and set(map(type, data)) != {dict}:
        return None
    try:
        unixtimes = _digit_ints(list(map(itemgetter("unixtime"), data)))
        raw_values = [
            (key, unit, fahrenheit, list(map(itemgetter(key), data)))
            for key, unit, fahrenheit in _answer_channels(body)
        ]
    except KeyError:
        return None
    if unixtimes is None or not all(map(lt, unixtimes, islice(unixtimes, 1, None))):
        return None
    if unixtimes and ((start is not None and unixtimes[0] < start) or unixtimes[-1] > end):
        return None
    try:
        timestamps = list(map(_from_epoch, unixtimes))
    except (OverflowError, ValueError, OSError):
        return None
    raw_ids = list(map(methodcaller("get", "data-id"), data))
    data_ids: list[int | None] | None = _digit_ints(raw_ids)
    if data_ids is None:
        data_ids = [_whole(raw) or None for raw in raw_ids]
    elif data_ids and min(data_ids) == 0:
        data_ids = [data_id or None for data_id in data_ids]
    channels = {}
    for key, unit, fahrenheit, raws in raw_values:
        channels[key] = (timestamps, *_values(raws, unit, fahrenheit))
    return _Columns(unixtimes, timestamps, data_ids, channels)


def _digit_ints(raws: list) -> list[int] | None:
    """``raws`` as ints when every one is a string of ASCII digits (as the vendor sends them), else None."""
    if not raws:
        return []
    if set(map(type, raws)) != {str} or min(map(len, raws)) == 0 or max(map(len, raws)) >= 16:
        return None
    joined = "".join(raws)
    if not (joined.isascii() and joined.isdigit()):
        return None
    return list(map(int, raws))


def _values(raws: list, unit: str, fahrenheit: bool) -> tuple[list[float | None], list[str]]:
    """One channel's values and errors, as ``_parse_data`` reads them: all at once when every one is a
    finite number (as a string or a float), one by one otherwise."""
    if set(map(type, raws)) <= {str, float}:
        try:
            values: list[float | None] = list(map(float, raws))
        except ValueError:
            pass
        else:
            if all_finite(values):
                if fahrenheit:
                    values = [to_celsius(value, unit) for value in values]
                return values, [""] * len(values)
    values, errors = [], []
    for raw in raws:
        value, error = _read_value(raw, unit, fahrenheit)
        values.append(value)
        errors.append(error)
    return values, errors


def _read_value(raw: Any, unit: str, fahrenheit: bool) -> tuple[float | None, str]:
    """(value in C or %RH, error) of one channel value; a plain number or numeric string the short way."""
    value = _plain_float(raw)
    error = ""
    if value is None:
        value, error = parse_value(raw)
    if fahrenheit and value is not None:
        value = to_celsius(value, unit)
    return value, error


def _concatenate(pages: list[_Columns]) -> _Columns:
    """Pages in columns, oldest first, as one (every page older than the next, as ``_read`` asks them)."""
    if len(pages) == 1:
        return pages[0]
    unixtimes, timestamps, data_ids = [], [], []
    channels: dict[str, tuple[list, list, list]] = {}
    for page in pages:
        unixtimes += page.unixtimes
        timestamps += page.timestamps
        data_ids += page.data_ids
        for key, columns in page.channels.items():
            into = channels.setdefault(key, ([], [], []))
            for column, more in zip(into, columns, strict=True):
                column += more
    return _Columns(unixtimes, timestamps, data_ids, channels)


def _merge(pages: list[tuple[int, _Columns]], start: int | None) -> _Columns:
    """Pages as they came (newest first, each with the end it was asked up to) as clean columns: each
    time once, oldest first, within ``start`` and its page's end; of a time in several rows, the first
    row read (of the newest page) is kept, with its values."""
    kept: dict[int, tuple[_Columns, int]] = {}  # unixtime: (page, row)
    for asked_end, page in pages:
        for row, unixtime in enumerate(page.unixtimes):
            if (start is None or start <= unixtime) and unixtime <= asked_end:
                kept.setdefault(unixtime, (page, row))
    unixtimes = sorted(kept)
    chosen = [kept[unixtime] for unixtime in unixtimes]
    # where each row's value is in its channel's columns, per page
    places = {
        id(page): {
            key: {row: at for at, row in enumerate(page.rows[key])} if page.rows else None
            for key in page.channels
        }
        for _, page in pages
    }
    channels: dict[str, tuple[list, list, list]] = {}
    for page, row in chosen:
        for key, (times, values, errors) in page.channels.items():
            place = places[id(page)][key]
            at = row if place is None else place.get(row)
            if at is not None:
                into = channels.setdefault(key, ([], [], []))
                into[0].append(times[at])
                into[1].append(values[at])
                into[2].append(errors[at])
    return _Columns(
        unixtimes,
        [page.timestamps[row] for page, row in chosen],
        [page.data_ids[row] for page, row in chosen],
        channels,
    )


def _gaps(
    serial: str,
    previous: tuple[int | None, datetime] | None,
    data_ids: list[int | None],
    timestamps: list[datetime],
) -> Iterator[GapRecord]:
    """The breaks in data-id of consecutive readings, from the one read before (``previous``) on."""
    if not data_ids:
        return
    first = data_ids[0]
    follows = previous is None or not previous[0] or first == previous[0] + 1
    if follows and first and data_ids == list(range(first, first + len(data_ids))):
        return  # numbered one by one: no break
    previous_id, previous_time = previous or (None, None)
    for data_id, timestamp in zip(data_ids, timestamps, strict=True):
        gap = _gap(serial, previous_id, previous_time, data_id, timestamp)
        if gap:
            yield gap
        previous_id, previous_time = data_id, timestamp


def _gap(
    serial: str,
    previous_id: int | None,
    previous_time: datetime | None,
    data_id: int | None,
    timestamp: datetime,
) -> GapRecord | None:
    """A break in data-id between two consecutive readings (data-id 0 means the model does not number)."""
    if not previous_id or not data_id or data_id == previous_id + 1:
        return None
    if data_id > previous_id:
        missing = data_id - previous_id - 1
        reason = f"data-id jumped from {previous_id} to {data_id}: {missing} readings missing"
    else:
        reason = f"data-id restarted at {data_id} after {previous_id}: logger reset"
    return GapRecord(serial, previous_time, timestamp, reason)


_number = finite_number  # docs/vendors.md [C]: values arrive as strings


_from_epoch = functools.partial(datetime.fromtimestamp, tz=UTC)


def _list(value: Any) -> list:
    """A JSON array, or an empty list for anything else (a channel list sent as null, a number...)."""
    return value if isinstance(value, list) else []


def _header_number(response: requests.Response, name: str) -> float | None:
    return _number(response.headers.get(name))
