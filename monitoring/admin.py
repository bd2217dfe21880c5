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


class ChannelInline(admin.TabularInline):
    model = Channel
    extra = 0
    fields = ["name", "quantity", "unit", "last_reading_at", "last_value", "last_error"]
    readonly_fields = ["last_reading_at", "last_value", "last_error"]


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
    list_select_related = ["account", "group"]
    readonly_fields = ["readings_cursor", "positions_cursor"]
    inlines = [ChannelInline]


@admin.register(DeploymentGroup)
class DeploymentGroupAdmin(admin.ModelAdmin):
    list_display = ["name", "account", "vendor_group_id", "description"]
    search_fields = ["name"]


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = ["device", "name", "quantity", "unit", "last_value", "last_reading_at"]
    list_filter = ["quantity"]
    list_select_related = ["device"]
    search_fields = ["device__name", "name"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records that come from the vendors are evidence: viewable, never edited by hand."""

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
class VendorAlertAdmin(admin.ModelAdmin):
    list_display = ["alert_type", "device", "account", "started_at", "ended_at", "acknowledged_at"]
    list_filter = ["account__vendor", "alert_type"]
    list_select_related = ["device", "account"]
    readonly_fields = [f.name for f in VendorAlert._meta.fields if not f.name.startswith("acknowledg")]


@admin.register(InstallationEvent)
class InstallationEventAdmin(ReadOnlyAdmin):
    list_display = ["device", "status", "timestamp", "responsible", "user"]
    list_filter = ["status"]
    list_select_related = ["device", "user"]
