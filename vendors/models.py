"""Vendor accounts: where the data comes from, with encrypted credentials and sync health."""

from __future__ import annotations

import ipaddress
import socket
from datetime import timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pgtrigger
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from coldchain.audit_triggers import AuditTrigger, ClosedTrigger
from vendors.fields import EncryptedJSONField
from vendors.registry import VENDOR_CHOICES, client_class


def validate_timezone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"{value!r} is not a time zone; use an IANA name such as Europe/Paris."
        ) from None


def validate_base_url(value: str) -> None:
    """Refuse non-HTTP URLs, and private or loopback hosts unless VENDOR_ALLOW_PRIVATE_URLS is on."""
    if not value:
        return
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("Enter an http:// or https:// URL with a host name.")
    if parts.query or parts.fragment or parts.username:
        raise ValidationError("A base URL has no query string, fragment or user name.")
    if settings.VENDOR_ALLOW_PRIVATE_URLS:
        return
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, None)}
    except OSError:
        addresses = set()
    for address in addresses | ({parts.hostname} if _is_ip(parts.hostname) else set()):
        ip = ipaddress.ip_address(address.split("%")[0])
        if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_unspecified:
            raise ValidationError(
                f"{parts.hostname} is a private or loopback address; vendor URLs must be public."
            )


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class VendorAccount(models.Model):
    vendor = models.CharField(max_length=20, choices=VENDOR_CHOICES)
    name = models.CharField(max_length=100, unique=True)
    base_url = models.CharField(
        max_length=300,
        blank=True,
        validators=[validate_base_url],
        help_text="Everything before the vendor's documented paths; blank for the vendor's default.",
    )
    timezone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_timezone],
        help_text="The zone of the vendor's wall-clock timestamps for this account.",
    )
    response_format = models.CharField(
        max_length=10, blank=True, help_text="Where the vendor offers a choice (Thermotrack: json or xml)."
    )
    # Encrypted at rest; never rendered back (the admin offers a field to replace them).
    credentials = EncryptedJSONField(default=dict, blank=True)
    # Tokens a vendor hands out (Thingsee token, GPSWOX user_api_hash), shared by every worker.
    session = EncryptedJSONField(default=dict, blank=True, editable=False)
    enabled = models.BooleanField(default=True)
    sync_interval = models.DurationField(default=timedelta(minutes=5))
    backfill_days = models.PositiveIntegerField(null=True, blank=True, help_text="Blank: the site default.")

    # Sync state and health.
    next_sync_at = models.DateTimeField(null=True, blank=True, help_text="Blank: as soon as possible.")
    last_sync_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    last_error_at = models.DateTimeField(null=True, blank=True, editable=False)
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    needs_attention = models.BooleanField(
        default=False, help_text="Set when the vendor refused the credentials."
    )
    alerts_cursor = models.DateTimeField(null=True, blank=True, editable=False)
    # One sync at a time per account: whoever holds the lock until ``sync_lock_until``.
    sync_lock_owner = models.CharField(max_length=64, blank=True, editable=False)
    sync_lock_until = models.DateTimeField(null=True, blank=True, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    # Removing an account retires it: it stops syncing and becomes read-only, while its devices, readings,
    # positions, alerts and excursions stay as the records they are. PostgreSQL refuses to delete an
    # account (the trigger below), so no path can take its data with it.
    retired_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        triggers = [
            ClosedTrigger(
                name="retired_never_deleted",
                when=pgtrigger.Before,
                operation=pgtrigger.Delete,
                func="RAISE EXCEPTION 'DELETE of % refused: a vendor account is retired, never deleted',"
                " TG_TABLE_NAME;",
            ),
            # Sync bookkeeping is left out of the trail; the credentials show as changed, never their value.
            AuditTrigger(
                ignored=[
                    "session",
                    "next_sync_at",
                    "last_sync_started_at",
                    "last_success_at",
                    "last_error",
                    "last_error_at",
                    "consecutive_failures",
                    "alerts_cursor",
                    "sync_lock_owner",
                    "sync_lock_until",
                    "created_at",
                ],
                secret=["credentials"],
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def client_class(self):
        return client_class(self.vendor)

    @property
    def capabilities(self):
        """What the vendor can do (its client's ``Capabilities``), for the pages and the services."""
        return self.client_class.capabilities

    def clean(self) -> None:
        cls = self.client_class
        if self.response_format and self.response_format not in cls.formats:
            offered = ", ".join(cls.formats) or "no choice of format"
            raise ValidationError({"response_format": f"{cls.label} offers {offered}."})
        if not self.base_url and not cls.default_base_url:
            raise ValidationError(
                {"base_url": f"{cls.label} has no default base URL: enter this deployment's."}
            )

    @property
    def health(self) -> str:
        if self.retired_at:
            return "retired"
        if not self.enabled:
            return "disabled"
        if self.needs_attention:
            return "needs attention"
        if self.consecutive_failures:
            return "failing"
        if self.last_success_at:
            return "ok"
        return "never synced"
