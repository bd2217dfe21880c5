"""Property tests: every vendor parser, fed arbitrary or damaged answers over real HTTP, returns records
of the documented types or raises one of our own ``VendorError``s, never anything else.

Each client talks to a loopback server (``tests/fuzz_server.py``): the endpoint under test answers the
body the current Hypothesis example chose, every other endpoint (a login, the list a history needs) is
answered by the real simulator. Bodies are (a) arbitrary bytes, (b) arbitrary JSON (or XML) values and
(c) variations of a real answer recorded from the simulator: any node replaced by an arbitrary value,
keys dropped, types changed, numbers as strings, NaN/Infinity, huge numbers, out-of-range dates, empty
lists, nulls, the whole body truncated at a random point.

Examples are derandomized (CI sees the same ones every run); ``FUZZ_EXAMPLES=200`` asks for more.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
import xml.etree.ElementTree as ET  # noqa: S405 - parses our own recorded simulator answers only
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import FIXED_NOW
from tests.fuzz_server import Answer, FuzzProxy
from vendors.clients import client_class
from vendors.clients.errors import (
    AuthenticationError,
    ParseError,
    RateLimited,
    RequestRefused,
    UnavailableError,
    VendorError,
    VendorTimeout,
)
from vendors.clients.records import (
    AlertRecord,
    ChannelInfo,
    DeviceInfo,
    GapRecord,
    PositionRecord,
    ReadingRecord,
)
from vendors.clients.trackgps import parse_measurement as gpswox_measurement
from vendors.simulators import SimulatorServer, World, simulator_class

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
FEW = settings(FUZZ, max_examples=max(4, EXAMPLES // 2))

HOUR = timedelta(hours=1)
HISTORY_SINCE = FIXED_NOW - timedelta(days=1)
HISTORY_UNTIL = HISTORY_SINCE + 2 * HOUR
ALERTS_SINCE = FIXED_NOW - timedelta(days=5)
ALERTS_UNTIL = FIXED_NOW

MAX_LIST = 10  # recorded lists are cut to this many items: small bodies, fast examples

THINGSEE_THING = "XXXX03X2Z74162459"  # the cold room
THINGSEE_SPARE = "XXXX03X2Z74163586"


# == operations: what each test drives, and which endpoint answers the fuzzed body ====================


@dataclass(frozen=True)
class Operation:
    name: str
    run: Callable  # (client, device) -> result
    targets: tuple[str, ...]  # endpoint keys (tests/fuzz_server.py) fuzzed one at a time
    returns: str  # "devices", "history", "alerts" or "data"


def _history(client, device):
    return list(client.history(device, HISTORY_SINCE, HISTORY_UNTIL))


def _alerts(client, device):
    return list(client.alerts(ALERTS_SINCE, ALERTS_UNTIL))


def _devices(client, device):
    return client.devices()


# The T&D simulator's RTR507B remote unit of the RTR500BW base 58580001: its history is data-rtr500's.
TANDD_REMOTE = DeviceInfo(
    "52870001",
    "Cold room B",
    channels=(ChannelInfo("ch1", "temperature", "C"), ChannelInfo("ch2", "humidity", "%RH")),
    extra={"history": "/v1/devices/data-rtr500", "base_serial": "58580001", "current": {}},
)


def _remote_history(client, device):
    return list(client.history(TANDD_REMOTE, HISTORY_SINCE, HISTORY_UNTIL))


TT = "/auth/client-token"
OPERATIONS: dict[str, list[Operation]] = {
    "thermotrack": [
        Operation("devices", _devices, ("equip_list", "equip_data_with_localization"), "devices"),
        Operation("history", _history, ("equip_data_schedule_with_localization",), "history"),
    ],
    "tandd": [
        Operation("devices", _devices, ("/v1/devices/current",), "devices"),
        Operation("history", _history, ("/v1/devices/data",), "history"),
        Operation("history-rtr500", _remote_history, ("/v1/devices/data-rtr500",), "history"),
    ],
    "trackunit": [
        Operation("devices", _devices, ("/Unit",), "devices"),
        Operation("history", _history, ("/Report/UnitHistory",), "history"),
        Operation("alerts", _alerts, ("/Report/AlarmHistory",), "alerts"),
    ],
    "thingsee": [
        Operation(
            "devices",
            _devices,
            (
                f"POST {TT}",
                "GET /groups",
                "GET /groups/{id}/things",
                "GET /things/{id}",
                "GET /things/{id}/installations",
            ),
            "devices",
        ),
        Operation("history", _history, ("GET /things/{id}/messages", f"POST {TT}"), "history"),
        Operation("alerts", _alerts, ("GET /things/{id}/alerts",), "alerts"),
        Operation("create_group", lambda c, d: c.create_group("fuzz", "Fuzz"), ("POST /groups",), "data"),
        Operation(
            "rename_group",
            lambda c, d: c.rename_group("fuzz", "fuzz-2"),
            ("POST /groups/{id}/rename",),
            "data",
        ),
        Operation(
            "move_thing",
            lambda c, d: c.move_thing(THINGSEE_SPARE, "fuzz-2"),
            ("POST /things/{id}/group",),
            "data",
        ),
        Operation(
            "thing_group", lambda c, d: c.thing_group(THINGSEE_SPARE), ("GET /things/{id}/group",), "data"
        ),
        Operation(
            "set_installation_status",
            lambda c, d: c.set_installation_status(THINGSEE_SPARE, "installed"),
            ("POST /things/{id}/installations",),
            "data",
        ),
        Operation("delete_group", lambda c, d: c.delete_group("fuzz-2"), ("DELETE /groups/{id}",), "data"),
    ],
    "trackgps": [
        Operation(
            "devices", _devices, ("/api/get_devices", "/api/get_user_drivers", "/api/login"), "devices"
        ),
        Operation("history", _history, ("/api/get_history", "/api/login"), "history"),
        Operation("alerts", _alerts, ("/api/get_events",), "alerts"),
    ],
}
# The endpoints that log in: a refusal there may be an AuthenticationError whatever the status.
LOGIN_TARGETS = {f"POST {TT}", "/api/login"}

# Where each vendor's answer carries measurement values (for the "never a temperature from a word" test).
FORMATS = {"thermotrack": ("json", "xml")}


# == the server and the recorded answers ============================================================


@dataclass
class Env:
    server: SimulatorServer
    proxies: dict[str, FuzzProxy]
    recorded: dict[tuple[str, str], dict[str, tuple[int, str, bytes]]]  # (slug, format) -> key -> answer
    devices: dict[str, DeviceInfo]  # slug -> the device whose history is fuzzed

    def client(self, slug: str, fmt: str = ""):
        sim = self.proxies[slug].simulator
        kwargs = {"response_format": fmt} if fmt else {}
        return client_class(slug)(
            base_url=self.server.base_url(slug), credentials=sim.credentials, timezone=sim.timezone, **kwargs
        )


def _pick_device(slug: str, devices: list[DeviceInfo]) -> DeviceInfo:
    if slug == "thingsee":
        return next(d for d in devices if d.vendor_id == THINGSEE_THING)
    # The device with the most channels (a vehicle if there is one): the richest history.
    return max(devices, key=lambda d: (len(d.channels), d.kind == "vehicle"))


@pytest.fixture(scope="module")
def env():
    world = World(seed=7, clock=lambda: FIXED_NOW.timestamp())
    proxies = {slug: FuzzProxy(simulator_class(slug)(world=world)) for slug in OPERATIONS}
    server = SimulatorServer(list(proxies.values())).start()
    environment = Env(server, proxies, {}, {})
    try:
        for slug, operations in OPERATIONS.items():
            for fmt in FORMATS.get(slug, ("",)):
                proxy = proxies[slug]
                proxy.recording, proxy.recorded = True, {}
                client = environment.client(slug, fmt)
                devices = client.devices()
                device = _pick_device(slug, devices)
                environment.devices[slug] = device
                for operation in operations:
                    if operation.name != "devices":
                        operation.run(client, device)
                proxy.recording = False
                environment.recorded[(slug, fmt)] = dict(proxy.recorded)
        yield environment
    finally:
        server.stop()


def recorded_body(env: Env, slug: str, fmt: str, target: str) -> bytes:
    status, _, body = env.recorded[(slug, fmt)][target]
    assert status == 200, f"the simulator refused the recording of {target}"
    return body


# == strategies ==================================================================================

NAN, INF = float("nan"), float("inf")
SPECIAL_VALUES = [
    NAN,
    INF,
    -INF,
    10**400,
    -(10**400),
    2**64,
    1e308,
    -1e308,
    5e-324,
    0,
    -1,
    True,
    False,
    None,
    "",
    " ",
    [],
    {},
    "NaN",
    "nan",
    "Infinity",
    "-Infinity",
    "inf",
    "1e999",
    "-1e999",
    "1" + "0" * 400,
    "0x10",
    "1,5",
    "4.5 °C",
    "ERR",
    "ERROR",
    "Sensor Error",
    "null",
    "true",
    "\x00",
    "\ud800",
    "é\u0100\U0001f600",
    "0001-01-01 00:00:00",
    "9999-12-31 23:59:59",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00",
    "9999-12-31T23:59:59.9999999Z",
    "0001-01-01T00:00:00.0000000+14:00",
    "9999-12-31T23:59:59-14:00",
    "9999-12-31T23:59:59",
    "01-01-0001 00:00:00",
    "31-12-9999 23:59:59",
    "2026-02-30 12:00:00",
    "2026-11-20 12:00",
    253402300800,
    -62135596801,
    1e18,
    -1e18,
    1e300,
]

_datetimes = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59))


def _format_time(d: datetime, shape: int, zone: str) -> str:
    date = f"{d.year:04d}-{d.month:02d}-{d.day:02d}"
    clock = f"{d.hour:02d}:{d.minute:02d}:{d.second:02d}"
    return [
        f"{date} {clock}",
        f"{date}T{clock}",
        f"{date}T{clock}.{d.microsecond:06d}0{zone}",
        f"{d.day:02d}-{d.month:02d}-{d.year:04d} {clock}",
        f"{date} {d.hour:02d}:{d.minute:02d}",
    ][shape]


time_texts = st.builds(
    _format_time, _datetimes, st.integers(0, 4), st.sampled_from(["Z", "+14:00", "-12:00", "+0530", ""])
)
epochs = st.one_of(
    st.integers(-(2**70), 2**70), st.floats(-1e20, 1e20), st.integers(1_700_000_000, 1_900_000_000)
)
json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(SPECIAL_VALUES),
    time_texts,
    epochs,
    st.floats(-100, 100).map(str),
)


def json_values(keys: list[str]) -> st.SearchStrategy:
    """Arbitrary JSON values, their object keys often the vendor's own (so a parser gets further)."""
    key = st.one_of(st.sampled_from(keys), st.text(max_size=8)) if keys else st.text(max_size=8)
    return st.recursive(
        json_leaves,
        lambda children: st.lists(children, max_size=4) | st.dictionaries(key, children, max_size=5),
        max_leaves=15,
    )


