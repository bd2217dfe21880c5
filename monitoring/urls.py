from django.contrib.auth import views as auth_views
from django.urls import path

from monitoring.views import pages as views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.overview, name="overview"),
    path("devices/", views.devices, name="devices"),
    path("map/", views.vehicle_map, name="map"),
    path("alerts/", views.alerts, name="alerts"),
    path("groups/", views.groups, name="groups"),
    path("sync/", views.sync_status, name="sync_status"),
]
