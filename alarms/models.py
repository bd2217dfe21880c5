"""Escalation policies and their levels, on-call rotas, notification channels, and the log of every notice
sent (``Notification``): who, how, when, delivered or failed."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models

from coldchain.audit_triggers import AuditTrigger, membership_trigger
from monitoring.models.permanence import permanent_record_triggers
from vendors.fields import EncryptedJSONField

MINUTES_PER_WEEK = 7 * 24 * 60
# Delivery bookkeeping, changed at every notice: not configuration, left out of the audit trail.
HEALTH_FIELDS = ["last_success_at", "last_failure_at", "last_failure", "consecutive_failures"]


def validate_time_zone(value: str) -> None:
    if value not in available_timezones():
        raise ValidationError(f"{value!r} is not a time zone name (e.g. Europe/Berlin, America/New_York).")


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class OnCallRota(models.Model):
    """Who is on call, by weekly shifts in the rota's own time zone (wall-clock times: a shift that starts
    Monday 08:00 starts at 08:00 local time in summer and in winter)."""

    name = models.CharField(max_length=100, unique=True)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])

    class Meta:
        ordering = ["name"]
        verbose_name = "on-call rota"
        triggers = [AuditTrigger()]

    def __str__(self) -> str:
        return self.name


class OnCallShift(models.Model):
    """One weekly shift: from a weekday and time to a weekday and time (Sunday 20:00 to Monday 08:00
    crosses the week's end). Overlapping shifts put both users on call."""

    rota = models.ForeignKey(OnCallRota, on_delete=models.CASCADE, related_name="shifts")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    start_day = models.PositiveSmallIntegerField(choices=Weekday.choices)
    start_time = models.TimeField()
    end_day = models.PositiveSmallIntegerField(choices=Weekday.choices)
    end_time = models.TimeField()

    class Meta:
        ordering = ["rota", "start_day", "start_time"]
        triggers = [
            AuditTrigger(
                shown="(SELECT name FROM alarms_oncallrota WHERE id = (row_data->>'rota_id')::bigint)"
                " || ': shift of user ' || (row_data->>'user_id')"
            )
        ]

    def __str__(self) -> str:
        return (
            f"{self.user}: {self.get_start_day_display()} {self.start_time:%H:%M} to "
            f"{self.get_end_day_display()} {self.end_time:%H:%M}"
        )

    @staticmethod
    def minute_of_week(day: int, hours: int, minutes: int) -> int:
        return day * 24 * 60 + hours * 60 + minutes

    def covers(self, local: datetime) -> bool:
        """Whether the shift holds the local wall-clock time ``local``."""
        now = self.minute_of_week(local.weekday(), local.hour, local.minute)
        start = self.minute_of_week(self.start_day, self.start_time.hour, self.start_time.minute)
        end = self.minute_of_week(self.end_day, self.end_time.hour, self.end_time.minute)
        if end > start:
            return start <= now < end
        return now >= start or now < end  # through the end of the week (or a whole week when equal)


class NotificationChannel(models.Model):
    """A way to reach someone through Apprise (SMS gateways, Teams, Slack, ntfy, webhooks...): a user's own
    channel, tried in order before their email, or a shared channel a level names. The Apprise URL holds
    tokens: it is encrypted at rest and never shown, logged or passed to a task."""

    name = models.CharField(max_length=100, help_text='What it is, e.g. "Teams: QA room", "SMS to Ana".')
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notification_channels",
        help_text="The user it reaches (tried before their email); blank for a shared channel of a level.",
    )
    position = models.PositiveSmallIntegerField(default=0, help_text="Lower first.")
    secret = EncryptedJSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    # Health, shown on the sync status page.
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_failure_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_failure = models.CharField(max_length=300, blank=True, editable=False)
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["position", "id"]
        # The Apprise URL shows as changed, never its value.
        triggers = [AuditTrigger(ignored=HEALTH_FIELDS, secret=["secret"])]

    def __str__(self) -> str:
        return self.name

    @property
    def url(self) -> str:
        return self.secret.get("url", "")

    @property
    def failing(self) -> bool:
        return self.consecutive_failures > 0