def dump(value) -> bytes:
    return json.dumps(value, allow_nan=True).encode("utf-8", "surrogatepass")


def _nodes(tree, path=()):
    yield path
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _nodes(value, (*path, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            yield from _nodes(value, (*path, index))


def _get(tree, path):
    for step in path:
        tree = tree[step]
    return tree


def _set(tree, path, value):
    if not path:
        return value
    _get(tree, path[:-1])[path[-1]] = value
    return tree


def _numbers_as_strings(value):
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return [_numbers_as_strings(v) for v in value]
    if isinstance(value, dict):
        return {k: _numbers_as_strings(v) for k, v in value.items()}
    return value


def _retype(value):
    """The same value in another JSON type: what a sloppy vendor serializer might send."""
    options = [str(value), [value], {"value": value}, None]
    if isinstance(value, str):
        try:
            options.append(float(value))
        except ValueError:
            options.append(len(value))
    if isinstance(value, dict):
        options.append(list(value.values()))
    if isinstance(value, list):
        options.append({str(i): v for i, v in enumerate(value)})
    return options


MUTATIONS = ("replace", "drop", "null", "empty", "retype", "strings", "special", "time", "duplicate")


@st.composite
def mutated_json(draw, payload, keys: list[str]):
    """A variation of a real answer: a few nodes changed, maybe the whole body truncated."""
    tree = copy.deepcopy(payload)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(list(_nodes(tree))))
        node = _get(tree, path)
        kind = draw(st.sampled_from(MUTATIONS))
        if kind == "replace":
            tree = _set(tree, path, draw(json_values(keys)))
        elif kind == "drop" and path:
            parent = _get(tree, path[:-1])
            del parent[path[-1]]
        elif kind == "null":
            tree = _set(tree, path, None)
        elif kind == "empty":
            tree = _set(tree, path, draw(st.sampled_from([[], {}, "", 0])))
        elif kind == "retype":
            tree = _set(tree, path, draw(st.sampled_from(_retype(node))))
        elif kind == "strings":
            tree = _set(tree, path, _numbers_as_strings(node))
        elif kind == "special":
            tree = _set(tree, path, draw(st.sampled_from(SPECIAL_VALUES)))
        elif kind == "time":
            tree = _set(tree, path, draw(st.one_of(time_texts, epochs)))
        elif kind == "duplicate" and isinstance(node, list) and node:
            node.insert(draw(st.integers(0, len(node))), copy.deepcopy(draw(st.sampled_from(node))))
    body = dump(tree)
    if draw(st.integers(0, 4)) == 0:
        body = body[: draw(st.integers(0, max(0, len(body) - 1)))]
    return body


def _trim_json(value):
    if isinstance(value, list):
        return [_trim_json(v) for v in value[:MAX_LIST]]
    if isinstance(value, dict):
        out = {k: _trim_json(v) for k, v in value.items()}
        if isinstance(out.get("records"), list) and "TotalRecord" in out:  # Thermotrack: keep it coherent
            out["TotalRecord"] = len(out["records"])
        return out
    return value


def _keys(value, out: set[str]) -> set[str]:
    if isinstance(value, dict):
        out.update(value)
        for v in value.values():
            _keys(v, out)
    elif isinstance(value, list):
        for v in value:
            _keys(v, out)
    return out


def vocabulary(env: Env, slug: str) -> list[str]:
    keys: set[str] = set()
    for (s, fmt), answers in env.recorded.items():
        if s == slug and fmt != "xml":
            for _, _, body in answers.values():
                try:
                    _keys(json.loads(body), keys)
                except ValueError:
                    pass
    return sorted(keys)


# -- XML (Thermotrack) ----------------------------------------------------------------------------------

xml_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,8}", fullmatch=True)
xml_texts = st.one_of(
    st.text(max_size=20),
    st.sampled_from(SPECIAL_VALUES).map(lambda v: "" if v is None else str(v)),
    time_texts,
    st.floats().map(str),
)


