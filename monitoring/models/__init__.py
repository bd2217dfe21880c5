"""Monitoring models, one module per topic."""

from monitoring.models.devices import (
    Channel,
    DataGap,
    DeploymentGroup,
    Device,
    InstallationEvent,
    Position,
    Reading,
    ReadingRollup,
    VendorAlert,
)
from monitoring.models.excursions import AlarmProfile, AlarmRule, Excursion, ExcursionSignature

__all__ = [
    "AlarmProfile",
    "AlarmRule",
    "Channel",
    "DataGap",
    "DeploymentGroup",
    "Device",
    "Excursion",
    "ExcursionSignature",
    "InstallationEvent",
    "Position",
    "Reading",
    "ReadingRollup",
    "VendorAlert",
]