class EscalationPolicy(models.Model):
    """Who hears of an unacknowledged excursion, and when: the levels in turn, then the last level again
    every ``repeat_minutes`` until someone acknowledges. For a device the nearest policy wins: one naming
    the device, then its deployment group, then its alarm profile."""

    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True)
    devices = models.ManyToManyField("monitoring.Device", blank=True, related_name="escalation_policies")
    groups = models.ManyToManyField(
        "monitoring.DeploymentGroup", blank=True, related_name="escalation_policies"
    )
    profiles = models.ManyToManyField(
        "monitoring.AlarmProfile", blank=True, related_name="escalation_policies"
    )
    repeat_minutes = models.PositiveIntegerField(
        default=30,
        validators=[MinValueValidator(1)],
        help_text="The last level repeats this often until the excursion is acknowledged.",
    )
    time_zone = models.CharField(
        max_length=64, default="UTC", validators=[validate_time_zone], help_text="Of the quiet hours."
    )
    quiet_hours_start = models.TimeField(
        null=True,
        blank=True,
        help_text='Warnings wait until the quiet hours end. Severity "alarm" never waits.',
    )
    quiet_hours_end = models.TimeField(null=True, blank=True)
    quiet_days = models.CharField(
        max_length=20,
        blank=True,
        help_text=(
            "Days quiet from midnight to midnight (0 = Monday ... 6 = Sunday, comma-separated), e.g. 5,6: "
            'warnings wait for the next working day. Severity "alarm" never waits.'
        ),
    )
    for_device_health = models.BooleanField(
        default=False,
        help_text="Escalates device-health alarms (low battery, sensor error, no data, sync failing).",
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "escalation policies"
        triggers = [AuditTrigger()]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if (self.quiet_hours_start is None) != (self.quiet_hours_end is None):
            raise ValidationError("Quiet hours need both a start and an end (or neither).")
        if self.quiet_days and not self.quiet_day_numbers <= set(range(7)):
            raise ValidationError({"quiet_days": "Days are numbers 0 (Monday) to 6 (Sunday), e.g. 5,6."})
        if len(self.quiet_day_numbers) == 7:
            raise ValidationError({"quiet_days": "A policy quiet every day would never send a warning."})

    @property
    def quiet_day_numbers(self) -> set[int]:
        return {int(d) for d in self.quiet_days.split(",") if d.strip().isdigit()}

    def _daily_quiet_end_after(self, local: datetime) -> datetime | None:
        """When the daily quiet hours holding the local time ``local`` end, or None outside them."""
        if self.quiet_hours_start is None or self.quiet_hours_end is None:
            return None
        start, end, now = self.quiet_hours_start, self.quiet_hours_end, local.time()
        inside = (start <= now < end) if start < end else (now >= start or now < end)
        if not inside:
            return None
        day = local.date() if now < end else local.date() + timedelta(days=1)
        return datetime.combine(day, end, tzinfo=local.tzinfo)

    def quiet_hours_end_after(self, at: datetime) -> datetime | None:
        """When the quiet time holding ``at`` ends (the daily quiet hours and the quiet days, one after
        the other: Friday 18:00 runs on through the weekend to Monday 08:00), or None outside it. Wall-clock
        times of the policy's zone, so a DST change moves nothing."""
        zone = ZoneInfo(self.time_zone)
        quiet_days = self.quiet_day_numbers
        moment = at.astimezone(zone)
        # Each turn ends one quiet stretch; a week of them (7 days, 7 nights) and one more is the most.
        for _ in range(16):
            if moment.weekday() in quiet_days:
                moment = datetime.combine(moment.date() + timedelta(days=1), time(0), tzinfo=zone)
                continue
            end = self._daily_quiet_end_after(moment)
            if end is None:
                break
            moment = end
        return None if moment == at else moment


class EscalationLevel(models.Model):
    policy = models.ForeignKey(EscalationPolicy, on_delete=models.CASCADE, related_name="levels")
    position = models.PositiveSmallIntegerField(default=1, help_text="1 first.")
    delay_minutes = models.PositiveIntegerField(
        default=0,
        help_text="Minutes after the previous level (the first level: after the excursion opens).",
    )
    users = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    groups = models.ManyToManyField("auth.Group", blank=True, related_name="+")
    rota = models.ForeignKey(
        OnCallRota,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="levels",
        help_text="Whoever is on call when the level fires.",
    )
    channels = models.ManyToManyField(
        NotificationChannel,
        blank=True,
        related_name="levels",
        help_text="Shared channels of the level, tried in order until one delivers.",
    )

    class Meta:
        ordering = ["policy", "position"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "position"], name="one_level_per_position"),
        ]
        triggers = [
            AuditTrigger(
                shown="(SELECT name FROM alarms_escalationpolicy WHERE id = (row_data->>'policy_id')::bigint)"
                " || ': level ' || (row_data->>'position')"
            )
        ]

    def __str__(self) -> str:
        return f"{self.policy}: level {self.position}"


