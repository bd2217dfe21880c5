"""Vendor accounts and the progress of their syncs."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count, Sum
from django.utils import timezone

from monitoring.models import (
    ReadingRollup,
)
from vendors.models import VendorAccount


def accounts_with_counts(now: datetime | None = None) -> list[VendorAccount]:
    """Accounts with their device count and the readings stored for the last 24 hours (from rollups)."""
    now = now or timezone.now()
    since = (now - timedelta(hours=24)).replace(minute=0, second=0, microsecond=0)
    readings = (
        ReadingRollup.objects.filter(hour__gte=since)
        .values("channel__device__account")
        .annotate(n=Sum("count") + Sum("errors"))
    )
    per_account = {row["channel__device__account"]: row["n"] for row in readings}
    accounts = list(VendorAccount.objects.annotate(device_count=Count("devices")).order_by("name"))
    for account in accounts:
        account.readings_24h = per_account.get(account.pk, 0)
    return accounts


def account_progress(account: VendorAccount, requested_at: datetime, now: datetime | None = None) -> dict:
    """Where a sync asked for at ``requested_at`` stands: queued, running, done or failed."""
    now = now or timezone.now()
    running = bool(account.sync_lock_until and account.sync_lock_until > now)
    started = account.last_sync_started_at and account.last_sync_started_at >= requested_at
    if account.last_error_at and account.last_error_at >= requested_at and not running:
        return {"state": "failed", "done": True}
    if account.last_success_at and account.last_success_at >= requested_at and not running:
        return {"state": "done", "done": True}
    if running and started:
        return {"state": "running", "done": False}
    return {"state": "queued", "done": False}
