"""Thingsee (Haltian) API simulator, from ``thingsee.txt`` and the Thingsee section of docs/vendors.md.

Short-lived bearer tokens (``POST /auth/client-token``, 15 minutes of real time, several live at once),
the Things API (alerts, general information, messages 12100 environment / 1110 battery, commands,
installation status) and deployment groups (create, rename, list, things of a group, delete). Groups,
group membership, installation histories and commands are mutable state held by the instance (behind a
lock, as the server is threaded), so every change is visible in later reads.

In the real shapes of Haltian's own app (docs/vendors.md [C]): ``GET /groups/{id}/things`` answers
``{"data": {"group_id", "tuids": [...]}}``; ``GET /groups`` rows carry ``deleted`` (one group was deleted
before the world starts, and a group deleted through the API stays listed as deleted); errors are
``{"statusCode", "error", "message"}``; one thing is ``retired`` (it stopped sending when it was retired).
Messages come newest first (``newest_first``; a test may switch it off to get them oldest first).

Where the documents are silent we follow docs/vendors.md [A]; our own further guesses are marked [A] here too,
each in one named constant or function.
"""

from __future__ import annotations

import json
import math
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wrappers import Request, Response

from vendors.clients.records import AlertRecord, ChannelInfo, DeviceInfo

from .base import VendorSimulator
from .faults import Faults
from .world import (
    CITIES,
    COMPRESSOR_FAILURE,
    DOOR_OPENINGS,
    GOES_SILENT,
    LOW_BATTERY,
    SENSOR_ERROR,
    SENSOR_ERRORS,
    WORLD_START,
    SimChannel,
    SimDevice,
    TruthReading,
    World,
    stable_hash,
    unit_noise,
    utc,
)

# [C] docs/vendors.md: tokens expire after 15 minutes (of real time here, not of the world's clock).
TOKEN_LIFETIME = 15 * 60

# [C] docs/vendors.md message ids and event ids.
ENVIRONMENT_MESSAGE = 12100  # temp (°C), humd (%RH), airp (Pa), lght (lux)
BATTERY_MESSAGE = 1110  # batl (%)
THRESHOLD_EVENT = 9
TIMED_EVENT = 10

# A battery message goes out with every 36th environment message: every 6 hours at a 10-minute interval.
# So a 1110 and a 12100 message share the same tsmTs, which a pager must not lose.
ENVIRONMENT_INTERVAL = 600
BATTERY_EVERY = 36

# [A] thingsee.txt does not say how a failed sensor is reported: we send this string in place of the number.
SENSOR_ERROR_VALUE = "ERROR"

# thingsee.txt: the only message ids a command may carry.
ALLOWED_COMMAND_IDS = (1500, 1501, 12200, 13200)

# thingsee.txt: the installation statuses.
INSTALLATION_STATUSES = ("new", "installed", "uninstalled", "quarantine", "retired")

# docs/vendors.md [C]: things in no group are listed under this group id, which no real group may take.
UNASSIGNED = "unassigned"

# A group deleted before the world starts: ``GET /groups`` still lists it, with ``"deleted": true``. [A] A
# deleted group still answers the tuids it held when it was deleted (none of them is in it any more): a
# client that does not skip deleted groups gets them wrong.
DELETED_GROUP = ("old-cold-store", "Old cold store, Espoo (closed)")

# The retired thing: it was installed in the deleted group, retired at this instant, and sent nothing since.
RETIRED_THING = "XXXX03X2Z74161877"
RETIRED_AT = int(datetime(2026, 11, 19, 9, 0, tzinfo=UTC).timestamp())

# [A] docs/vendors.md: Haltian's app reads ``messages?limit=50`` as the most recent ones, so a real server may
# answer newest first; the simulator does, unless a test asks for the oldest first.
NEWEST_FIRST = True

# [A] Who the vendor names as "responsible" for changes made through the API (never the client id).
API_RESPONSIBLE = "api-client"

# [A] How alert times are written: docs/vendors.md (general rule) makes zone-less timestamps wall-clock time
# in the account's time zone; an alert still going on has "to": null.
ALERT_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"

