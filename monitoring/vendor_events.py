"""What a vendor's event code means, in words: "ByZoneEnter", "zone_in" and "Zone in (Tampere)" are all a
zone entered.

The vendors name their events freely (Trackunit's alarm rules "ByTemperature", "ByZoneEnter"; TrackGPS's
event types "overspeed", "stop_duration", or "custom" with the rule's name as the message; Thingsee's
"temperature high", "heartbeat missed"). The pages show a kind in words instead, and the kind says whether
an event is about the product (a temperature, a silent logger: acknowledged one by one, a temperature one
together with the excursion it matches) or about the vehicle (a zone, a speed, a stop, a battery:
acknowledgeable in bulk).
"""

from __future__ import annotations

import re

from django.db import models


class EventKind(models.TextChoices):
    TEMPERATURE = "temperature", "Temperature alarm"
    NO_DATA = "no_data", "Logger silent"
    BATTERY = "battery", "Low battery"
    ZONE = "zone", "Zone entered"
    SPEED = "speed", "Overspeed"
    STOP = "stop", "Long stop"
    OTHER = "other", "Other event"


# Plural words for a count: "52 zone entries".
PLURALS = {
    EventKind.TEMPERATURE: "temperature alarms",
    EventKind.NO_DATA: "silent-logger alarms",
    EventKind.BATTERY: "low-battery alarms",
    EventKind.ZONE: "zone entries",
    EventKind.SPEED: "overspeed events",
    EventKind.STOP: "long stops",
    EventKind.OTHER: "other events",
}

# Not about the product: a QA user may acknowledge them many at a time, with one comment.
BULK_KINDS = frozenset({EventKind.ZONE, EventKind.SPEED, EventKind.STOP, EventKind.BATTERY})

# The codes the vendors use (lower case), then words to look for in a code or message we do not know.
KNOWN_CODES = {
    "bytemperature": EventKind.TEMPERATURE,
    "temperature high": EventKind.TEMPERATURE,
    "temperature low": EventKind.TEMPERATURE,
    "bynodata": EventKind.NO_DATA,
    "heartbeat missed": EventKind.NO_DATA,
    "bybatterylevel": EventKind.BATTERY,
    "battery low": EventKind.BATTERY,
    "byzoneenter": EventKind.ZONE,
    "byzoneleave": EventKind.ZONE,
    "zone_in": EventKind.ZONE,
    "zone_out": EventKind.ZONE,
    "overspeed": EventKind.SPEED,
    "stop_duration": EventKind.STOP,
}
WORDS = [
    (re.compile(r"temp", re.I), EventKind.TEMPERATURE),
    (re.compile(r"no ?data|heartbeat|offline|silent", re.I), EventKind.NO_DATA),
    (re.compile(r"batter", re.I), EventKind.BATTERY),
    (re.compile(r"zone|geofence", re.I), EventKind.ZONE),
    (re.compile(r"speed", re.I), EventKind.SPEED),
    (re.compile(r"stop|idle", re.I), EventKind.STOP),
]


def event_kind(alert_type: str, message: str = "") -> EventKind:
    """The kind of a vendor event from its code, or from its message when the code says nothing
    (TrackGPS's "custom" events are named by their rule: "Temperature above 8")."""
    known = KNOWN_CODES.get((alert_type or "").strip().lower())
    if known:
        return known
    for text in (alert_type or "", message or ""):
        for pattern, kind in WORDS:
            if pattern.search(text):
                return kind
    return EventKind.OTHER


def may_acknowledge_in_bulk(kind: str) -> bool:
    return kind in BULK_KINDS
