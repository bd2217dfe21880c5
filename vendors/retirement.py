"""Retiring a vendor account: what "remove" and "delete" mean for an account (GxP: its data stays)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from coldchain.audit_context import audit_context
from vendors.models import VendorAccount


def account_retire(account: VendorAccount, *, user=None, reason: str = "") -> VendorAccount:
    """Stop the account for good: it never syncs again and becomes read-only; its devices, readings,
    positions, alerts and excursions stay, and the change is in the audit trail."""
    if account.retired_at:
        return account
    with transaction.atomic(), audit_context(user=user, reason=reason or "account retired"):
        account.retired_at = timezone.now()
        account.enabled = False
        account.save(update_fields=["retired_at", "enabled"])
    return account