def _element(tag: str, text: str | None, children: list) -> ET.Element:
    element = ET.Element(tag)
    element.text = text
    element.extend(children)
    return element


def xml_trees(tags: list[str]) -> st.SearchStrategy:
    tag = st.one_of(st.sampled_from(tags), xml_names)
    leaf = st.builds(_element, tag, st.none() | xml_texts, st.just([]))
    return st.recursive(
        leaf, lambda children: st.builds(_element, tag, st.none() | xml_texts, st.lists(children, max_size=4))
    )


def _xml_bytes(root: ET.Element) -> bytes:
    try:
        return ET.tostring(root, encoding="utf-8")
    except (ValueError, UnicodeEncodeError):  # a lone surrogate: send it as XML would never allow
        return ET.tostring(root, encoding="unicode").encode("utf-8", "surrogatepass")


@st.composite
def arbitrary_xml(draw, tags: list[str]):
    root = draw(xml_trees(tags))
    if draw(st.booleans()):
        root.tag = "Detail-Response"  # get past the root check most of the time
    return _xml_bytes(root)


@st.composite
def mutated_xml(draw, body: bytes, tags: list[str]):
    root = ET.fromstring(body)  # noqa: S314 - our own recorded simulator answer
    for _ in range(draw(st.integers(1, 4))):
        pairs = [(parent, child) for parent in root.iter() for child in parent]
        kind = draw(st.sampled_from(("text", "drop", "rename", "duplicate", "add", "clear", "time")))
        if not pairs:
            kind = "add"
        if kind == "add":
            parent = draw(st.sampled_from(list(root.iter())))
            parent.append(draw(xml_trees(tags)))
            continue
        parent, child = draw(st.sampled_from(pairs))
        if kind == "text":
            child.text = draw(st.none() | xml_texts)
        elif kind == "time":
            child.text = draw(time_texts)
        elif kind == "drop":
            parent.remove(child)
        elif kind == "rename":
            child.tag = draw(st.one_of(st.sampled_from(tags), xml_names))
        elif kind == "duplicate":
            parent.insert(draw(st.integers(0, len(parent))), copy.deepcopy(child))
        elif kind == "clear":
            child.clear()
    out = _xml_bytes(root)
    if draw(st.integers(0, 4)) == 0:
        out = out[: draw(st.integers(0, max(0, len(out) - 1)))]
    return out


