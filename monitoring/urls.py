from django.contrib.auth import views as auth_views
from django.urls import path

from monitoring.views import alerts, devices, groups, pages, sync, vehicles

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", pages.overview, name="overview"),
    path("devices/", pages.devices, name="devices"),
    path("map/", vehicles.vehicle_map, name="map"),
    path("alerts/", alerts.alerts, name="alerts"),
    path("groups/", groups.groups, name="groups"),
    path("sync/", sync.sync_status, name="sync_status"),
    # The QA dashboard (issue 7).
    path("preferences/time-zone/", pages.time_zone, name="time_zone"),
    path("devices/<int:pk>/", devices.device_detail, name="device_detail"),
    path("devices/<int:pk>/readings.csv", devices.device_readings_csv, name="device_readings_csv"),
    path("devices/<int:pk>/installation/", devices.device_installation, name="device_installation"),
    path("map/<int:pk>/track.gpx", vehicles.vehicle_track_gpx, name="vehicle_track_gpx"),
    path("alerts/vendor/acknowledge/", alerts.vendor_events_acknowledge, name="vendor_events_acknowledge"),
    path("alerts/<slug:source>/<int:pk>/acknowledge/", alerts.alert_acknowledge, name="alert_acknowledge"),
    path("groups/new/", groups.group_new, name="group_create"),
    path("groups/<int:pk>/rename/", groups.group_rename_view, name="group_rename"),
    path("groups/<int:pk>/delete/", groups.group_delete_view, name="group_delete"),
    path("groups/move/", groups.devices_move_view, name="devices_move"),
    path("sync/<int:pk>/run/", sync.sync_now, name="sync_now"),
    path("sync/<int:pk>/progress/", sync.sync_progress, name="sync_progress"),
]

# Excursions, alarm rules, the audit trail (issue 6).
from monitoring.views import audit as audit_views  # noqa: E402
from monitoring.views import excursions as excursion_views  # noqa: E402
from monitoring.views import reports as report_views  # noqa: E402
from monitoring.views import rules as rule_views  # noqa: E402

urlpatterns += [
    path("excursions/<int:pk>/", excursion_views.excursion_detail, name="excursion_detail"),
    path(
        "excursions/<int:pk>/acknowledge/",
        excursion_views.excursion_acknowledge,
        name="excursion_acknowledge",
    ),
    path(
        "excursions/<int:pk>/investigate/",
        excursion_views.excursion_investigate,
        name="excursion_investigate",
    ),
    path("excursions/<int:pk>/note/", excursion_views.excursion_note, name="excursion_note"),
    path("excursions/<int:pk>/close/", excursion_views.excursion_close, name="excursion_close"),
    path("excursions/<int:pk>/approve/", excursion_views.excursion_approve, name="excursion_approve"),
    path("excursions/<int:pk>/reopen/", excursion_views.excursion_reopen, name="excursion_reopen"),
    path(
        "excursions/<int:pk>/signatures.csv",
        excursion_views.excursion_signatures_csv,
        name="excursion_signatures_csv",
    ),
    path("excursions/report/", report_views.excursion_report, name="excursion_report"),
    path("excursions/report/<int:pk>/", report_views.excursion_report_status, name="excursion_report_status"),
    path(
        "excursions/report/<int:pk>/file/", report_views.excursion_report_file, name="excursion_report_file"
    ),
    path("rules/", rule_views.rules, name="rules"),
    path("rules/<int:pk>/", rule_views.rule_edit, name="rule_edit"),
    path("audit/", audit_views.audit_trail, name="audit_trail"),
]
