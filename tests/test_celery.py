"""A real Celery worker (on Redis, as in CI) runs the sync task end to end; each kind of work has a queue
of its own, and a worker on one queue never takes another's work."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from django.db import connection
from django.utils import timezone

from coldchain.celery import QUEUES, app
from monitoring.models import Reading
from monitoring.tasks import send_excursion_reports
from tests.conftest import FIXED_NOW
from tests.factories import make_account
from vendors.simulators import simulator_class
from vendors.tasks import claim_due_accounts, sync_due_accounts

ROOT = Path(__file__).resolve().parent.parent

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


# Every task of the project and its queue (coldchain/celery.py).
TASK_QUEUES = {
    "vendors.tasks.sync_due_accounts": "sync",  # the beat's fan-out
    "vendors.tasks.sync_account": "sync",
    "monitoring.tasks.evaluate_readings": "evaluation",  # the beat that no crash can skip
    "monitoring.tasks.open_no_data_excursions": "evaluation",
    "monitoring.tasks.send_excursion_reminders": "notifications",
    "monitoring.tasks.notify_accounts": "notifications",
    "monitoring.tasks.send_excursion_reports": "reports",
    "monitoring.tasks.build_excursion_report": "reports",
    "monitoring.tasks.delete_expired_reports": "reports",
    "monitoring.tasks.archive_month": "reports",
    "monitoring.tasks.maintain_partitions": "evaluation",
    "alarms.tasks.run_escalations": "notifications",
    "alarms.tasks.notify_back_in_range": "notifications",
    "alarms.tasks.retry_level": "notifications",
    "alarms.tasks.deliver_webhook": "notifications",
    "alarms.tasks.queue_stuck_webhooks": "notifications",
    "alarms.tasks.check_device_health": "evaluation",
    "alarms.tasks.remind_calibrations": "notifications",
}


def test_each_task_goes_to_the_queue_of_its_kind_of_work():
    app.loader.import_default_modules()
    ours = {name for name in app.tasks if name.startswith(("vendors.", "monitoring.", "alarms."))}
    assert ours == set(TASK_QUEUES), "a task was added or renamed: give it a queue here and in TASK_ROUTES"
    for name, queue in TASK_QUEUES.items():
        assert app.amqp.router.route({}, name)["queue"].name == queue, name


def test_a_worker_started_without_queues_listens_on_every_queue():
    # The demo's worker, and a small installation's single worker.
    assert set(app.amqp.queues.consume_from) == set(QUEUES)


def start_queue_worker(queue: str, log: Path) -> subprocess.Popen:
    """A real ``celery worker -Q queue`` process on the test database and the suite's Redis broker."""
    db = connection.settings_dict
    environment = {
        **os.environ,
        # The host may be a socket folder (the embedded PostgreSQL): quoted into the URL.
        "DATABASE_URL": f"postgres://{db['USER']}@{quote(db['HOST'], safe='')}:{db['PORT']}/{db['NAME']}",
    }
    command = [sys.executable, "-m", "celery", "-A", "coldchain", "worker", "--queues", queue]
    command += ["--pool", "solo", "--loglevel", "info", "--hostname", f"{queue}@test", "--logfile", str(log)]
    command += ["--without-heartbeat", "--without-mingle", "--without-gossip"]
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=environment,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(worker: subprocess.Popen) -> None:
    worker.terminate()
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait(timeout=10)


def wait_for_log(log: Path, text: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text(errors="replace"):
            return True
        time.sleep(0.25)
    return False


@needs_redis
@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_a_burst_of_reports_never_delays_a_sync():
    app.control.purge()
    broker = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"])
    for _ in range(20):
        send_excursion_reports.delay("daily")
    sync_due_accounts.delay()  # queued after the 20 reports
    assert broker.llen("reports") == 20
    with tempfile.TemporaryDirectory() as folder:
        sync_log, reports_log = Path(folder) / "sync.log", Path(folder) / "reports.log"
        sync_worker = start_queue_worker("sync", sync_log)
        try:
            assert wait_for_log(sync_log, "vendors.tasks.sync_due_accounts[", 90), "the sync was not run"
            time.sleep(2)  # it would have taken a report by now, had it listened to them
            assert "send_excursion_reports" not in sync_log.read_text()
            assert broker.llen("reports") == 20, "the sync worker took a report"
        finally:
            stop(sync_worker)
        # The reports were waiting for their own worker all along.
        reports_worker = start_queue_worker("reports", reports_log)
        try:
            assert wait_for_log(reports_log, "monitoring.tasks.send_excursion_reports[", 90)
            deadline = time.monotonic() + 60
            while broker.llen("reports") and time.monotonic() < deadline:
                time.sleep(0.25)
            assert broker.llen("reports") == 0
            assert "vendors.tasks" not in reports_log.read_text()
        finally:
            stop(reports_worker)
    app.control.purge()