def _trim_xml(body: bytes) -> bytes:
    root = ET.fromstring(body)  # noqa: S314 - our own recorded simulator answer
    data = root.find("data")
    if data is not None:
        for child in list(data)[MAX_LIST:]:
            data.remove(child)
        total = root.find("TotalRecord")
        if total is not None:
            total.text = str(len(data.findall("Record")))
    return ET.tostring(root, encoding="utf-8")


def xml_tags(env: Env) -> list[str]:
    tags: set[str] = set()
    for _, _, body in env.recorded[("thermotrack", "xml")].values():
        tags.update(element.tag for element in ET.fromstring(body).iter())  # noqa: S314
    return sorted(tags)


def bodies(env: Env, slug: str, fmt: str, target: str, kind: str) -> st.SearchStrategy:
    """The bodies the fuzzed endpoint answers: ``kind`` is bytes, json (or xml) or mutated."""
    if kind == "bytes":
        return st.binary(max_size=400)
    if fmt == "xml":
        tags = xml_tags(env)
        if kind == "json":
            return arbitrary_xml(tags)
        return mutated_xml(_trim_xml(recorded_body(env, slug, fmt, target)), tags)
    keys = vocabulary(env, slug)
    if kind == "json":
        return json_values(keys).map(dump)
    payload = _trim_json(json.loads(recorded_body(env, slug, fmt, target)))
    return mutated_json(payload, keys)


# == the property ================================================================================


def _is_utc(value) -> bool:
    return isinstance(value, datetime) and value.tzinfo is not None and value.utcoffset() == timedelta(0)


