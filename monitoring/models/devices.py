"""What the vendors tell us: devices, their channels, readings, positions, alerts, groups, installations."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from coldchain.audit_triggers import AuditTrigger
from monitoring.choices import DeviceKind, InstallationStatus, Quantity, Unit
from monitoring.models.permanence import permanent_record_triggers

UNIT_LABELS = dict(Unit.choices)
QUANTITY_LABELS = dict(Quantity.choices)

UNIT_LENGTH = 16
LABEL_LENGTH = 200


class DeploymentGroup(models.Model):
    """A group of devices. Thingsee groups live at the vendor (``account`` set, ``vendor_group_id`` is
    the vendor's id); other groups are kept by us (``account`` empty)."""

    name = models.CharField(max_length=100)
    account = models.ForeignKey(
        "vendors.VendorAccount", null=True, blank=True, on_delete=models.CASCADE, related_name="groups"
    )
    vendor_group_id = models.CharField(max_length=100, blank=True)
    description = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["account", "name"], name="unique_group_name_per_account"),
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(account__isnull=True), name="unique_local_group_name"
            ),
        ]
        triggers = [AuditTrigger(ignored=["created_at"])]

    def __str__(self) -> str:
        return self.name


class Device(models.Model):
    account = models.ForeignKey("vendors.VendorAccount", on_delete=models.CASCADE, related_name="devices")
    vendor_id = models.CharField(max_length=100, help_text="The vendor's own id (serial, unit id, tuid...).")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=DeviceKind.choices, default=DeviceKind.FIXED)
    site = models.CharField(max_length=200, blank=True)
    group = models.ForeignKey(
        DeploymentGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="devices"
    )
    installation_status = models.CharField(
        max_length=12, choices=InstallationStatus.choices, default=InstallationStatus.INSTALLED
    )
    battery = models.FloatField(null=True, blank=True, help_text="Percent")
    last_seen = models.DateTimeField(null=True, blank=True)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    driver = models.CharField(max_length=200, blank=True)
    current_value_only = models.BooleanField(
        default=False,
        help_text="The vendor keeps no history of this model: each sync stores its current value.",
    )
    alarm_profile = models.ForeignKey(
        "monitoring.AlarmProfile",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="devices",
        help_text="Alarm rules of this profile apply unless a nearer rule (group, device, channel) exists.",
    )
    # Sync cursors: the last stored time of each stream (never past data that is not stored).
    readings_cursor = models.DateTimeField(null=True, blank=True, editable=False)
    positions_cursor = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["account", "vendor_id"], name="unique_device_per_account"),
        ]
        # Sync bookkeeping that changes at every run and says nothing about who configured what.
        triggers = [
            AuditTrigger(
                ignored=[
                    "last_seen",
                    "battery",
                    "readings_cursor",
                    "positions_cursor",
                    "latitude",
                    "longitude",
                    "created_at",
                ]
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def last_heard(self):
        """When anything last came from the device: the vendor's "last seen" or its newest reading,
        whichever is later (some vendors, Thermotrack's, give no "last seen"). Uses a ``last_reading``
        annotation (Max of the channels' ``last_reading_at``) or prefetched channels; else only
        ``last_seen``."""
        newest = getattr(self, "last_reading", None)
        if newest is None and "channels" in getattr(self, "_prefetched_objects_cache", {}):
            newest = max((c.last_reading_at for c in self.channels.all() if c.last_reading_at), default=None)
        return max(filter(None, [self.last_seen, newest]), default=None)


class Channel(models.Model):
    """A measurement point of a device. ``name`` is the vendor's stable key for it (its identity: readings
    are matched to it by this key); ``label`` is the name shown, which the vendor may leave empty or change.
    """

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="channels")
    name = models.CharField(
        max_length=100, help_text="The vendor's key of the channel (Measure, ch1, temp, a sensor id...)."
    )
    label = models.CharField(
        max_length=LABEL_LENGTH, blank=True, help_text="The name shown; empty: the vendor's key is shown."
    )
    quantity = models.CharField(max_length=12, choices=Quantity.choices)
    # Any unit the vendor sends is kept as sent; the choices only name the known ones for display.
    unit = models.CharField(max_length=UNIT_LENGTH, choices=Unit.choices)
    # The latest reading, kept at ingest so the overview needs no scan of readings.
    last_reading_at = models.DateTimeField(null=True, blank=True)
    last_value = models.FloatField(null=True, blank=True)
    last_error = models.CharField(max_length=100, blank=True)
    # How far the excursion engine has evaluated this channel's readings, by event time: every reading up
    # to ``evaluated_until`` was evaluated, except those from ``pending_from`` on, which arrived late
    # (the ingest sets it, in the transaction that stores them). Only the engine moves the watermark, in
    # the transaction that stores the excursions it found; a crash anywhere leaves it behind, never ahead.
    evaluated_until = models.DateTimeField(null=True, blank=True, editable=False)
    pending_from = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["device", "quantity", "name"]
        constraints = [models.UniqueConstraint(fields=["device", "name"], name="unique_channel_per_device")]

    def __str__(self) -> str:
        return f"{self.device} / {self.display_name}"

    @property
    def display_name(self) -> str:
        return self.label or self.name

    # Django's get_FOO_display builds the choices' dict again at each call; pages name hundreds of channels.
    def get_unit_display(self) -> str:
        return UNIT_LABELS.get(self.unit, self.unit)

    def get_quantity_display(self) -> str:
        return QUANTITY_LABELS.get(self.quantity, self.quantity)

    @property
    def title(self) -> str:
        """How pages, emails and reports name the channel: "Temperature (Fridge top)", "Channel 1 (kWh)"."""
        name, unit = self.display_name, self.get_unit_display()
        if unit and name.endswith(f"({unit})"):
            return name  # the label says it already: "Channel 1 (°C)"
        if self.quantity in (Quantity.TEMPERATURE, Quantity.HUMIDITY):
            return f"{self.get_quantity_display()} ({name})"
        return f"{name} ({unit})" if unit else name


class Reading(models.Model):
    """One value (or the vendor's error code) of a channel at a time. Unique per channel and time.

    The table is partitioned by month of ``timestamp`` (PostgreSQL's declarative partitioning; see
    ``monitoring/partitions.py`` and migration 0014): its primary key in the database is (id, timestamp),
    while Django keeps ``id`` as the primary key (the identity sequence keeps it unique).
    """

    # No index of its own: the unique index (channel, timestamp) serves every lookup by channel, and at
    # billions of rows a second index on the channel alone would cost space and ingest time for nothing.
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="readings", db_index=False)
    timestamp = models.DateTimeField()
    value = models.FloatField(null=True, blank=True)
    error = models.CharField(max_length=100, blank=True, help_text="The vendor's error code, if any.")

    class Meta:
        # The unique index (channel, timestamp) also serves every time-range query per channel.
        constraints = [models.UniqueConstraint(fields=["channel", "timestamp"], name="unique_reading")]
        triggers = permanent_record_triggers()

    def __str__(self) -> str:
        shown = self.error or self.value
        return f"{self.channel} {self.timestamp:%Y-%m-%d %H:%M:%S} {shown}"


