"""The five vendors the product speaks to.

The slug is the registry key, the client's file name (``vendors/clients/<slug>.py``) and
``VendorAccount.vendor``. What a vendor needs and can do (its label, credential fields, default base URL,
formats, capabilities) is declared once, on its client class; this module only lists the vendors.
"""

from __future__ import annotations

from vendors.clients import SLUGS, client_class

VENDOR_CHOICES = [(slug, client_class(slug).label) for slug in SLUGS]


def slugs_that(capability: str) -> list[str]:
    """The vendors whose client declares ``capability`` (``Capabilities``), e.g. "keeps_groups"."""
    return [slug for slug in SLUGS if getattr(client_class(slug).capabilities, capability)]


__all__ = ["SLUGS", "VENDOR_CHOICES", "client_class", "slugs_that"]