# Who is reached and for what: the links of policies and levels are GxP configuration too. Their through
# tables get audit triggers through proxies (one record per link added or removed, as a change of the
# policy or level: {"users": [null, "added: ana"]}); no permissions of their own.
POLICY_SHOWN = "name"
LEVEL_SHOWN = "(SELECT name FROM alarms_escalationpolicy WHERE id = policy_id) || ': level ' || position"


def _link_audit(model: str, field: str, member: str):
    """The audit trigger of one many-to-many link of a policy or a level (``model``: "escalationpolicy"
    or "escalationlevel"; ``member``: the linked record's name, an SQL query over the through table's
    NEW or OLD row)."""
    return membership_trigger(
        f"alarms.{model}",
        f"{model}_id",
        f"alarms_{model}",
        POLICY_SHOWN if model == "escalationpolicy" else LEVEL_SHOWN,
        field,
        member,
    )


def _name_of(table: str, column: str, attribute: str = "name") -> str:
    # Model metadata from our own code, never user input.
    return f"SELECT {attribute} FROM {table} WHERE id = COALESCE(NEW.{column}, OLD.{column})"  # noqa: S608


class PolicyDevicesAudit(EscalationPolicy.devices.through):
    class Meta:
        proxy = True
        default_permissions = ()
        triggers = [_link_audit("escalationpolicy", "devices", _name_of("monitoring_device", "device_id"))]


class PolicyGroupsAudit(EscalationPolicy.groups.through):
    class Meta:
        proxy = True
        default_permissions = ()
        triggers = [
            _link_audit(
                "escalationpolicy",
                "groups",
                _name_of("monitoring_deploymentgroup", "deploymentgroup_id"),
            )
        ]


class PolicyProfilesAudit(EscalationPolicy.profiles.through):
    class Meta:
        proxy = True
        default_permissions = ()
        triggers = [
            _link_audit(
                "escalationpolicy",
                "profiles",
                _name_of("monitoring_alarmprofile", "alarmprofile_id"),
            )
        ]


class LevelUsersAudit(EscalationLevel.users.through):
    class Meta:
        proxy = True
        default_permissions = ()
        triggers = [_link_audit("escalationlevel", "users", _name_of("auth_user", "user_id", "username"))]


class LevelGroupsAudit(EscalationLevel.groups.through):
    class Meta:
        proxy = True
        default_permissions = ()
        triggers = [_link_audit("escalationlevel", "groups", _name_of("auth_group", "group_id"))]


class LevelChannelsAudit(EscalationLevel.channels.through):
    class Meta:
        proxy = True
        default_permissions = ()
        triggers = [
            _link_audit(
                "escalationlevel",
                "channels",
                _name_of("alarms_notificationchannel", "notificationchannel_id"),
            )
        ]


class EscalationStop(models.TextChoices):
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    CLOSED = "closed", "Closed"
    NO_LEVELS = "no_levels", "The policy has no levels"
    SUPPRESSED = "suppressed", "Suppressed: it ended inside its suppression window"


