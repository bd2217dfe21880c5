from django.conf import settings
from django.contrib import admin

from monitoring.models import (
    Channel,
    DataGap,
    DeploymentGroup,
    Device,
    InstallationEvent,
    Position,
    Reading,
    VendorAlert,
)

# A channel is what the vendor says it is: its key, label, quantity and unit come from the sync (a unit
# may be one the choices do not list, so the admin shows them and never validates them against the list).
CHANNEL_FROM_VENDOR = ["name", "label", "quantity", "unit", "last_reading_at", "last_value", "last_error"]


class ChannelInline(admin.TabularInline):
    model = Channel
    extra = 0
    fields = CHANNEL_FROM_VENDOR
    readonly_fields = CHANNEL_FROM_VENDOR

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "vendor_id",
        "account",
        "kind",
        "group",
        "installation_status",
        "battery",
        "last_seen",
    ]
    list_filter = ["account__vendor", "kind", "installation_status", "group"]
    search_fields = ["name", "vendor_id", "site"]

    def has_delete_permission(self, request, obj=None):
        # A device's readings are permanent records: retire the device (installation status) instead.
        return False

    def has_change_permission(self, request, obj=None):
        # The devices of a retired vendor account are read-only, like the account.
        if obj is not None and obj.account.retired_at:
            return False
        return super().has_change_permission(request, obj)

    list_select_related = ["account", "group"]
    readonly_fields = ["readings_cursor", "positions_cursor", "current_value_only"]  # set by the sync
    inlines = [ChannelInline]


@admin.register(DeploymentGroup)
class DeploymentGroupAdmin(admin.ModelAdmin):
    list_display = ["name", "account", "vendor_group_id", "description"]
    search_fields = ["name"]


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = ["device", "name", "label", "quantity", "unit", "last_value", "last_reading_at"]
    list_filter = ["quantity"]
    list_select_related = ["device"]
    search_fields = ["device__name", "name", "label"]
    fields = ["device", *CHANNEL_FROM_VENDOR]
    readonly_fields = ["device", *CHANNEL_FROM_VENDOR]

    def has_add_permission(self, request):
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Evidence (what the vendors sent, what we sent out): viewable, never added, changed or deleted."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Reading)
class ReadingAdmin(ReadOnlyAdmin):
    list_display = ["channel", "timestamp", "value", "error"]
    list_select_related = ["channel__device"]
    date_hierarchy = "timestamp"
    show_full_result_count = False


@admin.register(Position)
class PositionAdmin(ReadOnlyAdmin):
    list_display = ["device", "timestamp", "latitude", "longitude", "speed_kmh"]
    list_select_related = ["device"]
    show_full_result_count = False


@admin.register(DataGap)
class DataGapAdmin(ReadOnlyAdmin):
    list_display = ["device", "start", "end", "reason"]
    list_select_related = ["device"]


@admin.register(VendorAlert)
class VendorAlertAdmin(ReadOnlyAdmin):
    """What the vendor said, and who acknowledged it: acknowledging is done on the Alerts page (the only
    place that records who and when), never typed here."""

    list_display = ["alert_type", "device", "account", "started_at", "ended_at", "acknowledged_at"]
    list_filter = ["account__vendor", "alert_type"]
    list_select_related = ["device", "account"]


@admin.register(InstallationEvent)
class InstallationEventAdmin(ReadOnlyAdmin):
    list_display = ["device", "status", "timestamp", "responsible", "user"]
    list_filter = ["status"]
    list_select_related = ["device", "user"]


# -- Excursions, alarm rules, the audit trail (issue 6) ----------------------------------------------

from monitoring.models import (  # noqa: E402
    AlarmProfile,
    AlarmRule,
    AuditRecord,
    Excursion,
    ExcursionSignature,
    ReportSubscription,
    SentNotification,
)


class AlarmRuleInline(admin.TabularInline):
    model = AlarmRule
    extra = 0
    fields = ["name", "quantity", "low_limit", "high_limit", "delay_minutes", "severity", "enabled"]


@admin.register(AlarmProfile)
class AlarmProfileAdmin(admin.ModelAdmin):
    list_display = ["name", "description"]
    search_fields = ["name"]
    inlines = [AlarmRuleInline]


@admin.register(AlarmRule)
class AlarmRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "quantity", "low_limit", "high_limit", "delay_minutes", "severity", "enabled"]
    list_filter = ["quantity", "severity", "enabled"]
    search_fields = ["name"]
    raw_id_fields = ["channel", "device"]


