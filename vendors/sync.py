"""The sync service: pull one vendor account's devices, readings, positions and alerts into our tables.

- Per device and stream a cursor: the last stored time. Each run re-reads a small overlap and the ingest
  dedupes, so late readings are not skipped; a cursor only moves to data that is stored.
- The first sync of a device backfills ``backfill_days`` (settings.SYNC_BACKFILL_DAYS by default).
- One run per account at a time: a lock row that every worker, beat and the CLI respect; a crashed run's
  lock expires, and a re-run simply redoes the work (everything is idempotent).
- Health on the account: last success, last error (no secrets, in any spelling), consecutive failures;
  refused credentials set ``needs_attention`` and stop retries. One failing account never stops the
  others, whatever broke it: an unexpected error (a bug in a parser, data the database refused) is
  recorded like a vendor error, as an ``UnexpectedError`` naming its type.

Everything goes to the database through ``monitoring.ingest`` (devices and channels, readings as
``ReadingBatch``es, positions, gaps, alerts), the one module of monitoring this one imports: what happens
to stored readings next (the excursion engine, its emails) is monitoring's business, started by the
ingest's commit and by a beat, so a sync that dies halfway can never leave readings unevaluated.

The Celery tasks and the ``sync`` command both call ``sync_account``.
"""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from coldchain.security import redact_known_secrets
from monitoring.ingest import ingest_alerts, ingest_device, ingest_gaps, ingest_positions, ingest_readings
from vendors.clients.base import VendorClient
from vendors.clients.errors import AuthenticationError, UnexpectedError, VendorError
from vendors.clients.records import GapRecord, PositionRecord, ReadingBatch
from vendors.models import VendorAccount
from vendors.ratelimit import RateLimiter

logger = logging.getLogger("vendors.sync")

BATCH_SIZE = 20_000  # records buffered before they are written (one transaction each)


class AccountBusy(Exception):
    """Another worker is syncing this account right now."""


@dataclass
class SyncResult:
    account: str
    devices: int = 0
    readings: int = 0
    positions: int = 0
    alerts: int = 0
    gaps: int = 0
    errors: list[str] = field(default_factory=list)
    unexpected_errors: int = 0  # of ``errors``, those that were not the vendor's (a bug, the database)

    @property
    def ok(self) -> bool:
        return not self.errors


class AccountSessionStore:
    """The client's session (tokens), kept encrypted on the account and shared by every worker."""

    def __init__(self, account: VendorAccount):
        self.account = account

    def load(self) -> dict:
        row = VendorAccount.objects.filter(pk=self.account.pk).values_list("session", flat=True).first()
        return dict(row or {})

    def save(self, data: dict) -> None:
        self.account.session = dict(data)
        VendorAccount.objects.filter(pk=self.account.pk).update(session=self.account.session)


def make_client(account: VendorAccount) -> VendorClient:
    cls = account.client_class
    client = cls(
        base_url=account.base_url,
        credentials=account.credentials,
        timezone=account.timezone,
        response_format=account.response_format or None,
        session_store=AccountSessionStore(account),
        rate_limiter=RateLimiter(),
        account_key=str(account.pk),
    )
    client.read_timeout = settings.VENDOR_READ_TIMEOUT
    client.max_answer_bytes = settings.VENDOR_MAX_ANSWER_BYTES
    client.request_deadline = settings.VENDOR_REQUEST_DEADLINE
    return client


# -- the lock ---------------------------------------------------------------------------------------


def lock_duration() -> timedelta:
    """How long a lock lives without a heartbeat: a crashed run's lock is free again after this."""
    return timedelta(seconds=settings.SYNC_LOCK_SECONDS)


def acquire_lock(account: VendorAccount) -> str:
    owner = uuid.uuid4().hex
    now = timezone.now()
    taken = (
        VendorAccount.objects.filter(pk=account.pk)
        .filter(Q(sync_lock_until__isnull=True) | Q(sync_lock_until__lt=now))
        .update(sync_lock_owner=owner, sync_lock_until=now + lock_duration(), last_sync_started_at=now)
    )
    if not taken:
        raise AccountBusy(f"{account.name} is being synced by another worker")
    return owner


def renew_lock(account: VendorAccount, owner: str) -> None:
    """The heartbeat of a run: keeps the lock while work goes on. A run that lost its lock stops."""
    kept = VendorAccount.objects.filter(pk=account.pk, sync_lock_owner=owner).update(
        sync_lock_until=timezone.now() + lock_duration()
    )
    if not kept:
        raise AccountBusy(f"{account.name}: the sync lock was taken over (this run was too slow)")


