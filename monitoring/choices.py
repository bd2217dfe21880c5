"""Every set of choices of the monitoring models: the stored value and the label shown (netbox's
``choices.py``). The models import them from here."""

from django.db import models


class DeviceKind(models.TextChoices):
    FIXED = "fixed", "Fixed equipment"
    VEHICLE = "vehicle", "Vehicle"
    GATEWAY = "gateway", "Gateway"


class Quantity(models.TextChoices):
    TEMPERATURE = "temperature", "Temperature"
    HUMIDITY = "humidity", "Humidity"
    # Energy, voltage, current, CO2, light, pressure...: what it is, its unit says.
    OTHER = "other", "Other quantity"


class Unit(models.TextChoices):
    """Units as the vendors spell them, with how we show them. A channel may carry a unit not listed
    here (the vendor's own spelling is kept and shown as it is): the list is for display only."""

    CELSIUS = "C", "°C"
    PERCENT_RH = "%RH", "% RH"
    KILOWATT_HOUR = "kWh", "kWh"
    WATT = "W", "W"
    VOLT = "V", "V"
    MILLIVOLT = "mV", "mV"
    MILLIAMPERE = "mA", "mA"
    AMPERE = "A", "A"
    PPM = "ppm", "ppm"
    LUX = "lx", "lx"
    HECTOPASCAL = "hPa", "hPa"
    PASCAL = "Pa", "Pa"


class InstallationStatus(models.TextChoices):
    NEW = "new", "New"
    INSTALLED = "installed", "Installed"
    UNINSTALLED = "uninstalled", "Uninstalled"
    QUARANTINE = "quarantine", "Quarantine"
    RETIRED = "retired", "Retired"


class ReportState(models.TextChoices):
    QUEUED = "queued", "Waiting for a worker"
    RUNNING = "running", "Being built"
    DONE = "done", "Ready"
    FAILED = "failed", "Failed"


class ReportFormat(models.TextChoices):
    PDF = "pdf", "PDF: summary, excursions and their charts"
    CSV = "csv", "CSV: the readings inside the excursions"
    SIGNATURES = "sig", "CSV: the excursions' electronic signatures"


class AuditAction(models.TextChoices):
    CREATE = "create", "Created"
    UPDATE = "update", "Changed"
    DELETE = "delete", "Deleted"
    ACKNOWLEDGE = "acknowledge", "Acknowledged (signed)"
    CLOSE = "close", "Closed (signed)"
    # The excursion lifecycle (monitoring/excursion_actions.py).
    INVESTIGATE = "investigate", "Investigation started"
    ASSIGN = "assign", "Assigned"
    NOTE = "note", "Investigation note (signed)"
    APPROVE = "approve", "Approved (signed)"
    REOPEN = "reopen", "Reopened"
    SIGNATURE_REFUSED = "sign_refused", "Signature refused"
    LOCKED_OUT = "locked_out", "Locked out (too many refused signatures)"
    # Accounts and sessions (users/): codes stay within the column's 12 characters.
    LOGIN = "login", "Logged in"
    LOGOUT = "logout", "Logged out"
    SESSION_EXPIRED = "session_end", "Session expired"
    PASSWORD_CHANGED = "password", "Password changed"
    PASSWORD_CHANGE_REQUIRED = "pw_required", "Password change required"
    PASSWORD_CHANGE_CLEARED = "pw_cleared", "Password change no longer required"
    # The steps of archiving a month of readings or positions (monitoring/archive.py).
    ARCHIVE = "archive", "Archived to a file"
    VERIFY = "verify", "Archive verified"
    REFUSE = "refuse", "Archive refused"
    DETACH = "detach", "Partition detached"
    DROP = "drop", "Detached partition dropped"
    # Alarm handling (alarms/): a notice sent about an excursion, delivered or failed.
    NOTIFY = "notify", "Notification"
    # Every download of data: who took which records of which period (monitoring.audit.record_export).
    EXPORT = "export", "Exported (downloaded)"


class ArchiveState(models.TextChoices):
    WRITTEN = "written", "Written, not yet verified"
    DETACHED = "detached", "Verified and detached (kept as a table)"
    DROPPED = "dropped", "Verified, detached and dropped"
    REFUSED = "refused", "Verification failed: nothing detached"


class Severity(models.TextChoices):
    WARNING = "warning", "Warning"
    ALARM = "alarm", "Alarm"


class ExcursionKind(models.TextChoices):
    OUT_OF_RANGE = "out_of_range", "Out of range"
    NO_DATA = "no_data", "No data"
    BUDGET = "budget", "Daily budget exceeded"


class ExcursionState(models.TextChoices):
    """open -> acknowledged -> under investigation -> closed (-> approved, where approval is required);
    a closed or approved excursion can be reopened (back under investigation)."""

    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    INVESTIGATING = "investigating", "Under investigation"
    CLOSED = "closed", "Closed"
    APPROVED = "approved", "Approved"


class Disposition(models.TextChoices):
    NO_PRODUCT_IMPACT = "no_product_impact", "No product impact"
    QUARANTINED = "product_quarantined", "Product quarantined"
    DISCARDED = "product_discarded", "Product discarded"
    OTHER = "other", "Other"


class ProductImpact(models.TextChoices):
    """What became of the product the excursion touched, stated at closing."""

    RELEASED = "released", "Released"
    QUARANTINED = "quarantined", "Quarantined"
    DESTROYED = "destroyed", "Destroyed"
    NOT_AFFECTED = "not_affected", "Not affected"


class ReportFrequency(models.TextChoices):
    DAILY = "daily", "Daily (the previous day)"
    WEEKLY = "weekly", "Weekly (the previous seven days)"