class Escalation(models.Model):
    """Where an excursion's escalation stands: ``step`` levels have fired (past the last level, each step
    is a repeat of it); the next one is due at ``next_at``."""

    excursion = models.OneToOneField(
        "monitoring.Excursion", null=True, blank=True, on_delete=models.CASCADE, related_name="escalation"
    )
    health_alarm = models.OneToOneField(
        "alarms.HealthAlarm", null=True, blank=True, on_delete=models.CASCADE, related_name="escalation"
    )
    policy = models.ForeignKey(EscalationPolicy, on_delete=models.PROTECT, related_name="escalations")
    step = models.PositiveIntegerField(default=0)
    next_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=20, choices=EscalationStop.choices, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["next_at"], condition=models.Q(stopped_at__isnull=True), name="escalation_due"
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(excursion__isnull=False, health_alarm__isnull=True)
                | models.Q(excursion__isnull=True, health_alarm__isnull=False),
                name="escalation_of_one_excursion_or_health_alarm",
            ),
        ]

    def __str__(self) -> str:
        return f"Escalation of {self.excursion or self.health_alarm} ({self.policy})"


class NotificationKind(models.TextChoices):
    ESCALATION = "escalation", "Escalation level"
    REPEAT = "repeat", "Repeat of the last level"
    BACK_IN_RANGE = "back_in_range", "Back in range"
    CALIBRATION_DUE = "calibration", "Calibration due"
    TEST = "test", "Test"


