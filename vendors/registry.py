"""The five vendors the product speaks to.

The slug is the registry key, the client's file name (``vendors/clients/<slug>.py``) and
``VendorAccount.vendor``. What a vendor needs (credential fields, default base URL, formats) is declared
once, on its client class; this module only names the vendors.
"""

from __future__ import annotations

from vendors.clients import SLUGS, client_class

VENDOR_LABELS: dict[str, str] = {
    "thermotrack": "Thermotrack Webserve",
    "tandd": "T&D WebStorage",
    "trackunit": "Trackunit Classic",
    "thingsee": "Thingsee",
    "trackgps": "TrackGPS (GPSWOX)",
}
VENDOR_CHOICES = [(slug, VENDOR_LABELS[slug]) for slug in SLUGS]

__all__ = ["SLUGS", "VENDOR_CHOICES", "VENDOR_LABELS", "client_class"]
