"""The simulated world behind every vendor simulator: devices and their signals.

Everything here is a pure function of the seed, the device and the time, so two simulators started with
the same seed hold exactly the same data, and a test can ask for "the truth" of any period without the
simulator having stored anything. Data exists from ``WORLD_START`` up to the world's clock ("now"), so a
running demo sees new readings at every sync.

The world knows nothing of HTTP or of any vendor's format; each vendor simulator picks its devices with
``SimDevice`` and renders what this module computes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

# No simulated logger recorded anything before this instant.
WORLD_START = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp())

# Written in place of a value where the sensor failed; each vendor renders it its own way.
SENSOR_ERROR = "SENSOR_ERROR"

# Real cities (lat, lon), for reefer trucks' routes.
CITIES: dict[str, tuple[float, float]] = {
    "Amsterdam": (52.3676, 4.9041),
    "Antwerp": (51.2194, 4.4025),
    "Berlin": (52.5200, 13.4050),
    "Brussels": (50.8503, 4.3517),
    "Copenhagen": (55.6761, 12.5683),
    "Frankfurt": (50.1109, 8.6821),
    "Hamburg": (53.5511, 9.9937),
    "Lille": (50.6292, 3.0573),
    "Lyon": (45.7640, 4.8357),
    "Milan": (45.4642, 9.1900),
    "Munich": (48.1351, 11.5820),
    "Paris": (48.8566, 2.3522),
    "Prague": (50.0755, 14.4378),
    "Vienna": (48.2082, 16.3738),
    "Warsaw": (52.2297, 21.0122),
    "Jakarta": (-6.2088, 106.8456),
    "Bandung": (-6.9175, 107.6191),
    "Cirebon": (-6.7320, 108.5523),
    "Semarang": (-6.9667, 110.4167),
    "Helsinki": (60.1699, 24.9384),
    "Tampere": (61.4978, 23.7610),
    "Oulu": (65.0121, 25.4651),
}

# Behaviours a device can have (``SimDevice.traits``).
DOOR_OPENINGS = "door_openings"  # a short spike every few hours (and at every truck stop)
COMPRESSOR_FAILURE = "compressor_failure"  # every few days a real excursion of about three hours
GOES_SILENT = "goes_silent"  # every day a few hours without any reading
SENSOR_ERRORS = "sensor_errors"  # now and then the sensor reports an error instead of a value
LOW_BATTERY = "low_battery"  # the battery is nearly flat

# Timing of the traits (seconds). A compressor failure ramps up for an hour, stays warm for two hours and
# recovers in an hour; a door opening lasts three minutes; a silent logger is silent five hours a day.
DOOR_PERIOD = 4 * 3600
DOOR_LENGTH = 180
FAILURE_PERIOD = 3 * 86400
FAILURE_RAMP = 3600
FAILURE_HOLD = 2 * 3600
SILENT_PERIOD = 86400
SILENT_LENGTH = 5 * 3600
SENSOR_ERROR_EVERY = 97  # about one reading in this many is an error, on devices with SENSOR_ERRORS

# The demo's scene (``World(scene_at=...)``): a few realistic excursions around the moment the demo
# starts, so that within minutes its pages show what they are for. (device name, what happens, from, to)
# in seconds from that moment. A door left open: the fridge warms towards 7 °C above its level and
# cools back once closed; a compressor failure: 9 °C warmer within 20 minutes, until repaired; a logger
# gone silent: no reading at all (two hours of silence open a no-data excursion).
DOOR_LEFT_OPEN = "door_left_open"
DEMO_SCENE: tuple[tuple[str, str, int, int], ...] = (
    ("Kitchen fridge", DOOR_LEFT_OPEN, -30 * 60, 6 * 60),
    ("Vaccine fridge - Pharmacy", COMPRESSOR_FAILURE, -50 * 60, 40 * 60),
    ("Dry store room", GOES_SILENT, -130 * 60, 12 * 60),
    ("Blood bank fridge (1-minute logger)", DOOR_LEFT_OPEN, 3 * 60, 25 * 60),
)

TRUCK_SPEED_KMH = 72.0
TRUCK_STOP = 3600  # a truck stands this long at each city on its route

# Base level, amplitude of slow variation, period of slow variation (s) and noise, per profile.
PROFILES: dict[str, dict[str, tuple[float, float, float, float]]] = {
    "fridge": {"temperature": (5.0, 0.9, 6 * 3600, 0.15), "humidity": (55.0, 6.0, 6 * 3600, 1.0)},
    "freezer": {"temperature": (-20.0, 1.2, 8 * 3600, 0.2), "humidity": (70.0, 5.0, 8 * 3600, 1.0)},
    "ambient": {"temperature": (20.0, 1.8, 86400, 0.2), "humidity": (45.0, 8.0, 86400, 1.5)},
    "reefer": {"temperature": (4.5, 0.8, 5 * 3600, 0.2), "humidity": (82.0, 5.0, 5 * 3600, 1.5)},
}
# The same for channels of other quantities, by unit (a loop-powered transmitter, a CO2 sensor...).
UNIT_SIGNALS: dict[str, tuple[float, float, float, float]] = {
    "V": (2.4, 0.9, 6 * 3600, 0.05),
    "mA": (12.0, 3.0, 6 * 3600, 0.1),
    "ppm": (650.0, 180.0, 86400, 15.0),
}


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


def stable_hash(*parts: object) -> int:
    """A hash that is the same in every process (unlike ``hash()`` of a string)."""
    h = 0
    for part in parts:
        for byte in str(part).encode():
            h = _splitmix64(h ^ byte)
        h = _splitmix64(h ^ 0xFF)
    return h


@lru_cache(maxsize=4096)
def _stem(*parts: object) -> int:
    return stable_hash(*parts)


def tick_hash(t: int, *parts: object) -> int:
    """``stable_hash`` of parts and a time, fast: the parts' hash is computed once and cached."""
    return _splitmix64(_stem(*parts) ^ (t & 0xFFFFFFFFFFFFFFFF))