def _finite_or_none(value) -> bool:
    return value is None or (type(value) is float and math.isfinite(value))


def _text_or_none(value) -> bool:
    return value is None or isinstance(value, str)


def check_device(device) -> None:
    assert type(device) is DeviceInfo, device
    assert isinstance(device.vendor_id, str) and device.vendor_id, device
    assert isinstance(device.name, str), device
    assert device.kind in ("fixed", "vehicle", "gateway"), device
    assert isinstance(device.channels, tuple), device
    for channel in device.channels:
        assert type(channel) is ChannelInfo and isinstance(channel.name, str), device
    for name in ("group", "installation_status", "driver"):
        assert _text_or_none(getattr(device, name)), (name, device)
    for name in ("battery", "latitude", "longitude"):
        assert _finite_or_none(getattr(device, name)), (name, device)
    assert device.last_seen is None or _is_utc(device.last_seen), device
    assert isinstance(device.extra, dict), device


def check_history_record(record) -> None:
    assert type(record) in (ReadingRecord, PositionRecord, GapRecord), record
    if type(record) is ReadingRecord:
        assert isinstance(record.device_id, str) and isinstance(record.channel, str), record
        assert _is_utc(record.timestamp), record
        assert _finite_or_none(record.value), record  # never NaN, never Infinity, never a bool
        assert isinstance(record.error, str), record
        assert HISTORY_SINCE <= record.timestamp <= HISTORY_UNTIL, record
    elif type(record) is PositionRecord:
        assert _is_utc(record.timestamp), record
        assert HISTORY_SINCE <= record.timestamp <= HISTORY_UNTIL, record
        assert record.latitude is not None and _finite_or_none(record.latitude), record
        assert record.longitude is not None and _finite_or_none(record.longitude), record
        assert _finite_or_none(record.speed_kmh), record
    else:
        assert _is_utc(record.start) and _is_utc(record.end), record
        assert isinstance(record.reason, str), record


def check_alert(alert) -> None:
    assert type(alert) is AlertRecord, alert
    assert isinstance(alert.vendor_alert_id, str) and alert.vendor_alert_id, alert
    assert _text_or_none(alert.device_id), alert
    assert isinstance(alert.alert_type, str), alert
    assert _is_utc(alert.started_at), alert
    assert alert.ended_at is None or _is_utc(alert.ended_at), alert
    assert isinstance(alert.message, str) and isinstance(alert.address, str), alert
    for name in ("latitude", "longitude", "speed_kmh"):
        assert _finite_or_none(getattr(alert, name)), (name, alert)


def check_data(result) -> None:
    """Thingsee operations return the vendor's ``data``: a dict, or a list of dicts or of strings."""
    if isinstance(result, dict):
        return
    assert isinstance(result, list), result
    assert all(isinstance(item, dict) for item in result) or all(isinstance(i, str) for i in result), result


CHECKS = {
    "devices": check_device,
    "history": check_history_record,
    "alerts": check_alert,
}


def check_result(operation: Operation, result) -> None:
    if operation.returns == "data":
        check_data(result)
        return
    assert isinstance(result, list), result
    for item in result:
        CHECKS[operation.returns](item)


def drive(env: Env, slug: str, fmt: str, operation: Operation, target: str, answer: Answer):
    """Run the operation with ``target`` answering ``answer``: the result, or the VendorError raised.

    Any other exception escapes, and fails the test with its traceback."""
    proxy = env.proxies[slug]
    client = env.client(slug, fmt)
    proxy.fuzz(target, answer)
    try:
        result = operation.run(client, env.devices[slug])
    except VendorError as exc:
        assert isinstance(exc.message, str)
        return exc
    finally:
        tripped = proxy.requests > proxy.request_budget
        proxy.passthrough()
    assert not tripped, f"{slug} {operation.name} asked {target} more than {proxy.request_budget} times"
    check_result(operation, result)
    return result


def expect_ok_status_error(exc, target: str) -> None:
    """A 200 answer that cannot be read is a ParseError (or a refusal the vendor wrote in the body)."""
    if not isinstance(exc, VendorError):
        return
    allowed: tuple[type, ...] = (ParseError, RequestRefused)
    if target in LOGIN_TARGETS:
        # A token the vendor will not take back (or a login the body says failed) ends in 401s.
        allowed += (AuthenticationError,)
    assert isinstance(exc, allowed), f"{type(exc).__name__} for a 200 answer: {exc}"
    assert not isinstance(exc, RateLimited | UnavailableError)


def _cases(kinds=("bytes", "json", "mutated")):
    for slug, operations in OPERATIONS.items():
        for fmt in FORMATS.get(slug, ("",)):
            for operation in operations:
                for target in operation.targets:
                    for kind in kinds:
                        label = f"{slug}{'-' + fmt if fmt else ''}-{operation.name}-{target}-{kind}"
                        yield pytest.param(slug, fmt, operation, target, kind, id=label)