class NotificationStatus(models.TextChoices):
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class Notification(models.Model):
    """One attempt to reach one recipient by one route: an email address or a channel (by name: never its
    URL). A target (a user, or a level's shared channels) is tried route after route until one delivers;
    ``target_key`` names it, so a task run twice never reaches the same target twice. Written once:
    PostgreSQL refuses to change or delete it, so what it names is protected too (a channel that has sent
    notices is disabled, not deleted)."""

    excursion = models.ForeignKey(
        "monitoring.Excursion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="alarm_notifications",
    )
    health_alarm = models.ForeignKey(
        "alarms.HealthAlarm", null=True, blank=True, on_delete=models.PROTECT, related_name="notifications"
    )
    target_key = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=NotificationKind.choices)
    level = models.PositiveSmallIntegerField(null=True, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    channel = models.ForeignKey(
        NotificationChannel, null=True, blank=True, on_delete=models.PROTECT, related_name="notifications"
    )
    via = models.CharField(max_length=20, help_text='"email" or "apprise".')
    recipient = models.CharField(max_length=300, help_text="An email address or a channel's name.")
    status = models.CharField(max_length=10, choices=NotificationStatus.choices)
    attempts = models.PositiveSmallIntegerField(default=1)
    error = models.CharField(max_length=300, blank=True)
    sent_at = models.DateTimeField()

    class Meta:
        ordering = ["sent_at", "id"]
        indexes = [models.Index(fields=["target_key"])]
        # The log of notices: written once (what was sent is a record, like the audit trail).
        triggers = permanent_record_triggers()

    def __str__(self) -> str:
        status = self.get_status_display().lower()
        return f"{self.what} to {self.recipient} by {self.via}: {status}"

    @property
    def what(self) -> str:
        """ "Level 2", "Repeat of level 3", "Back in range", "Test"."""
        if self.kind == NotificationKind.ESCALATION and self.level:
            return f"Level {self.level}"
        if self.kind == NotificationKind.REPEAT and self.level:
            return f"Repeat of level {self.level}"
        return self.get_kind_display()


class WebhookEvent(models.TextChoices):
    OPENED = "excursion.opened", "Excursion opened"
    ACKNOWLEDGED = "excursion.acknowledged", "Excursion acknowledged"
    CLOSED = "excursion.closed", "Excursion closed"
    TEST = "test", "Test (from the admin)"


class WebhookEndpoint(models.Model):
    """A QMS or ticketing system told of excursions by signed HTTP POSTs (README, "Signed webhooks"). The
    URL and the signing secret are encrypted at rest and never shown, logged or passed to a task."""

    name = models.CharField(max_length=100, unique=True)
    secret = EncryptedJSONField(default=dict, blank=True)
    on_opened = models.BooleanField("Excursion opened", default=True)
    on_acknowledged = models.BooleanField("Excursion acknowledged", default=True)
    on_closed = models.BooleanField("Excursion closed", default=True)
    enabled = models.BooleanField(default=True)
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_failure_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_failure = models.CharField(max_length=300, blank=True, editable=False)
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["name"]
        # The URL and the signing secret show as changed, never their value.
        triggers = [AuditTrigger(ignored=HEALTH_FIELDS, secret=["secret"])]

    def __str__(self) -> str:
        return self.name

    @property
    def url(self) -> str:
        return self.secret.get("url", "")

    @property
    def signing_secret(self) -> str:
        return self.secret.get("signing_secret", "")

    def wants(self, event: str) -> bool:
        return {
            WebhookEvent.OPENED: self.on_opened,
            WebhookEvent.ACKNOWLEDGED: self.on_acknowledged,
            WebhookEvent.CLOSED: self.on_closed,
        }[event]


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (no retry left)"


class WebhookDelivery(models.Model):
    """One event for one endpoint: the body sent (the same at every try; each try is signed anew), the
    tries, the last answer."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=30, choices=WebhookEvent.choices)
    excursion = models.ForeignKey(
        "monitoring.Excursion",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="webhook_deliveries",
    )
    delivery_id = models.UUIDField(unique=True)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.get_event_display()} to {self.endpoint}: {self.get_status_display().lower()}"


class SuppressionKind(models.TextChoices):
    MAINTENANCE = "maintenance", "Maintenance"
    DEFROST = "defrost", "Defrost"
    CALIBRATION = "calibration", "Calibration"
    TRANSPORT_LOADING = "loading", "Transport loading"
    OTHER = "other", "Other"


class SuppressionWindow(models.Model):
    """A planned intervention: excursions that start inside it notify nobody and are recorded as
    suppressed with its reason; one still going on when it ends becomes a normal excursion. Readings are
    stored and charted as always. One-off (from ``starts_at`` to ``ends_at``) or recurring (on the chosen
    weekdays, from ``daily_start`` for ``duration_minutes``, in ``time_zone``). For one device, one channel
    or one deployment group."""

    kind = models.CharField(max_length=12, choices=SuppressionKind.choices)
    reason = models.CharField(max_length=300)
    device = models.ForeignKey(
        "monitoring.Device",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="suppression_windows",
    )
    channel = models.ForeignKey(
        "monitoring.Channel",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="suppression_windows",
    )
    group = models.ForeignKey(
        "monitoring.DeploymentGroup",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="suppression_windows",
    )
    starts_at = models.DateTimeField(null=True, blank=True, help_text="One-off window: its start.")
    ends_at = models.DateTimeField(null=True, blank=True, help_text="One-off window: its end.")
    weekdays = models.CharField(
        max_length=20,
        blank=True,
        help_text="Recurring window: the weekdays it starts on (0 = Monday ... 6 = Sunday, comma-separated).",
    )
    daily_start = models.TimeField(null=True, blank=True, help_text="Recurring window: its local start time.")
    duration_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Recurring window: length."
    )
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(device__isnull=False, channel__isnull=True, group__isnull=True)
                    | models.Q(device__isnull=True, channel__isnull=False, group__isnull=True)
                    | models.Q(device__isnull=True, channel__isnull=True, group__isnull=False)
                ),
                name="suppression_window_has_exactly_one_scope",
            ),
        ]
        triggers = [AuditTrigger(ignored=["created_at"], shown="row_data->>'reason'")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.reason}"

    @property
    def recurring(self) -> bool:
        return bool(self.weekdays)

    @property
    def weekday_numbers(self) -> set[int]:
        return {int(d) for d in self.weekdays.split(",") if d.strip().isdigit()}

    def clean(self) -> None:
        scopes = [self.device_id, self.channel_id, self.group_id]
        if sum(1 for s in scopes if s) != 1:
            raise ValidationError("Choose exactly one of: a device, a channel, a deployment group.")
        if self.weekdays:
            if not self.weekday_numbers or not self.weekday_numbers <= set(range(7)):
                raise ValidationError(
                    {"weekdays": "Weekdays are numbers 0 (Monday) to 6 (Sunday), e.g. 0,2,4."}
                )
            if self.daily_start is None or not self.duration_minutes:
                raise ValidationError("A recurring window needs a daily start time and a duration.")
            if self.starts_at or self.ends_at:
                raise ValidationError("A window is either one-off (start and end) or recurring (weekdays).")
        elif not (self.starts_at and self.ends_at) or self.ends_at <= self.starts_at:
            raise ValidationError("A one-off window needs a start and a later end (or choose weekdays).")

    def occurrences_between(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """Every (start, end) of this window that overlaps [start, end), in order: the one-off window, or
        each weekday's occurrence on the window's local clock (the charts shade them)."""
        if not self.recurring:
            if self.starts_at and self.ends_at and self.starts_at < end and self.ends_at > start:
                return [(self.starts_at, self.ends_at)]
            return []
        zone = ZoneInfo(self.time_zone)
        length = timedelta(minutes=self.duration_minutes or 0)
        # From the day an occurrence overlapping ``start`` may have begun (long ones run over days).
        day = start.astimezone(zone).date() - timedelta(days=length.days + 1)
        last_day = end.astimezone(zone).date()
        found = []
        while day <= last_day:
            if day.weekday() in self.weekday_numbers:
                begins = datetime.combine(day, self.daily_start, tzinfo=zone)
                ends = (begins.astimezone(UTC) + length).astimezone(zone)
                if begins < end and ends > start:
                    found.append((begins, ends))
            day += timedelta(days=1)
        return found

    def occurrence_at(self, at: datetime) -> tuple[datetime, datetime] | None:
        """(start, end) of this window's occurrence holding ``at``, or None."""
        if not self.enabled:
            return None
        if not self.recurring:
            if self.starts_at and self.ends_at and self.starts_at <= at < self.ends_at:
                return self.starts_at, self.ends_at
            return None
        zone = ZoneInfo(self.time_zone)
        local_day = at.astimezone(zone).date()
        length = timedelta(minutes=self.duration_minutes or 0)
        # An occurrence may have started the day before (or earlier, for long ones) and run past midnight.
        for back in range(length.days + 1, -1, -1):
            day = local_day - timedelta(days=back)
            if day.weekday() not in self.weekday_numbers:
                continue
            start = datetime.combine(day, self.daily_start, tzinfo=zone)
            end = (start.astimezone(UTC) + length).astimezone(zone)
            if start <= at < end:
                return start, end
        return None


class ExcursionSuppression(models.Model):
    """An excursion that started inside a suppression window: the window's reason, copied as it was; the
    window's end. ``lifted_at``: it outlasted the window and became a normal excursion; ``kept_at``: it
    ended inside the window and stays suppressed."""

    excursion = models.OneToOneField(
        "monitoring.Excursion", on_delete=models.CASCADE, related_name="suppression"
    )
    window = models.ForeignKey(
        SuppressionWindow, null=True, on_delete=models.SET_NULL, related_name="suppressed"
    )
    kind = models.CharField(max_length=12, choices=SuppressionKind.choices)
    reason = models.CharField(max_length=300)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    lifted_at = models.DateTimeField(null=True, blank=True)
    kept_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["window_end"],
                condition=models.Q(lifted_at__isnull=True, kept_at__isnull=True),
                name="suppression_pending",
            )
        ]

    def __str__(self) -> str:
        return f"Suppressed ({self.get_kind_display().lower()}: {self.reason})"

    @property
    def active(self) -> bool:
        return self.lifted_at is None