def release_lock(account: VendorAccount, owner: str) -> None:
    VendorAccount.objects.filter(pk=account.pk, sync_lock_owner=owner).update(
        sync_lock_owner="", sync_lock_until=None
    )


# -- the run ----------------------------------------------------------------------------------------


class AccountRetired(RuntimeError):
    """The account was removed (retired): its data stays, read-only, and nothing more is fetched."""


def sync_account(
    account: VendorAccount,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    progress: Callable[..., None] | None = None,
    device_ids: list[str] | None = None,
) -> SyncResult:
    """Sync one account. Raises ``AccountBusy``, or the vendor's error after recording it on the account.

    ``since``/``until`` override the cursors (the CLI's ``--since``/``--until``); ``device_ids`` (the
    vendor's ids) limits the run to those devices and skips the account's alerts. A retired account
    never syncs again (``AccountRetired``).
    """
    if account.retired_at:
        raise AccountRetired(f"{account.name} is retired: it no longer syncs")
    owner = acquire_lock(account)
    result = SyncResult(account=account.name)
    report = progress or (lambda *args, **kwargs: None)

    def progress(event, **info):
        renew_lock(account, owner)
        report(event, **info)

    client = None
    try:
        client = make_client(account)
        _run(account, client, result, since, until, progress, device_ids)
    except AccountBusy:
        raise  # the lock was taken over: the run that holds it now records what happens
    except VendorError as exc:
        _without_secrets_in(exc, client)
        _record_failure(account, exc)
        result.errors.append(str(exc))
        raise
    except Exception as exc:  # noqa: BLE001 - whatever broke, the account records it and the others go on
        failure = _unexpected(exc, account, client, f"{account.client_class.label}: unexpected error")
        _record_failure(account, failure)
        result.errors.append(str(failure))
        raise failure from None
    finally:
        release_lock(account, owner)
    if result.errors:
        _record_failure(account, VendorError("; ".join(result.errors)))
    else:
        _record_success(account)
    return result


def _without_secrets(text: str, client: VendorClient | None) -> str:
    """A vendor's words or an error's text without any secret the site holds, in any spelling: the
    client's credentials and tokens (with the user names it sent), and every other known secret."""
    if client is not None:
        text = client.redact(text)
    return redact_known_secrets(text)


def _without_secrets_in(exc: VendorError, client: VendorClient | None) -> None:
    """A vendor error's message without the client's secrets in any spelling, for whoever shows it next
    (the CLI, a task's log); ``_record_failure`` blanks every other known secret as well."""
    if client is not None:
        exc.message = client.redact(exc.message)
        exc.args = (exc.message,)


def _unexpected(
    exc: Exception, account: VendorAccount, client: VendorClient | None, where: str
) -> UnexpectedError:
    """An ``UnexpectedError`` naming the error's type and its message without secrets; the traceback goes
    to the log (without secrets either), so the bug can be found."""
    detail = _without_secrets(str(exc), client)[:300]
    message = (
        f"{where} ({type(exc).__name__}{': ' + detail if detail else ''}); "
        "the traceback is in the worker's log"
    )
    trace = _without_secrets("".join(traceback.format_exception(exc)), client)
    logger.error("%s: %s\n%s", account.name, message, trace)
    return UnexpectedError(message)


def _run(account, client, result, since, until, progress, device_ids=None) -> None:
    now = timezone.now()
    until = min(until or now, now)
    overlap = timedelta(minutes=settings.SYNC_OVERLAP_MINUTES)
    backfill = timedelta(days=account.backfill_days or settings.SYNC_BACKFILL_DAYS)

    infos = client.devices()
    if device_ids is not None:
        infos = [info for info in infos if info.vendor_id in device_ids]
    devices = {}
    for info in infos:
        devices[info.vendor_id] = (ingest_device(account, info), info)
    result.devices = len(devices)
    progress("devices", account=account, count=len(devices))

    for device, info in devices.values():
        cursors = [c for c in (device.readings_cursor, device.positions_cursor) if c]
        start = since or (min(cursors) - overlap if cursors else until - backfill)
        progress("device", account=account, device=device, since=start, until=until)
        try:
            _sync_device(client, device, info, start, until, result, progress)
        except (AuthenticationError, AccountBusy):
            raise
        except VendorError as exc:
            # Keep going with the other devices; the run is recorded as failed at the end.
            _without_secrets_in(exc, client)
            logger.warning("%s: device %s: %s", account.name, device.vendor_id, exc)
            result.errors.append(f"{device.name}: {exc}")
        except Exception as exc:  # noqa: BLE001 - one device's unexpected error: the same, and it is told
            failure = _unexpected(exc, account, client, f"{device.name}: unexpected error")
            result.errors.append(str(failure))
            result.unexpected_errors += 1

    if device_ids is None and client.capabilities.alerts:
        _sync_alerts(
            client,
            account,
            devices,
            result,
            since or (account.alerts_cursor - overlap if account.alerts_cursor else until - backfill),
            until,
        )
    progress("done", account=account, result=result)


