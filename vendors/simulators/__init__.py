"""Faithful simulators of the five vendor APIs (for the demo and the tests).

``SIMULATORS`` maps a vendor slug to its simulator class, in the same slugs as the client registry.
"""

from __future__ import annotations

from importlib import import_module

from .base import VendorSimulator
from .faults import Faults
from .server import SimulatorServer
from .world import World

_CLASSES = {
    "thermotrack": "vendors.simulators.thermotrack:ThermotrackSimulator",
    "tandd": "vendors.simulators.tandd:TandDSimulator",
    "trackunit": "vendors.simulators.trackunit:TrackunitSimulator",
    "thingsee": "vendors.simulators.thingsee:ThingseeSimulator",
    "trackgps": "vendors.simulators.trackgps:TrackGPSSimulator",
}
SLUGS = tuple(_CLASSES)


def simulator_class(slug: str) -> type[VendorSimulator]:
    module, name = _CLASSES[slug].split(":")
    return getattr(import_module(module), name)


def build_simulators(
    slugs: list[str] | tuple[str, ...] = SLUGS,
    world: World | None = None,
    faults: str | None = None,
    devices_per_vendor: int = 0,
) -> list[VendorSimulator]:
    """One simulator per slug, sharing one world; ``faults`` as ``Faults.parse`` reads it.

    ``devices_per_vendor`` (for load tests) copies each vendor's devices until it has at least that many.
    """
    world = world or World()
    simulators = []
    for slug in slugs:
        cls = simulator_class(slug)
        copies = 1
        if devices_per_vendor:
            base = len(cls(world=world).devices)
            copies = max(1, -(-devices_per_vendor // base))
        simulators.append(cls(world=world, faults=Faults.parse(faults), copies=copies))
    return simulators


__all__ = [
    "SLUGS",
    "Faults",
    "SimulatorServer",
    "VendorSimulator",
    "World",
    "build_simulators",
    "simulator_class",
]
