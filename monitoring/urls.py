from django.urls import path

from monitoring import views

urlpatterns = [
    path("", views.overview, name="overview"),
]
