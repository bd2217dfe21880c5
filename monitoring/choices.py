"""Status values with their labels and colours (the colour is never the only signal: labels go with it)."""

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


INSTALLATION_STATUS_COLOURS = {
    "new": "blue",
    "installed": "green",
    "uninstalled": "grey",
    "quarantine": "orange",
    "retired": "black",
}
