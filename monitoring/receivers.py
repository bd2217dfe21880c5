"""Monitoring's answers to what happened below it: data flows down (client -> sync -> ingest -> excursions
-> notifications), and what sits lower only sends a signal, never calls up. Connected in ``apps.py``."""

from __future__ import annotations

from monitoring.signals import readings_stored
from vendors.signals import account_needs_attention, account_sync_failed


def evaluate_stored_readings(sender, channel_ids: list[int], **kwargs) -> None:
    """Right after an ingest's commit: its channels are evaluated from their watermark. If this process
    dies first, the beat's ``evaluate_readings`` finds them behind their watermark."""
    from monitoring.excursions import evaluate_channels

    evaluate_channels(channel_ids)


def tell_about_refused_credentials(sender, account, **kwargs) -> None:
    """A person must fix the credentials: the administrators hear of it now (the periodic task would tell
    them within minutes anyway)."""
    from monitoring.notifications import notify_accounts_needing_attention

    notify_accounts_needing_attention()


def tell_about_unexpected_failure(sender, account, **kwargs) -> None:
    """An unexpected error (a bug, the database) in a sync: a person may be needed."""
    from monitoring.notifications import notify_account_failed

    notify_account_failed(account)


def connect() -> None:
    readings_stored.connect(evaluate_stored_readings, dispatch_uid="monitoring-evaluate-stored-readings")
    account_needs_attention.connect(
        tell_about_refused_credentials, dispatch_uid="monitoring-account-needs-attention"
    )
    account_sync_failed.connect(tell_about_unexpected_failure, dispatch_uid="monitoring-account-sync-failed")
