from django.urls import path

from alarms import views

urlpatterns = [
    path("device-health/", views.device_health, name="device_health"),
    path(
        "device-health/<int:pk>/acknowledge/",
        views.device_health_acknowledge,
        name="device_health_acknowledge",
    ),
    path(
        "calibration/<int:pk>/certificate.pdf",
        views.calibration_certificate_file,
        name="calibration_certificate_file",
    ),
]