def unit_noise(*parts: object) -> float:
    """A deterministic number in [-1, 1) for the given parts."""
    return stable_hash(*parts) / 2**63 - 1.0


def tick_noise(t: int, *parts: object) -> float:
    """``unit_noise`` for a time and fixed parts, fast (for per-reading noise)."""
    return tick_hash(t, *parts) / 2**63 - 1.0


@dataclass(frozen=True)
class SimChannel:
    name: str  # the vendor's own channel name, e.g. "Measure", "ch1", "temperature1", "temp"
    quantity: str  # "temperature", "humidity" or "other" (then ``unit`` is a key of UNIT_SIGNALS)
    unit: str = "C"  # "C", "%RH", or e.g. "V"


@dataclass(frozen=True)
class SimDevice:
    vendor_id: str  # the vendor's own id, as a string
    name: str
    kind: str  # "fixed" or "vehicle"
    profile: str  # a key of PROFILES
    interval: int  # seconds between readings
    channels: tuple[SimChannel, ...]
    group: str | None = None
    traits: frozenset[str] = frozenset()
    route: tuple[str, ...] = ()  # city names, driven in a loop (vehicles)
    extra: dict = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class TruthReading:
    device_id: str
    channel: str
    timestamp: datetime  # UTC
    value: float | None  # None when ``error`` holds the sensor error
    error: str = ""


@dataclass(frozen=True)
class TruthPosition:
    device_id: str
    timestamp: datetime  # UTC
    latitude: float
    longitude: float
    speed_kmh: float