@pytest.mark.parametrize(("slug", "fmt", "operation", "target", "kind"), list(_cases()))
def test_a_fuzzed_answer_gives_records_or_our_own_error(env, slug, fmt, operation, target, kind):
    strategy = bodies(env, slug, fmt, target, kind)
    content_type = "application/xml" if fmt == "xml" else "application/json"
    if kind == "bytes":
        content_type = "application/octet-stream"
    example_settings = FEW if operation.returns == "data" else FUZZ

    @example_settings
    @given(body=strategy)
    def check(body):
        outcome = drive(env, slug, fmt, operation, target, Answer(body, 200, content_type))
        expect_ok_status_error(outcome, target)

    check()


# -- error statuses: the error type follows the status, whatever the body ---------------------------

STATUSES = [400, 401, 403, 404, 405, 409, 422, 429, 500, 502, 503, 504]


def expected_error(status: int) -> type[VendorError]:
    if status in (401, 403):
        return AuthenticationError
    if status == 429:
        return RateLimited
    if status >= 500:
        return UnavailableError
    return RequestRefused


def _status_cases():
    for slug, operations in OPERATIONS.items():
        for fmt in FORMATS.get(slug, ("",)):
            for operation in operations:
                if operation.returns != "data":
                    yield pytest.param(
                        slug, fmt, operation, id=f"{slug}{'-' + fmt if fmt else ''}-{operation.name}"
                    )


@pytest.mark.parametrize(("slug", "fmt", "operation"), list(_status_cases()))
def test_an_error_status_gives_the_error_it_says_whatever_the_body(env, slug, fmt, operation):
    target = operation.targets[0]
    keys = vocabulary(env, slug)
    error_bodies = st.one_of(
        st.binary(max_size=200),
        json_values(keys).map(dump),
        st.fixed_dictionaries({"error": json_values(keys)}).map(dump),
        st.fixed_dictionaries({"responseStatus": json_values(keys)}).map(dump),
        arbitrary_xml(["Detail-Response", "error", "data"]),
    )

    @FUZZ
    @given(status=st.sampled_from(STATUSES), body=error_bodies)
    def check(status, body):
        # A long Retry-After: the clients that wait out a 429 give up at once instead of sleeping.
        answer = Answer(body, status, "application/json", {"Retry-After": "3600"})
        outcome = drive(env, slug, fmt, operation, target, answer)
        if isinstance(outcome, VendorError):
            assert type(outcome) is expected_error(status) or (
                status == 404 and isinstance(outcome, RequestRefused)
            ), f"{type(outcome).__name__} for a {status} answer"
            assert not isinstance(outcome, VendorTimeout)
        else:
            # Only where the client documents a refusal it can live without (Thingsee: a group deleted
            # meanwhile; TrackGPS: a server without drivers).
            assert (slug, target) in {
                ("thingsee", "GET /groups/{id}/things"),
                ("trackgps", "/api/get_user_drivers"),
            } or not outcome, f"{slug} {operation.name} succeeded on a {status}"

    check()


# -- a word where a temperature belongs is never a temperature -------------------------------------

# Strings float() cannot read whatever their spacing (no decimal digit at all), or that read as NaN/inf.
words = st.one_of(
    st.text(st.characters(exclude_categories=("Nd", "Cs", "Cc")), max_size=12),
    st.sampled_from(
        [
            "NaN",
            "nan",
            "-nan",
            "Infinity",
            "-Infinity",
            "inf",
            "+inf",
            "ERR",
            "Sensor Error",
            "--",
            "-",
            "- °C",
        ]
    ),
)


def _measurement_paths(slug: str, tree) -> list[tuple]:
    """Where the recorded history answer of a vendor carries measurement values."""
    paths = []
    for path in _nodes(tree):
        if not path:
            continue
        last = path[-1]
        if slug == "thermotrack" and last in ("Measure", "MeasureHum"):
            paths.append(path)
        elif slug == "tandd" and isinstance(last, str) and last.startswith("ch") and last[2:].isdigit():
            paths.append(path)
        elif slug == "trackunit" and last in ("temperature1", "temperature2"):
            paths.append(path)
        elif slug == "thingsee" and last in ("temp", "humd"):
            paths.append(path)
        elif slug == "trackgps" and last == "value" and "sensors_data" in path:
            paths.append(path)
    return paths


def _history_cases():
    for slug, operations in OPERATIONS.items():
        for fmt in FORMATS.get(slug, ("",)):
            for operation in operations:
                if operation.name.startswith("history"):
                    label = f"{slug}{'-' + fmt if fmt else ''}{operation.name.removeprefix('history')}"
                    yield pytest.param(slug, fmt, operation, id=label)