class HealthKind(models.TextChoices):
    LOW_BATTERY = "low_battery", "Low battery"
    SENSOR_ERROR = "sensor_error", "Sensor error"
    NO_DATA = "no_data", "No data from the device"
    CHANNEL_NO_DATA = "channel_silent", "No data from a channel"
    SYNC_FAILING = "sync_failing", "Vendor account sync failing"


class HealthState(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"


class HealthAlarm(models.Model):
    """A device, a channel or a vendor account in trouble (``alarms.health``): an alarm of its own kind,
    escalated by the device-health policy until acknowledged. ``cleared_at``: the condition is over (it
    stays listed until someone acknowledges it)."""

    kind = models.CharField(max_length=14, choices=HealthKind.choices)
    device = models.ForeignKey(
        "monitoring.Device", null=True, blank=True, on_delete=models.CASCADE, related_name="health_alarms"
    )
    channel = models.ForeignKey(
        "monitoring.Channel", null=True, blank=True, on_delete=models.CASCADE, related_name="health_alarms"
    )
    account = models.ForeignKey(
        "vendors.VendorAccount", null=True, blank=True, on_delete=models.CASCADE, related_name="health_alarms"
    )
    detail = models.CharField(max_length=300, help_text='e.g. "Battery 12 % (threshold 20 %)".')
    opened_at = models.DateTimeField()
    cleared_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=12, choices=HealthState.choices, default=HealthState.OPEN)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    acknowledgement_comment = models.TextField(blank=True)

    class Meta:
        ordering = ["-opened_at"]
        permissions = [("acknowledge_healthalarm", "Can acknowledge device-health alarms")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.subject_name}"

    @property
    def subject_name(self) -> str:
        if self.channel_id:
            return f"{self.channel.device.name} ({self.channel.display_name})"
        if self.device_id:
            return self.device.name
        return self.account.name if self.account_id else "?"


