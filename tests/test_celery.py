"""A real Celery worker (on Redis, as in CI) runs the sync task end to end."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone

from coldchain.celery import app
from monitoring.models import Reading
from tests.conftest import FIXED_NOW
from tests.factories import make_account
from vendors.simulators import simulator_class
from vendors.tasks import claim_due_accounts, sync_due_accounts

needs_redis = pytest.mark.skipif(
    not os.environ.get("CELERY_BROKER_URL", "").startswith("redis://"),
    reason="needs CELERY_BROKER_URL=redis://... (set by .ci/run)",
)


@needs_redis
@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_syncs_the_accounts_that_beat_finds_due(world, serve, settings):
    # The simulated world stops at FIXED_NOW, two days before today: backfill far enough to reach it.
    settings.SYNC_BACKFILL_DAYS = (timezone.now() - FIXED_NOW).days + 1
    simulator = simulator_class("thingsee")(world=world)
    account = make_account(serve(simulator), "thingsee")
    with start_worker(app, pool="threads", concurrency=1, perform_ping_check=False, shutdown_timeout=30):
        sync_due_accounts.delay()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            account.refresh_from_db()
            if account.last_success_at or account.last_error:
                break
            time.sleep(0.5)
    assert account.last_error == ""
    assert account.last_success_at is not None
    assert Reading.objects.filter(channel__device__account=account).count() > 100
    assert account.next_sync_at > timezone.now()


@pytest.mark.django_db
def test_two_beats_never_claim_one_account_twice():
    account = make_account(next_sync_at=timezone.now() - timedelta(minutes=1))
    assert claim_due_accounts() == [account.pk]
    assert claim_due_accounts() == []  # the second beat finds it already claimed


@pytest.mark.django_db
def test_disabled_and_refused_accounts_are_not_due():
    make_account(name="off", enabled=False)
    make_account(name="refused", needs_attention=True)
    assert claim_due_accounts() == []


def test_the_default_schedules_are_in_the_database(db):
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="vendors.tasks.sync_due_accounts")
    assert task.enabled and task.interval.every == 1 and task.interval.period == "minutes"


def test_tasks_have_time_limits_and_late_acknowledgement():
    assert app.conf.task_acks_late is True
    assert app.conf.task_soft_time_limit < app.conf.task_time_limit
    assert app.tasks["vendors.tasks.sync_account"].acks_late is True
