"""Celery tasks. Beat only starts work: ``sync_due_accounts`` fans out one ``sync_account`` per account.

Tasks get account ids, never credentials. They are idempotent (a re-run re-reads and dedupes), so
``acks_late`` redelivery after a crashed worker is safe. An account whose credentials were refused, or
whose sync broke on an unexpected error, is announced with a signal (``vendors.signals``): monitoring
emails the administrators, this app never calls up into it.
"""

from __future__ import annotations

import logging
import random

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from vendors.clients.errors import AuthenticationError, RateLimited, UnexpectedError, VendorError
from vendors.models import VendorAccount
from vendors.signals import account_needs_attention, account_sync_failed
from vendors.sync import AccountBusy
from vendors.sync import sync_account as run_sync

logger = logging.getLogger("vendors.tasks")

MAX_RETRIES = 5
BUSY_RETRIES = 3


def claim_due_accounts(now=None) -> list[int]:
    """Ids of enabled accounts whose next sync is due, each claimed once (two beats never both win)."""
    now = now or timezone.now()
    due = VendorAccount.objects.filter(enabled=True, needs_attention=False).filter(
        Q(next_sync_at__isnull=True) | Q(next_sync_at__lte=now)
    )
    claimed = []
    for account in due.only("pk", "next_sync_at", "sync_interval"):
        won = VendorAccount.objects.filter(pk=account.pk, next_sync_at=account.next_sync_at).update(
            next_sync_at=now + account.sync_interval
        )
        if won:
            claimed.append(account.pk)
    return claimed


@shared_task(name="vendors.tasks.sync_due_accounts")
def sync_due_accounts() -> list[int]:
    ids = claim_due_accounts()
    for account_id in ids:
        sync_account.delay(account_id)
    return ids


@shared_task(bind=True, name="vendors.tasks.sync_account", acks_late=True, max_retries=MAX_RETRIES)
def sync_account(self, account_id: int) -> dict:
    """Sync one account; temporary vendor errors retry with exponential back-off and jitter, and so do
    unexpected errors (``UnexpectedError``: the sync recorded them on the account), of which the
    administrators are told."""
    account = VendorAccount.objects.filter(pk=account_id, enabled=True).first()
    if account is None:
        return {"account": account_id, "status": "skipped"}
    try:
        result = run_sync(account)
    except AccountBusy:
        # Another run holds the lock: a live one (this task then finds the account synced, or busy again
        # and gives up) or a dead one whose lock frees itself after SYNC_LOCK_SECONDS (a task handed over
        # after its worker died must not be lost meanwhile). Either way: look again once the lock expired.
        if self.request.retries < BUSY_RETRIES:
            raise self.retry(countdown=settings.SYNC_LOCK_SECONDS + 1, max_retries=BUSY_RETRIES) from None
        return {"account": account_id, "status": "busy"}
    except AuthenticationError:
        # Permanent: the account is marked as needing attention; a person must fix the credentials, and
        # the administrators hear of it now (monitoring listens).
        account_needs_attention.send(sender=VendorAccount, account=account)
        return {"account": account_id, "status": "needs attention"}
    except VendorError as exc:
        if isinstance(exc, UnexpectedError):
            # Recorded on the account like a vendor error and retried like one; a bug may need a person.
            account_sync_failed.send(sender=VendorAccount, account=account)
        delay = (
            exc.retry_after
            if isinstance(exc, RateLimited) and exc.retry_after
            else 30 * 2**self.request.retries
        )
        delay = min(delay, 1800) * random.uniform(0.8, 1.2)
        if self.request.retries >= MAX_RETRIES:
            return {"account": account_id, "status": "failed"}
        raise self.retry(countdown=delay, exc=None) from None
    if result.unexpected_errors:
        account_sync_failed.send(sender=VendorAccount, account=account)
    status = "ok" if result.ok else "partial"
    return {
        "account": account_id,
        "status": status,
        "readings": result.readings,
        "positions": result.positions,
        "alerts": result.alerts,
    }


__all__ = ["claim_due_accounts", "sync_account", "sync_due_accounts"]
