"""The vendor clients, one per vendor, behind the contract of ``base.VendorClient``.

``CLIENTS`` maps a vendor slug (also ``VendorAccount.vendor`` and the file name) to its client class.
"""

from __future__ import annotations

from importlib import import_module

from .base import VendorClient

_CLASSES = {
    "thermotrack": "vendors.clients.thermotrack:ThermotrackClient",
    "tandd": "vendors.clients.tandd:TandDClient",
    "trackunit": "vendors.clients.trackunit:TrackunitClient",
    "thingsee": "vendors.clients.thingsee:ThingseeClient",
    "trackgps": "vendors.clients.trackgps:TrackGPSClient",
}
SLUGS = tuple(_CLASSES)


def client_class(slug: str) -> type[VendorClient]:
    if slug not in _CLASSES:
        raise KeyError(f"unknown vendor {slug!r}; known: {', '.join(SLUGS)}")
    module, name = _CLASSES[slug].split(":")
    return getattr(import_module(module), name)