def validate_pdf(upload) -> None:
    head = upload.read(5)
    upload.seek(0)
    if head != b"%PDF-" or not upload.name.lower().endswith(".pdf"):
        raise ValidationError("The certificate must be a PDF file.")


class CalibrationCertificate(models.Model):
    """A calibration certificate of a channel (or of a whole device): the laboratory's PDF, when it was
    calibrated and when it is due again, and the offset it found. Stored readings never change; the offset
    is for display only, where the customer opts in (``CALIBRATION_OFFSETS_SHOWN``). The newest certificate
    (by calibration date) of a channel or device is the one in force."""

    channel = models.ForeignKey(
        "monitoring.Channel",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="calibration_certificates",
    )
    device = models.ForeignKey(
        "monitoring.Device",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="calibration_certificates",
        help_text="For a certificate of the whole device (every channel); leave the channel empty.",
    )
    calibrated_on = models.DateField()
    due_on = models.DateField(help_text="The next calibration is due on this date.")
    laboratory = models.CharField(max_length=200)
    certificate_number = models.CharField(max_length=100)
    file = models.FileField(upload_to="calibration/%Y/", validators=[validate_pdf], help_text="The PDF.")
    offset = models.FloatField(
        default=0.0, help_text="Correction found by the laboratory, added to readings shown (if opted in)."
    )
    reminded_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-calibrated_on", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(channel__isnull=False, device__isnull=True)
                | models.Q(channel__isnull=True, device__isnull=False),
                name="calibration_certificate_has_one_scope",
            ),
        ]
        # The reminder's bookkeeping is left out of the trail.
        triggers = [
            AuditTrigger(
                ignored=["reminded_at", "created_at"],
                shown="(row_data->>'certificate_number') || ' (' || (row_data->>'laboratory') || ')'",
            )
        ]

    def __str__(self) -> str:
        return f"{self.certificate_number} ({self.laboratory}) for {self.channel or self.device}"

    def clean(self) -> None:
        if bool(self.channel_id) == bool(self.device_id):
            raise ValidationError("Choose a channel or a device (one of them).")
        if self.calibrated_on and self.due_on and self.due_on <= self.calibrated_on:
            raise ValidationError({"due_on": "The due date comes after the calibration date."})