@pytest.mark.parametrize(("slug", "fmt", "operation"), list(_history_cases()))
def test_a_word_where_a_measurement_belongs_is_never_a_value(env, slug, fmt, operation):
    target = operation.targets[0]
    body = recorded_body(env, slug, fmt, target)
    if fmt == "xml":
        root = ET.fromstring(_trim_xml(body))  # noqa: S314 - our own recorded simulator answer
        slots = [e for e in root.iter() if e.tag in ("Measure", "MeasureHum") and (e.text or "").strip()]
        count = len(slots)
    else:
        payload = _trim_json(json.loads(body))
        paths = [p for p in _measurement_paths(slug, payload) if _get(payload, p) is not None]
        count = len(paths)
    assert count, f"the recorded {slug} history holds no measurement"

    @FUZZ
    @given(replacement=st.lists(words, min_size=count, max_size=count))
    def check(replacement):
        if fmt == "xml":
            for element, word in zip(slots, replacement, strict=True):
                element.text = word
            answer = _xml_bytes(root)
        else:
            tree = copy.deepcopy(payload)
            for path, word in zip(paths, replacement, strict=True):
                _set(tree, path, word)
            answer = dump(tree)
        outcome = drive(env, slug, fmt, operation, target, Answer(answer))
        assert not isinstance(outcome, VendorError), outcome
        readings = [r for r in outcome if isinstance(r, ReadingRecord)]
        if slug == "trackgps" and all(gpswox_measurement(word) is None for word in replacement):
            assert not readings  # GPSWOX's "no value" ("-", "- unit") is no reading at all
            return
        assert readings, "the history lost its readings"
        for reading in readings:
            assert reading.value is None, f"{reading} from a word"

    check()


# == XML attacks: Thermotrack refuses them, fast, and nothing of the file leaks =========================