def _sync_alerts(client, account, devices, result, alert_start, until) -> None:
    try:
        by_vendor_id = {vid: d for vid, (d, _) in devices.items()}
        alerts = list(client.alerts(alert_start, until))
        result.alerts = ingest_alerts(account, by_vendor_id, alerts)
        latest = max((a.started_at for a in alerts), default=None)
        if latest and (account.alerts_cursor is None or latest > account.alerts_cursor):
            account.alerts_cursor = latest
            account.save(update_fields=["alerts_cursor"])
    except (AuthenticationError, AccountBusy):
        raise
    except VendorError as exc:
        _without_secrets_in(exc, client)
        logger.warning("%s: alerts: %s", account.name, exc)
        result.errors.append(f"alerts: {exc}")
    except Exception as exc:  # noqa: BLE001 - as for a device
        failure = _unexpected(exc, account, client, "alerts: unexpected error")
        result.errors.append(str(failure))
        result.unexpected_errors += 1


def _sync_device(client, device, info, start, until, result, progress) -> None:
    readings: list[ReadingBatch] = []
    positions: list[PositionRecord] = []
    gaps: list[GapRecord] = []
    stored: dict[str, datetime] = {}  # the latest stored time per stream

    def flush() -> None:
        if readings:
            result.readings += ingest_readings(device, readings).count
            _note_latest(stored, "readings", (max(batch.timestamps, default=None) for batch in readings))
            progress("readings", account=device.account, device=device, count=len(readings))
            readings.clear()
        if positions:
            result.positions += ingest_positions(device, positions)
            _note_latest(stored, "positions", (position.timestamp for position in positions))
            positions.clear()
        if gaps:
            result.gaps += ingest_gaps(device, gaps)
            gaps.clear()

    try:
        buffered = 0
        for record in client.history_batches(info, start, until):
            kind = type(record)
            if kind is ReadingBatch:
                readings.append(record)
                buffered += len(record.timestamps)
            elif kind is PositionRecord:
                positions.append(record)
                buffered += 1
            elif kind is GapRecord:
                gaps.append(record)
                buffered += 1
            if buffered >= BATCH_SIZE:
                flush()
                buffered = 0
    except VendorError:
        # Keep what arrived intact (it is true data); the cursors stay where they were, so the next
        # run asks for the whole period again and the ingest skips what is already stored.
        flush()
        raise
    flush()
    latest_reading, latest_position = stored.get("readings"), stored.get("positions")
    # The whole period was read and stored: the cursors move to the last stored time.
    with transaction.atomic():
        device.refresh_from_db(fields=["readings_cursor", "positions_cursor"])
        changed = []
        if latest_reading and (device.readings_cursor is None or latest_reading > device.readings_cursor):
            device.readings_cursor = latest_reading
            changed.append("readings_cursor")
        if latest_position and (device.positions_cursor is None or latest_position > device.positions_cursor):
            device.positions_cursor = latest_position
            changed.append("positions_cursor")
        if changed:
            device.save(update_fields=changed)


def _note_latest(stored: dict, stream: str, times) -> None:
    latest = stored.get(stream)
    for timestamp in times:
        if timestamp is not None and (latest is None or timestamp > latest):
            latest = timestamp
    if latest is not None:
        stored[stream] = latest


def _record_success(account: VendorAccount) -> None:
    account.last_success_at = timezone.now()
    account.last_error = ""
    account.consecutive_failures = 0
    account.needs_attention = False
    account.save(update_fields=["last_success_at", "last_error", "consecutive_failures", "needs_attention"])


def _record_failure(account: VendorAccount, exc: VendorError) -> None:
    account.refresh_from_db(fields=["consecutive_failures"])
    # Without secrets before it is cut: a cut must never leave part of one behind.
    account.last_error = redact_known_secrets(str(exc))[:2000]
    account.last_error_at = timezone.now()
    account.consecutive_failures += 1
    fields = ["last_error", "last_error_at", "consecutive_failures"]
    if isinstance(exc, AuthenticationError):
        account.needs_attention = True
        fields.append("needs_attention")
    account.save(update_fields=fields)
