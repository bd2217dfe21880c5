"""Monitoring models, one module per topic."""

from monitoring.models.archive import ArchivedMonth, MonthPartition
from monitoring.models.audit import AuditRecord
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
from monitoring.models.excursions import (
    AlarmProfile,
    AlarmRule,
    Excursion,
    ExcursionNote,
    ExcursionSignature,
)
from monitoring.models.notifications import ReportSubscription, SentNotification
from monitoring.models.reports import ExcursionReportFile
from monitoring.models.rule_versions import AlarmRuleVersion

__all__ = [
    "AlarmProfile",
    "AlarmRule",
    "AlarmRuleVersion",
    "ArchivedMonth",
    "AuditRecord",
    "Channel",
    "DataGap",
    "DeploymentGroup",
    "Device",
    "Excursion",
    "ExcursionReportFile",
    "ExcursionNote",
    "ExcursionSignature",
    "InstallationEvent",
    "MonthPartition",
    "Position",
    "Reading",
    "ReadingRollup",
    "ReportSubscription",
    "SentNotification",
    "VendorAlert",
]