# Alert types derived from the world's traits.
ALERT_TEMPERATURE_HIGH = "temperature high"  # compressor failure windows
ALERT_HEARTBEAT_MISSED = "heartbeat missed"  # silent windows
ALERT_BATTERY_LOW = "battery low"  # a flat battery, from the world's start and still going on

# [A] tsmEv of an environment message: 9 (threshold) when the temperature is off by this much, else 10.
THRESHOLD_DEGREES = 2.0

CHANNELS = (SimChannel("temp", "temperature", "C"), SimChannel("humd", "humidity", "%RH"))


@dataclass(frozen=True)
class ThingSite:
    """Where a thing is installed, and through which gateway it talks."""

    lat: float
    lon: float
    gateway: str


class ThingseeError(Exception):
    """An error answer in Thingsee's shape, raised anywhere in ``dispatch``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def alert_time(epoch: int, zone: ZoneInfo) -> str:
    """An alert's ``from``/``to`` string: wall-clock time in the account's zone, no offset."""
    return datetime.fromtimestamp(epoch, tz=zone).strftime(ALERT_TIME_FORMAT)


def alert_time_as_utc(text: str, zone: ZoneInfo) -> datetime:
    """What a correct client reads back from ``alert_time`` (the first of two ambiguous autumn hours)."""
    return datetime.strptime(text, ALERT_TIME_FORMAT).replace(tzinfo=zone).astimezone(UTC)


class ThingseeSimulator(VendorSimulator):
    slug = "thingsee"
    timezone = "Europe/Helsinki"

    def __init__(
        self,
        world: World | None = None,
        faults: Faults | None = None,
        *,
        copies: int = 1,
        token_lifetime: float = TOKEN_LIFETIME,
        token_clock: Callable[[], float] = time.monotonic,
        newest_first: bool = NEWEST_FIRST,
    ):
        super().__init__(world=world, faults=faults, copies=copies)
        self.newest_first = newest_first
        self.message_requests: list[tuple[int, int, int, int]] = []  # (from, to, limit, answered), for tests
        self.token_lifetime = token_lifetime
        self.token_clock = token_clock
        self.zone = ZoneInfo(self.timezone)
        self.tokens_issued = 0
        self._lock = threading.RLock()
        self._tokens: dict[str, float] = {}  # token -> expiry on token_clock
        self._expired_fault_applied = False
        self.groups: dict[str, str] = {
            "pharmacy-cold-room": "Pharmacy cold room, Helsinki",
            "warehouse-a": "Warehouse A, Tampere",
            "lab-fridges": "Laboratory fridges, Oulu",
        }
        # group id -> (description, the tuids it held when it was deleted)
        self.deleted_groups: dict[str, tuple[str, list[str]]] = {
            DELETED_GROUP[0]: (
                DELETED_GROUP[1],
                [d.vendor_id for d in self.devices if d.extra.get("former_group") == DELETED_GROUP[0]],
            )
        }
        self.membership: dict[str, str | None] = {d.vendor_id: d.group for d in self.devices}
        self.installations: dict[str, list[dict]] = {
            d.vendor_id: self._initial_installations(d) for d in self.devices
        }
        self.commands: dict[str, list[dict]] = {d.vendor_id: [] for d in self.devices}

    # -- the world -------------------------------------------------------------------------------

    def build_devices(self) -> list[SimDevice]:
        helsinki = ThingSite(*CITIES["Helsinki"], gateway="XXXX00X1O73360355")
        tampere = ThingSite(*CITIES["Tampere"], gateway="XXXX00X1O73360412")
        oulu = ThingSite(*CITIES["Oulu"], gateway="XXXX00X1O73360587")

        def thing(tuid, name, profile, group, traits, site, nudge, **extra):
            return SimDevice(
                vendor_id=tuid,
                name=name,
                kind="fixed",
                profile=profile,
                interval=ENVIRONMENT_INTERVAL,
                channels=CHANNELS,
                group=group,
                traits=frozenset(traits),
                extra={"site": replace(site, lat=site.lat + nudge, lon=site.lon - nudge), **extra},
            )

        return [
            thing(
                "XXXX03X2Z74162459",
                "Cold room fridge",
                "fridge",
                "pharmacy-cold-room",
                {DOOR_OPENINGS},
                helsinki,
                0.001,
            ),
            thing("XXXX03X2Z74162947", "Freezer", "freezer", "warehouse-a", set(), tampere, 0.001),
            thing(
                "XXXX04X1N73261481", "Ambient room", "ambient", "warehouse-a", {SENSOR_ERRORS}, tampere, 0.002
            ),
            thing(
                "XXXX03X2Z74163012", "Lab fridge", "fridge", "lab-fridges", {COMPRESSOR_FAILURE}, oulu, 0.001
            ),
            thing(
                "XXXX03X2Z74163586",
                "Spare sensor",
                "fridge",
                None,
                {LOW_BATTERY, GOES_SILENT},
                helsinki,
                0.003,
            ),
            thing(
                RETIRED_THING,
                "Old freezer",
                "freezer",
                None,
                set(),
                helsinki,
                0.004,
                retired_at=RETIRED_AT,
                former_group=DELETED_GROUP[0],
            ),
        ]

    @property
    def credentials(self) -> dict[str, str]:
        seed = self.world.seed
        return {
            "client_id": f"coldchain-{stable_hash(seed, 'thingsee', 'id') % 10**8:08d}",
            "client_secret": f"{stable_hash(seed, 'thingsee', 'secret'):016x}{stable_hash(seed, 'ts2'):016x}",
        }

    def _initial_installations(self, device: SimDevice) -> list[dict]:
        """Newest first: every thing came "new" from the factory; those in a group were then installed."""
        made = WORLD_START - 60 * 86400 + stable_hash(self.world.seed, device.vendor_id, "made") % 86400
        history = [
            {
                "tuid": device.vendor_id,
                "installation_status": "new",
                "timestamp": made,
                "responsible": "factory",
            }
        ]
        if device.group or device.extra.get("former_group"):
            history.insert(
                0,
                {
                    "tuid": device.vendor_id,
                    "installation_status": "installed",
                    "timestamp": made + 30 * 86400,
                    "responsible": "installer",
                },
            )
        if device.extra.get("retired_at"):
            history.insert(
                0,
                {
                    "tuid": device.vendor_id,
                    "installation_status": "retired",
                    "timestamp": device.extra["retired_at"],
                    "responsible": "installer",
                },
            )
        return history

    def reading_times(self, device: SimDevice, start: int, end: int) -> Iterator[int]:
        """The world's reading times of a thing, up to its retirement (a retired thing sends nothing)."""
        retired_at = device.extra.get("retired_at")
        if retired_at is not None:
            end = min(end, retired_at - 1)
        return self.world.reading_times(device, start, end)

    def _battery_times(self, device: SimDevice, start: int, end: int) -> Iterator[int]:
        offset = self.world.offset(device)
        for t in self.reading_times(device, start, end):
            if (t - offset) // ENVIRONMENT_INTERVAL % BATTERY_EVERY == 0:
                yield t

    def _messages_at(self, device: SimDevice, t: int, group: str) -> Iterator[dict]:
        """The messages a thing sent at second t: 12100 always, 1110 every sixth hour (after the 12100)."""
        head = {"tsmTs": t, "tsmTuid": device.vendor_id, "tsmGw": device.extra["site"].gateway}
        values = {}
        for channel in device.channels:
            value = self.world.value(device, channel, t)
            values[channel.name] = SENSOR_ERROR_VALUE if value == SENSOR_ERROR else value
        event = THRESHOLD_EVENT if self.world.disturbance(device, t) >= THRESHOLD_DEGREES else TIMED_EVENT
        yield {
            "tsmId": ENVIRONMENT_MESSAGE,
            "tsmEv": event,
            **head,
            "deploymentGroupId": group,
            **values,
            "airp": round(101325 + 900 * unit_noise(self.world.seed, device.vendor_id, "airp", t // 3600)),
            "lght": round(abs(unit_noise(self.world.seed, device.vendor_id, "lght", t)) * 40),
        }
        offset = self.world.offset(device)
        if (t - offset) // ENVIRONMENT_INTERVAL % BATTERY_EVERY == 0:
            yield {
                "tsmId": BATTERY_MESSAGE,
                "tsmEv": TIMED_EVENT,
                **head,
                "deploymentGroupId": group,
                "batl": int(self.world.battery(device, t)),
            }

    def messages(
        self,
        device: SimDevice,
        start: int,
        end: int,
        limit: int,
        message_ids: set[int] | None = None,
        event_ids: set[int] | None = None,
    ) -> list[dict]:
        """At most ``limit`` messages with start <= tsmTs <= end: the newest ``limit``, newest first
        (``newest_first``, docs/vendors.md [A]), or the oldest ``limit``, oldest first."""
        group = self.group_of(device.vendor_id)
        times = list(self.reading_times(device, start, end))
        out: list[dict] = []
        for t in reversed(times) if self.newest_first else times:
            at_t = [
                message
                for message in self._messages_at(device, t, group)
                if (not message_ids or message["tsmId"] in message_ids)
                and (not event_ids or message["tsmEv"] in event_ids)
            ]
            for message in reversed(at_t) if self.newest_first else at_t:
                out.append(message)
                if len(out) >= limit:
                    return out
        return out

    def all_messages(self, device: SimDevice, start: int, end: int, message_ids=None) -> list[dict]:
        """Every message with start <= tsmTs <= end, oldest first (what a client reads in the end)."""
        messages = self.messages(device, start, end, 10**9, message_ids)
        return list(reversed(messages)) if self.newest_first else messages

    def alerts_of(self, device: SimDevice, start: int, end: int) -> dict[str, list[tuple[int, int | None]]]:
        """Alert windows (from, to or None while going on) overlapping [start, end], by alert type."""
        now = self.world.now()
        end = min(end, now)
        start = max(start, WORLD_START)
        found: dict[str, list[tuple[int, int | None]]] = {}
        if start > end:
            return found
        windows = {
            ALERT_TEMPERATURE_HIGH: self.world.failure_windows(device, start, end),
            ALERT_HEARTBEAT_MISSED: self.world.silent_windows(device, start, end),
        }
        if LOW_BATTERY in device.traits:
            windows[ALERT_BATTERY_LOW] = [(WORLD_START, now + 1)]
        for alert_type, spans in windows.items():
            kept = []
            for w_start, w_end in spans:
                if w_start > end or w_end < start or w_start < WORLD_START:
                    continue
                kept.append((w_start, None if w_end > now else w_end))
            if kept:
                found[alert_type] = kept
        return found

    def alerting_tuids(self) -> list[str]:
        now = self.world.now()
        return [
            d.vendor_id
            for d in self.devices
            if any(to is None for spans in self.alerts_of(d, now, now).values() for _, to in spans)
        ]

    def copy_id(self, vendor_id: str, k: int) -> str:
        """Copies of a thing get tuids of the same shape: two letters (never digits, as in the originals)
        number the copy."""
        return f"{vendor_id[:4]}{chr(65 + k // 26)}{chr(65 + k % 26)}{vendor_id[6:]}"

    def group_of(self, tuid: str) -> str:
        with self._lock:
            return self.membership.get(tuid) or UNASSIGNED

    # -- truth -----------------------------------------------------------------------------------

    def truth_readings(self, vendor_id: str, start: datetime, end: datetime) -> list[TruthReading]:
        readings = super().truth_readings(vendor_id, start, end)
        retired_at = self.device(vendor_id).extra.get("retired_at")
        if retired_at is not None:
            readings = [r for r in readings if r.timestamp.timestamp() < retired_at]
        return [replace(r, error=SENSOR_ERROR_VALUE) if r.error == SENSOR_ERROR else r for r in readings]

    def truth_alerts(self, start: datetime, end: datetime) -> list[AlertRecord]:
        out = []
        for device in self.devices:
            for alert_type, spans in self.alerts_of(
                device, int(start.timestamp()), int(end.timestamp())
            ).items():
                for w_start, w_end in spans:
                    text_from = alert_time(w_start, self.zone)
                    out.append(
                        AlertRecord(
                            vendor_alert_id=f"{device.vendor_id}:{alert_type}:{text_from}",
                            device_id=device.vendor_id,
                            alert_type=alert_type,
                            started_at=alert_time_as_utc(text_from, self.zone),
                            ended_at=None
                            if w_end is None
                            else alert_time_as_utc(alert_time(w_end, self.zone), self.zone),
                        )
                    )
        return out

    def truth_devices(self) -> list[DeviceInfo]:
        """What a client's ``devices()`` should give for the simulator's current state."""
        out = []
        for device in self.devices:
            info = self.thing_info(device)
            with self._lock:
                status = self.installations[device.vendor_id][0]["installation_status"]
                group = self.membership[device.vendor_id]
            out.append(
                DeviceInfo(
                    vendor_id=device.vendor_id,
                    name=device.vendor_id,
                    kind="fixed",
                    channels=tuple(ChannelInfo(c.name, c.quantity, c.unit) for c in device.channels),
                    group=group,
                    installation_status=status,
                    battery=float(info["battery_level"]),
                    last_seen=utc(info["timestamp"]),
                    latitude=float(info["location"]["lat"]),
                    longitude=float(info["location"]["lon"]),
                )
            )
        return out

    def thing_info(self, device: SimDevice) -> dict:
        now = min(self.world.now(), device.extra.get("retired_at", math.inf) - 1)
        recent = list(self.reading_times(device, now - 2 * 86400, now))
        last = recent[-1] if recent else now
        battery_times = list(self._battery_times(device, now - 2 * 86400, now))
        battery = self.world.battery(device, battery_times[-1] if battery_times else now)
        site = device.extra["site"]
        return {
            "battery_level": int(battery),
            "timestamp": last,
            # thingsee.txt's attribute list types lat/lon as strings (its example shows numbers).
            "location": {"lat": f"{site.lat:.6f}", "lon": f"{site.lon:.6f}"},
            "gateway_tuid": site.gateway,
            "version": "2019.11.15.2_ts_pod3wp34",
        }

    # -- HTTP ------------------------------------------------------------------------------------

    def error_response(self, status: int, message: str, request: Request) -> Response:
        """[C] Every error: the HTTP status and ``{"statusCode", "error": reason, "message"}`` (the body
        Haltian's app reads)."""
        body = {"statusCode": status, "error": HTTP_STATUS_CODES.get(status, "Error"), "message": message}
        return Response(json.dumps(body), status=status, mimetype="application/json")

    def ok(self, data) -> Response:
        return Response(json.dumps({"data": data}), status=200, mimetype="application/json")

    def dispatch(self, request: Request) -> Response:
        try:
            self._apply_credential_faults()
            parts = [p for p in request.path.split("/") if p]
            if parts == ["auth", "client-token"]:
                self._only(request, "POST")
                return self.create_token(request)
            self.authorize(request)
            if parts and parts[0] == "things":
                return self.things(request, parts[1:])
            if parts and parts[0] == "groups":
                return self.groups_api(request, parts[1:])
            raise ThingseeError(404, "Not found")
        except ThingseeError as exc:
            return self.error_response(exc.status, exc.message, request)

    # -- authentication --------------------------------------------------------------------------

    def _apply_credential_faults(self) -> None:
        """ "expired" makes every token issued so far stale, once; a token issued after that works."""
        with self._lock:
            if self.faults.credentials == "expired":
                if not self._expired_fault_applied:
                    self._tokens.clear()
                    self._expired_fault_applied = True
            else:
                self._expired_fault_applied = False

    def create_token(self, request: Request) -> Response:
        body = self._json(request)
        if not isinstance(body, dict):
            raise ThingseeError(400, "Request body must be a JSON object")
        client_id, client_secret = body.get("client_id"), body.get("client_secret")
        if (
            not isinstance(client_id, str)
            or not isinstance(client_secret, str)
            or not client_id
            or not client_secret
        ):
            raise ThingseeError(400, "client_id and client_secret are required")
        expected = self.credentials
        valid = secrets.compare_digest(client_id, expected["client_id"]) and secrets.compare_digest(
            client_secret, expected["client_secret"]
        )
        if not valid or self.faults.credentials == "revoked":
            raise ThingseeError(401, "Invalid client credentials")
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = self.token_clock()
            self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now}
            self._tokens[token] = now + self.token_lifetime
            self.tokens_issued += 1
        return self.ok({"token": token})

    def authorize(self, request: Request) -> None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ThingseeError(401, "Missing bearer token")
        if self.faults.credentials == "revoked":
            raise ThingseeError(401, "Client credentials revoked")
        with self._lock:
            expires = self._tokens.get(token.strip())
            if expires is None or expires <= self.token_clock():
                raise ThingseeError(401, "Token expired or invalid")

    # -- things ----------------------------------------------------------------------------------

    def things(self, request: Request, parts: list[str]) -> Response:
        if parts == ["alerts"]:
            self._only(request, "GET")
            return self.ok({"alerting_tuids": self.alerting_tuids()})
        if parts == ["alerts", "count"]:
            self._only(request, "GET")
            return self.ok({"alert_count": str(len(self.alerting_tuids()))})
        if not parts or len(parts) > 2:
            raise ThingseeError(404, "Not found")
        device = self.device(parts[0])
        if device is None:
            raise ThingseeError(404, f"Thing {parts[0]} not found")
        what = parts[1] if len(parts) == 2 else ""
        if what == "":
            self._only(request, "GET")
            return self.ok(self.thing_info(device))
        if what == "alerts":
            self._only(request, "GET")
            return self.thing_alerts(request, device)
        if what == "messages":
            self._only(request, "GET")
            return self.thing_messages(request, device)
        if what == "commands":
            return self.thing_commands(request, device)
        if what == "installations":
            return self.thing_installations(request, device)
        if what == "group":
            return self.thing_group(request, device)
        raise ThingseeError(404, "Not found")

    def thing_alerts(self, request: Request, device: SimDevice) -> Response:
        start = self._number(request, "from", default=0)
        end = self._number(request, "to", default=self.world.now())
        data = [
            {
                "tuid": device.vendor_id,
                "alert_type": alert_type,
                "alerts": [
                    {"from": alert_time(a, self.zone), "to": None if b is None else alert_time(b, self.zone)}
                    for a, b in spans
                ],
            }
            for alert_type, spans in self.alerts_of(device, start, end).items()
        ]
        return self.ok(data)

    def thing_messages(self, request: Request, device: SimDevice) -> Response:
        if "limit" not in request.args:
            raise ThingseeError(400, "limit is required")
        limit = self._number(request, "limit")
        if limit < 1:
            raise ThingseeError(400, "limit must be a positive number")
        start = self._number(request, "from", default=WORLD_START)
        end = self._number(request, "to", default=self.world.now())
        message_ids = self._id_list(request, "messageid")
        event_ids = self._id_list(request, "eventid")
        messages = self.messages(device, start, end, limit, message_ids, event_ids)
        with self._lock:
            self.message_requests.append((start, end, limit, len(messages)))
        return self.ok(messages)

    def thing_commands(self, request: Request, device: SimDevice) -> Response:
        tuid = device.vendor_id
        if request.method == "POST":
            body = self._json(request)
            if not isinstance(body, list) or not body:
                raise ThingseeError(400, "Request body must be a non-empty array of commands")
            now = self.world.now()
            sent = []
            for command in body:
                if (
                    not isinstance(command, dict)
                    or not _is_int(command.get("tsmId"))
                    or not _is_int(command.get("tsmEv"))
                ):
                    raise ThingseeError(400, "Every command needs a numeric tsmId and tsmEv")
                if command["tsmId"] not in ALLOWED_COMMAND_IDS:
                    allowed = ", ".join(map(str, ALLOWED_COMMAND_IDS))
                    raise ThingseeError(
                        400, f"Message id {command['tsmId']} is not allowed; allowed: {allowed}"
                    )
                sent.append({**command, "tsmTs": now, "tsmDstTuid": tuid})
            with self._lock:
                for command in sent:
                    self.commands[tuid].append(
                        {"tuid": tuid, "timestamp": now, "responsible": API_RESPONSIBLE, "command": command}
                    )
            return self.ok({"responsible": API_RESPONSIBLE, "commands": sent})
        self._only(request, "GET")
        start = self._number(request, "from", default=0)
        end = self._number(request, "to", default=math.inf)
        message_ids = self._id_list(request, "messageid")
        event_ids = self._id_list(request, "eventid")
        limit = self._number(request, "limit", default=0)
        with self._lock:
            rows = [
                row
                for row in self.commands[tuid]
                if start <= row["timestamp"] <= end
                and (not message_ids or row["command"]["tsmId"] in message_ids)
                and (not event_ids or row["command"]["tsmEv"] in event_ids)
            ]
        return self.ok(rows[:limit] if limit > 0 else rows)

    def thing_installations(self, request: Request, device: SimDevice) -> Response:
        tuid = device.vendor_id
        if request.method == "POST":
            body = self._json(request)
            status = body.get("installation_status") if isinstance(body, dict) else None
            if status not in INSTALLATION_STATUSES:
                allowed = ", ".join(INSTALLATION_STATUSES)
                raise ThingseeError(400, f"installation_status must be one of: {allowed}")
            entry = {
                "tuid": tuid,
                "installation_status": status,
                "timestamp": self.world.now(),
                "responsible": API_RESPONSIBLE,
            }
            with self._lock:
                self.installations[tuid].insert(0, entry)
            return self.ok({"tuid": tuid, "installation_status": status})
        self._only(request, "GET")
        limit = self._number(request, "limit", default=0)
        with self._lock:
            history = [dict(entry) for entry in self.installations[tuid]]
        return self.ok(history[:limit] if limit > 0 else history)

    def thing_group(self, request: Request, device: SimDevice) -> Response:
        tuid = device.vendor_id
        if request.method == "POST":
            body = self._json(request)
            group_id = body.get("group_id") if isinstance(body, dict) else None
            if not isinstance(group_id, str) or not group_id:
                raise ThingseeError(400, "group_id is required")
            with self._lock:
                # [A] Moving a thing to "unassigned" takes it out of its group; any other group must exist.
                if group_id != UNASSIGNED and group_id not in self.groups:
                    raise ThingseeError(404, f"Group {group_id} not found")
                self.membership[tuid] = None if group_id == UNASSIGNED else group_id
            return self.ok({"group_id": group_id, "tuid": tuid})
        self._only(request, "GET")
        return self.ok({"group_id": self.group_of(tuid), "tuid": tuid})

    # -- deployment groups -----------------------------------------------------------------------

    def groups_api(self, request: Request, parts: list[str]) -> Response:
        if not parts:
            if request.method == "POST":
                return self.create_group(request)
            self._only(request, "GET")
            return self.list_groups(request)
        group_id = parts[0]
        if len(parts) == 1:
            self._only(request, "DELETE")
            return self.delete_group(group_id)
        if parts[1:] == ["rename"]:
            self._only(request, "POST")
            return self.rename_group(request, group_id)
        if parts[1:] == ["things"]:
            self._only(request, "GET")
            return self.group_things(group_id)
        raise ThingseeError(404, "Not found")

    def list_groups(self, request: Request) -> Response:
        """Live and deleted groups (``deleted`` says which, [C]), by id; ``q`` searches, ``limit`` caps."""
        query = (request.args.get("q") or "").lower()
        limit = self._number(request, "limit", default=0)
        with self._lock:
            groups = [(group_id, description, False) for group_id, description in self.groups.items()]
            groups += [(group_id, held[0], True) for group_id, held in self.deleted_groups.items()]
        rows = [
            {"group_id": group_id, "group_description": description, "deleted": deleted}
            for group_id, description, deleted in sorted(groups)
            if query in group_id.lower() or query in description.lower()
        ]
        return self.ok(rows[:limit] if limit > 0 else rows)

    def create_group(self, request: Request) -> Response:
        body = self._json(request)
        if not isinstance(body, dict):
            raise ThingseeError(400, "Request body must be a JSON object")
        group_id = check_group_id(body.get("group_id"))
        description = body.get("group_description") or ""
        if not isinstance(description, str):
            raise ThingseeError(400, "group_description must be a string")
        with self._lock:
            if group_id in self.groups:
                raise ThingseeError(409, f"Group {group_id} already exists")
            self.deleted_groups.pop(group_id, None)  # [A] a deleted group's id may be taken again
            self.groups[group_id] = description
        return self.ok({"group_id": group_id, "group_description": description})

    def rename_group(self, request: Request, old: str) -> Response:
        body = self._json(request)
        new = check_group_id(body.get("group_id") if isinstance(body, dict) else None)
        with self._lock:
            if old not in self.groups:
                raise ThingseeError(404, f"Group {old} not found")
            if new != old and new in self.groups:
                raise ThingseeError(409, f"Group {new} already exists")
            self.deleted_groups.pop(new, None)
            self.groups[new] = self.groups.pop(old)
            for tuid, group in self.membership.items():
                if group == old:
                    self.membership[tuid] = new
        return self.ok({"group_id": new, "old": old, "renamed": True})

    def delete_group(self, group_id: str) -> Response:
        """[C] A deleted group stays listed with ``"deleted": true``; its things become unassigned."""
        with self._lock:
            if group_id not in self.groups:
                raise ThingseeError(404, f"Group {group_id} not found")
            held = [tuid for tuid, group in self.membership.items() if group == group_id]
            self.deleted_groups[group_id] = (self.groups.pop(group_id), held)
            for tuid in held:
                self.membership[tuid] = None
        return self.ok({"group_id": group_id, "deleted": True})

    def group_things(self, group_id: str) -> Response:
        """[C] ``{"group_id", "tuids": [...]}``; a deleted group answers what it held when deleted [A]."""
        with self._lock:
            if group_id in self.deleted_groups:
                return self.ok({"group_id": group_id, "tuids": list(self.deleted_groups[group_id][1])})
            if group_id != UNASSIGNED and group_id not in self.groups:
                raise ThingseeError(404, f"Group {group_id} not found")
            wanted = None if group_id == UNASSIGNED else group_id
            tuids = [tuid for tuid, group in self.membership.items() if group == wanted]
        return self.ok({"group_id": group_id, "tuids": tuids})

    # -- request helpers -------------------------------------------------------------------------

    def _only(self, request: Request, method: str) -> None:
        if request.method != method:
            raise ThingseeError(405, f"Method {request.method} not allowed")

    def _json(self, request: Request):
        try:
            return json.loads(request.get_data() or b"null")
        except ValueError:
            raise ThingseeError(400, "Request body is not valid JSON") from None

    def _number(self, request: Request, name: str, default: float | None = None) -> int:
        raw = request.args.get(name)
        if raw is None or raw == "":
            if default is None:
                raise ThingseeError(400, f"{name} is required")
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ThingseeError(400, f"{name} must be a number") from None
        if not math.isfinite(value):
            raise ThingseeError(400, f"{name} must be a number")
        return int(value)

    def _id_list(self, request: Request, name: str) -> set[int] | None:
        raw = request.args.get(name)
        if not raw:
            return None
        try:
            return {int(part) for part in raw.split(",") if part.strip()}
        except ValueError:
            raise ThingseeError(400, f"{name} must be a comma-separated list of numbers") from None


def check_group_id(group_id) -> str:
    """thingsee.txt: a group id must not contain whitespace and must not be named "unassigned"."""
    if not isinstance(group_id, str) or not group_id:
        raise ThingseeError(400, "group_id is required")
    if any(ch.isspace() for ch in group_id):
        raise ThingseeError(400, "group_id must not contain whitespace")
    if group_id.lower() == UNASSIGNED:
        raise ThingseeError(400, 'group_id must not be "unassigned"')
    if "/" in group_id:
        raise ThingseeError(400, 'group_id must not contain "/"')  # [A] it could not be used in a path
    return group_id


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
