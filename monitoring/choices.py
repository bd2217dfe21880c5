"""Status values with their labels and colours (the colour is never the only signal: labels go with it)."""

from django.db import models


class DeviceKind(models.TextChoices):
    FIXED = "fixed", "Fixed equipment"
    VEHICLE = "vehicle", "Vehicle"
    GATEWAY = "gateway", "Gateway"


class Quantity(models.TextChoices):
    TEMPERATURE = "temperature", "Temperature"
    HUMIDITY = "humidity", "Humidity"


class Unit(models.TextChoices):
    CELSIUS = "C", "°C"
    PERCENT_RH = "%RH", "% RH"


class InstallationStatus(models.TextChoices):
    NEW = "new", "New"
    INSTALLED = "installed", "Installed"
    UNINSTALLED = "uninstalled", "Uninstalled"
    QUARANTINE = "quarantine", "Quarantine"
    RETIRED = "retired", "Retired"


INSTALLATION_STATUS_COLOURS = {
    "new": "blue",
    "installed": "green",
    "uninstalled": "grey",
    "quarantine": "orange",
    "retired": "black",
}