class ExcursionSignatureInline(admin.TabularInline):
    model = ExcursionSignature
    extra = 0
    can_delete = False
    readonly_fields = ["user", "full_name", "meaning", "signed_at", "state", "cycle", "note", "content_hash"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Excursion)
class ExcursionAdmin(ReadOnlyAdmin):
    """Acknowledging and closing are electronic signatures: on the excursion page, not here."""

    list_display = ["__str__", "kind", "severity", "started_at", "ended_at", "peak_value", "state"]
    list_filter = ["state", "kind", "severity"]
    list_select_related = ["channel__device"]
    date_hierarchy = "started_at"
    inlines = [ExcursionSignatureInline]


@admin.register(AuditRecord)
class AuditRecordAdmin(ReadOnlyAdmin):
    list_display = ["at", "username", "action", "model", "object_repr", "reason"]
    list_filter = ["action", "model"]
    search_fields = ["username", "object_repr", "reason"]
    date_hierarchy = "at"


@admin.register(ReportSubscription)
class ReportSubscriptionAdmin(admin.ModelAdmin):
    list_display = ["name", "frequency", "group", "enabled", "last_sent_at"]
    list_filter = ["frequency", "enabled"]


@admin.register(SentNotification)
class SentNotificationAdmin(ReadOnlyAdmin):
    list_display = ["key", "subject", "sent_at"]
    search_fields = ["key", "subject"]


# -- Excursion reports asked for on the pages (issue 16) ----------------------------------------------

from monitoring.models import ExcursionReportFile  # noqa: E402


@admin.register(ExcursionReportFile)
class ExcursionReportFileAdmin(ReadOnlyAdmin):
    """Who asked for which report and how it went; the file itself is fetched on its page."""

    list_display = ["__str__", "requested_by", "requested_at", "state", "size", "expires_at"]
    list_filter = ["state", "format"]
    list_select_related = ["requested_by", "group"]
    exclude = ["content"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("content")


# -- Monthly partitions and their archives (issue 15) -------------------------------------------------

from django.contrib import messages  # noqa: E402
from django.template.defaultfilters import filesizeformat  # noqa: E402

from monitoring.models import ArchivedMonth, MonthPartition  # noqa: E402
from monitoring.partitions import retention_cutoff  # noqa: E402
from monitoring.tasks import archive_month  # noqa: E402


@admin.register(MonthPartition)
class MonthPartitionAdmin(ReadOnlyAdmin):
    """The partitions of the readings and positions; old months are archived from here."""

    list_display = ["name", "table", "month_label", "estimated_rows", "size", "older_than_retention"]
    list_filter = ["table"]
    actions = ["archive_months"]

    @admin.display(description="size")
    def size(self, partition: MonthPartition) -> str:
        return filesizeformat(partition.size_bytes)

    @admin.display(description="older than the retention", boolean=True)
    def older_than_retention(self, partition: MonthPartition) -> bool:
        return partition.month is not None and partition.month < retention_cutoff()

    def has_archive_permission(self, request) -> bool:
        return request.user.has_perm("monitoring.archive_monthpartition")

    @admin.action(
        description="Archive the selected months to files, verify them, detach their partitions",
        permissions=["archive"],
    )
    def archive_months(self, request, queryset):
        cutoff = retention_cutoff()
        queued, refused = [], []
        for partition in queryset:
            if partition.month is None or partition.month >= cutoff:
                refused.append(partition.name)
                continue
            # A month may hold millions of rows: a worker archives it; the audit trail shows each step.
            archive_month.delay(partition.table, partition.month.isoformat(), request.user.pk)
            queued.append(partition.name)
        if queued:
            self.message_user(
                request,
                f"Archiving {', '.join(queued)}: each is written, verified and detached by a worker; "
                "the archived months and the audit trail show the result.",
                messages.SUCCESS,
            )
        if refused:
            self.message_user(
                request,
                f"Not archived: {', '.join(refused)}. Only whole months before {cutoff:%Y-%m} (older than "
                f"{settings.READINGS_RETENTION_MONTHS} months, READINGS_RETENTION_MONTHS) are archived; the "
                "default partition never is.",
                messages.ERROR,
            )


@admin.register(ArchivedMonth)
class ArchivedMonthAdmin(ReadOnlyAdmin):
    list_display = ["table", "month", "state", "row_count", "file", "created_at", "created_by"]
    list_filter = ["table", "state"]
    date_hierarchy = "created_at"