PASSWD = Path("/etc/passwd")
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Detail-Response><data><Equipment><IDEquipment>1</IDEquipment>
<EquipmentName>&lol9;</EquipmentName></Equipment></data></Detail-Response>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE Detail-Response [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Detail-Response><TotalRecord>1</TotalRecord><data><Equipment><IDEquipment>1</IDEquipment>
<EquipmentName>&xxe;</EquipmentName></Equipment><Record><DateTime>2026-11-19 12:00:00</DateTime>
<Measure>&xxe;</Measure></Record></data><error>&xxe;</error></Detail-Response>"""
EXTERNAL_PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE Detail-Response [<!ENTITY % xxe SYSTEM "file:///etc/passwd"> %xxe;]>
<Detail-Response><data/></Detail-Response>"""
_HUGE = b"A" * 100_000
QUADRATIC_BLOWUP = (
    b'<?xml version="1.0"?>\n<!DOCTYPE Detail-Response [<!ENTITY a "' + _HUGE + b'">]>\n'
    b"<Detail-Response><TotalRecord>1</TotalRecord><data><Equipment><IDEquipment>1</IDEquipment>"
    b"<EquipmentName>" + b"&a;" * 50_000 + b"</EquipmentName></Equipment></data></Detail-Response>"
)
ATTACKS = {
    "billion-laughs": BILLION_LAUGHS,
    "external-entity": EXTERNAL_ENTITY,
    "external-parameter-entity": EXTERNAL_PARAMETER_ENTITY,
    "quadratic-blowup": QUADRATIC_BLOWUP,
}


def _passwd_lines() -> list[str]:
    try:
        return [line for line in PASSWD.read_text().splitlines() if len(line) > 8]
    except OSError:
        return ["root:x:0:0:"]


def _leaks(text: str) -> bool:
    return any(line in text for line in _passwd_lines()) or "root:x:0:0" in text


@pytest.mark.parametrize("attack", list(ATTACKS))
@pytest.mark.parametrize(
    ("operation", "target"),
    [
        pytest.param(OPERATIONS["thermotrack"][0], "equip_list", id="equip_list"),
        pytest.param(OPERATIONS["thermotrack"][0], "equip_data_with_localization", id="discovery"),
        pytest.param(OPERATIONS["thermotrack"][1], "equip_data_schedule_with_localization", id="history"),
    ],
)
@pytest.mark.parametrize("status", [200, 400])
def test_thermotrack_refuses_xml_attacks_quickly_and_leaks_nothing(
    env, caplog, attack, operation, target, status
):
    caplog.set_level("DEBUG")
    started = time.monotonic()
    outcome = drive(
        env, "thermotrack", "xml", operation, target, Answer(ATTACKS[attack], status, "application/xml")
    )
    elapsed = time.monotonic() - started
    assert isinstance(outcome, ParseError if status == 200 else RequestRefused), outcome
    assert elapsed < 2.0, f"{attack} took {elapsed:.1f} s"
    assert not _leaks(str(outcome)) and not _leaks(repr(outcome.message))
    assert not _leaks(caplog.text)


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_thermotrack_refuses_xml_attacks_even_in_a_json_account(env, attack):
    """An XML answer where JSON was asked for is unreadable, never parsed as XML with its DTD."""
    operation = OPERATIONS["thermotrack"][0]
    outcome = drive(
        env, "thermotrack", "json", operation, "equip_list", Answer(ATTACKS[attack], 200, "application/xml")
    )
    assert isinstance(outcome, ParseError), outcome
    assert not _leaks(str(outcome))


# == regressions: what the fuzzer found, pinned so every run checks them ===================================

BIG = 10**400  # an integer JSON number past the float range: float() raises OverflowError


def _huge_values(tree):
    """Every number and numeric string of the answer replaced by an integer past the float range."""
    if isinstance(tree, dict):
        return {k: _huge_values(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_huge_values(v) for v in tree]
    if isinstance(tree, bool) or tree is None:
        return tree
    if isinstance(tree, int | float) or (
        isinstance(tree, str) and tree.replace(".", "", 1).lstrip("-").isdigit()
    ):
        return BIG
    return tree


def _year_one(tree):
    """Every time of the answer moved to 0001-01-01 (whose UTC instant may fall before year 1)."""
    if isinstance(tree, dict):
        return {k: _year_one(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_year_one(v) for v in tree]
    if isinstance(tree, str) and len(tree) >= 16 and tree[4] == "-" and tree[:4].isdigit():
        return "0001-01-01" + tree[10:]
    return tree


def _lists_as_numbers(tree):
    """Every list of objects replaced by a number, every string by a list."""
    if isinstance(tree, dict):
        return {k: _lists_as_numbers(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return 1.5 if tree and all(isinstance(v, dict) for v in tree) else tree
    return tree


def _strings_as_lists(tree):
    if isinstance(tree, dict):
        return {k: _strings_as_lists(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_strings_as_lists(v) for v in tree]
    return [tree] if isinstance(tree, str) else tree


def _unprintable_strings(tree):
    if isinstance(tree, dict):
        return {k: _unprintable_strings(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_unprintable_strings(v) for v in tree]
    return tree + "\ud800\u0100\n" if isinstance(tree, str) else tree


CHANGES = (_huge_values, _year_one, _lists_as_numbers, _strings_as_lists, _unprintable_strings)


def _regression_cases():
    for slug, operations in OPERATIONS.items():
        for operation in operations:
            if operation.returns == "data":
                continue
            for target in operation.targets:
                for change in CHANGES:
                    fmt = FORMATS.get(slug, ("",))[0]
                    label = f"{slug}-{target}-{change.__name__}"
                    yield pytest.param(slug, fmt, operation, target, change, id=label)


@pytest.mark.parametrize(("slug", "fmt", "operation", "target", "change"), list(_regression_cases()))
def test_a_systematically_damaged_answer_gives_records_or_our_own_error(
    env, slug, fmt, operation, target, change
):
    """Huge integers, year-1 times, arrays become numbers, strings become arrays, unprintable strings:
    each bug of this kind the fuzzer found, checked on every endpoint every run."""
    payload = _trim_json(json.loads(recorded_body(env, slug, fmt, target)))
    outcome = drive(env, slug, fmt, operation, target, Answer(dump(change(payload))))
    expect_ok_status_error(outcome, target)


def test_deeply_nested_json_is_a_parse_error(env):
    operation = OPERATIONS["trackunit"][0]
    outcome = drive(env, "trackunit", "", operation, "/Unit", Answer(b"[" * 100_000))
    assert isinstance(outcome, ParseError), outcome


def test_thingsee_readings_never_depend_on_the_order_of_an_answer(env):
    """docs/vendors.md [A]: the order of ``/messages`` is not documented (the simulator answers newest first).
    Any order of the same answer gives the same readings, in the same order."""
    operation = OPERATIONS["thingsee"][1]
    target = "GET /things/{id}/messages"
    body = json.loads(recorded_body(env, "thingsee", "", target))
    messages = body["data"][:MAX_LIST]
    # A battery message at the second of an environment message, as the vendor sends them.
    messages.append({"tsmId": 1110, "tsmEv": 10, "tsmTs": messages[0]["tsmTs"], "batl": 88})
    body = {"data": messages}
    reference = drive(env, "thingsee", "", operation, target, Answer(dump(body)))
    assert [r for r in reference if isinstance(r, ReadingRecord)]

    @FUZZ
    @given(order=st.permutations(messages))
    def check(order):
        outcome = drive(env, "thingsee", "", operation, target, Answer(dump({"data": order})))
        assert outcome == reference

    check()