class ReadingRollup(models.Model):
    """Per channel and hour: min, max, sum and count of the numeric readings (kept at ingest), so charts of
    long ranges read 24 rows a day instead of 1,440 and no peak is lost."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="rollups")
    hour = models.DateTimeField()
    minimum = models.FloatField(null=True)
    maximum = models.FloatField(null=True)
    total = models.FloatField(default=0.0)
    count = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "hour"], name="unique_rollup")]

    def __str__(self) -> str:
        return f"{self.channel} {self.hour:%Y-%m-%d %H}:00"


class Position(models.Model):
    """A vehicle's position at a time; partitioned by month like the readings."""

    # The unique index (device, timestamp) serves every lookup by device (see Reading.channel).
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="positions", db_index=False)
    timestamp = models.DateTimeField()
    latitude = models.FloatField()
    longitude = models.FloatField()
    speed_kmh = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["device", "timestamp"], name="unique_position")]
        triggers = permanent_record_triggers()

    def __str__(self) -> str:
        return f"{self.device} {self.timestamp:%Y-%m-%d %H:%M:%S} ({self.latitude:.5f}, {self.longitude:.5f})"


class DataGap(models.Model):
    """Readings the vendor says are missing (e.g. a jump in T&D's data-id)."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="data_gaps")
    start = models.DateTimeField()
    end = models.DateTimeField()
    reason = models.CharField(max_length=200)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["device", "start", "end"], name="unique_data_gap")]
        indexes = [models.Index(fields=["device", "start"])]

    def __str__(self) -> str:
        return f"{self.device}: no data {self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M}"


class VendorAlert(models.Model):
    account = models.ForeignKey("vendors.VendorAccount", on_delete=models.CASCADE, related_name="alerts")
    device = models.ForeignKey(
        Device, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    vendor_alert_id = models.CharField(max_length=200)
    alert_type = models.CharField(max_length=100)
    message = models.TextField(blank=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    address = models.CharField(max_length=300, blank=True)
    speed_kmh = models.FloatField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    acknowledgement_comment = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        permissions = [("acknowledge_vendoralert", "Can acknowledge vendor alerts")]
        constraints = [
            models.UniqueConstraint(fields=["account", "vendor_alert_id"], name="unique_vendor_alert"),
        ]
        indexes = [models.Index(fields=["device", "started_at"]), models.Index(fields=["started_at"])]
        triggers = [AuditTrigger(shown="(row_data->>'alert_type') || ' ' || (row_data->>'started_at')")]

    def __str__(self) -> str:
        return f"{self.alert_type} {self.started_at:%Y-%m-%d %H:%M}"


class InstallationEvent(models.Model):
    """A change of a device's installation status: who, when (from the vendor or from our users)."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="installation_events")
    status = models.CharField(max_length=12, choices=InstallationStatus.choices)
    timestamp = models.DateTimeField()
    responsible = models.CharField(max_length=200, blank=True, help_text="As the vendor names them.")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)

    class Meta:
        ordering = ["-timestamp"]
        constraints = [
            models.UniqueConstraint(
                fields=["device", "status", "timestamp"], name="unique_installation_event"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.device}: {self.status} at {self.timestamp:%Y-%m-%d %H:%M}"