def utc(epoch: int | float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


@lru_cache(maxsize=256)
def _route_legs(cities: tuple[str, ...]) -> list[tuple[str, str, int]]:
    legs = []
    for i, a in enumerate(cities):
        b = cities[(i + 1) % len(cities)]
        km = haversine_km(CITIES[a], CITIES[b]) * 1.25  # roads are longer than great circles
        legs.append((a, b, int(km / TRUCK_SPEED_KMH * 3600)))
    return legs


class World:
    """Deterministic signals for every simulated device, from a seed and a clock.

    ``clock`` returns the current time as epoch seconds; tests pass a fixed one so that the data is the
    same at every run, the demo passes ``time.time`` so that the data grows.
    """

    def __init__(self, seed: int = 1, clock: Callable[[], float] = time.time, scene_at: int | None = None):
        self.seed = seed
        self.clock = clock
        self.scene_at = scene_at  # the demo's start: DEMO_SCENE happens around it (None: no scene)

    def scene(self, device: SimDevice, what: str) -> list[tuple[int, int]]:
        """The demo scene's windows (start, end) of this happening to this device."""
        if self.scene_at is None:
            return []
        return [
            (self.scene_at + begin, self.scene_at + end)
            for name, happening, begin, end in DEMO_SCENE
            if name == device.name and happening == what
        ]

    def scene_excess(self, device: SimDevice, t: int) -> float:
        """Degrees the demo scene adds at time t: a door left open, a compressor failure."""
        extra = 0.0
        for begin, end in self.scene(device, DOOR_LEFT_OPEN):
            if begin <= t:
                at_close = 7.0 * (1 - math.exp(-(min(t, end) - begin) / 240))
                extra += at_close if t <= end else at_close * math.exp(-(t - end) / 300)
        for begin, end in self.scene(device, COMPRESSOR_FAILURE):
            if begin <= t <= end:
                extra += 9.0 * min(1.0, (t - begin) / 1200)
            elif end < t < end + 1200:
                extra += 9.0 * (1 - (t - end) / 1200)
        return extra

    def now(self) -> int:
        return int(self.clock())

    # -- time grid -------------------------------------------------------------------------------

    def phase(self, device: SimDevice, what: str, period: int) -> int:
        """Where in its period a device's recurring event sits, from the seed."""
        return _stem(self.seed, device.vendor_id, what) % period

    def offset(self, device: SimDevice) -> int:
        """Each logger ticks at its own second within its interval."""
        return _stem(self.seed, device.vendor_id, "offset") % device.interval

    def reading_times(self, device: SimDevice, start: int, end: int) -> Iterator[int]:
        """Epoch seconds of the readings with start <= t <= end (and t <= now), oldest first.

        Times when the logger was silent are left out.
        """
        start = max(start, WORLD_START)
        end = min(end, self.now())
        step = device.interval
        off = self.offset(device)
        first = start - ((start - off) % step)
        if first < start:
            first += step
        for t in range(first, end + 1, step):
            if not self.is_silent(device, t):
                yield t

    def is_silent(self, device: SimDevice, t: int) -> bool:
        if any(begin <= t < end for begin, end in self.scene(device, GOES_SILENT)):
            return True
        if GOES_SILENT not in device.traits:
            return False
        return (t + self.phase(device, "silent", SILENT_PERIOD)) % SILENT_PERIOD < SILENT_LENGTH

    def silent_windows(self, device: SimDevice, start: int, end: int) -> list[tuple[int, int]]:
        """The silent periods (start, end) that overlap [start, end]."""
        if GOES_SILENT not in device.traits:
            return []
        phase = self.phase(device, "silent", SILENT_PERIOD)
        windows = []
        k = (start + phase) // SILENT_PERIOD - 1
        while True:
            w_start = k * SILENT_PERIOD - phase
            if w_start > end:
                break
            w_end = w_start + SILENT_LENGTH
            if w_end >= start:
                windows.append((w_start, w_end))
            k += 1
        return windows

    # -- signals ---------------------------------------------------------------------------------

    def value(self, device: SimDevice, channel: SimChannel, t: int) -> float | str:
        """The value a channel reads at time t (rounded to 0.1), or SENSOR_ERROR."""
        if SENSOR_ERRORS in device.traits and channel.quantity == "temperature":
            if tick_hash(t, self.seed, device.vendor_id, "err") % SENSOR_ERROR_EVERY == 0:
                return SENSOR_ERROR
        if channel.quantity in ("temperature", "humidity"):
            level, amplitude, period, noise = PROFILES[device.profile][channel.quantity]
        else:
            level, amplitude, period, noise = UNIT_SIGNALS[channel.unit]
        phase = self.phase(device, channel.name, int(period))
        v = level + amplitude * math.sin(2 * math.pi * (t + phase) / period)
        v += noise * tick_noise(t, self.seed, device.vendor_id, channel.name)
        if channel.quantity == "temperature":
            v += self.disturbance(device, t)
        elif channel.quantity == "humidity":
            v -= 2.0 * self.disturbance(device, t)  # warm air in, relative humidity down
            v = min(max(v, 0.0), 100.0)
        return round(v, 1)

    def disturbance(self, device: SimDevice, t: int) -> float:
        """Degrees added by door openings and compressor failures at time t."""
        extra = self.scene_excess(device, t)
        if COMPRESSOR_FAILURE in device.traits:
            extra += self.failure_excess(device, t)
        if DOOR_OPENINGS in device.traits:
            since = (t + self.phase(device, "door", DOOR_PERIOD)) % DOOR_PERIOD
            if since < DOOR_LENGTH:
                extra += 4.5 * math.sin(math.pi * since / DOOR_LENGTH) + 0.5
        if device.kind == "vehicle" and device.route:
            leg = self.route_state(device, t)
            if leg["stopped"] and leg["stopped_for"] < 2 * DOOR_LENGTH:
                extra += 3.0 * math.sin(math.pi * leg["stopped_for"] / (2 * DOOR_LENGTH))
        return extra

    def failure_excess(self, device: SimDevice, t: int) -> float:
        since = (t + self.phase(device, "failure", FAILURE_PERIOD)) % FAILURE_PERIOD
        peak = 9.0
        if since < FAILURE_RAMP:
            return peak * since / FAILURE_RAMP
        if since < FAILURE_RAMP + FAILURE_HOLD:
            return peak
        if since < 2 * FAILURE_RAMP + FAILURE_HOLD:
            return peak * (1 - (since - FAILURE_RAMP - FAILURE_HOLD) / FAILURE_RAMP)
        return 0.0

    def failure_windows(self, device: SimDevice, start: int, end: int) -> list[tuple[int, int]]:
        """The compressor failures (start, end) that overlap [start, end]."""
        if COMPRESSOR_FAILURE not in device.traits:
            return []
        phase = self.phase(device, "failure", FAILURE_PERIOD)
        length = 2 * FAILURE_RAMP + FAILURE_HOLD
        out = []
        k = (start + phase) // FAILURE_PERIOD - 1
        while True:
            f_start = k * FAILURE_PERIOD - phase
            if f_start > end:
                break
            if f_start + length >= start:
                out.append((f_start, f_start + length))
            k += 1
        return out

    def battery(self, device: SimDevice, t: int) -> float:
        """Battery level in percent: slowly draining, recharged every 90 days."""
        if LOW_BATTERY in device.traits:
            return 7.0
        age = (t + self.phase(device, "battery", 90 * 86400)) % (90 * 86400)
        return round(100.0 - 60.0 * age / (90 * 86400), 0)

    def readings(self, device: SimDevice, start: int, end: int) -> list[TruthReading]:
        """Every reading of every channel with start <= t <= end, oldest first."""
        out = []
        for t in self.reading_times(device, start, end):
            ts = utc(t)
            for channel in device.channels:
                v = self.value(device, channel, t)
                if v == SENSOR_ERROR:
                    out.append(TruthReading(device.vendor_id, channel.name, ts, None, SENSOR_ERROR))
                else:
                    out.append(TruthReading(device.vendor_id, channel.name, ts, float(v)))
        return out

    # -- vehicles --------------------------------------------------------------------------------

    def route_legs(self, device: SimDevice) -> list[tuple[str, str, int]]:
        """(from, to, driving seconds) for each leg of the route loop."""
        return _route_legs(device.route)

    def route_state(self, device: SimDevice, t: int) -> dict:
        legs = self.route_legs(device)
        cycle = sum(d + TRUCK_STOP for _, _, d in legs)
        pos = (t + self.phase(device, "route", cycle)) % cycle
        for a, b, driving in legs:
            if pos < TRUCK_STOP:
                lat, lon = CITIES[a]
                return {"lat": lat, "lon": lon, "speed": 0.0, "stopped": True, "stopped_for": pos, "city": a}
            pos -= TRUCK_STOP
            if pos < driving:
                f = pos / driving
                (lat1, lon1), (lat2, lon2) = CITIES[a], CITIES[b]
                # A gentle sideways wiggle so the track looks like a road, not a ruler line.
                wiggle = 0.08 * math.sin(f * math.pi * 6) * math.sin(f * math.pi)
                lat = lat1 + (lat2 - lat1) * f + wiggle * (lon2 - lon1) / 10
                lon = lon1 + (lon2 - lon1) * f - wiggle * (lat2 - lat1) / 10
                speed = TRUCK_SPEED_KMH + 12 * tick_noise(t, self.seed, device.vendor_id, "speed")
                return {
                    "lat": lat,
                    "lon": lon,
                    "speed": speed,
                    "stopped": False,
                    "stopped_for": 0,
                    "city": None,
                }
            pos -= driving
        raise AssertionError("unreachable: pos is within the cycle")

    def position(self, device: SimDevice, t: int) -> TruthPosition:
        state = self.route_state(device, t)
        return TruthPosition(
            device.vendor_id, utc(t), round(state["lat"], 6), round(state["lon"], 6), round(state["speed"], 1)
        )

    def positions(self, device: SimDevice, start: int, end: int) -> list[TruthPosition]:
        if device.kind != "vehicle" or not device.route:
            return []
        return [self.position(device, t) for t in self.reading_times(device, start, end)]
