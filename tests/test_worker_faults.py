"""Workers and beats that die or run twice: the data still ends exactly as after a clean run.

These start real ``celery`` and ``manage.py`` processes against the test database, so they need Redis
(as in CI); elsewhere they are skipped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.db import connection
from django.utils import timezone

from coldchain.celery import app
from monitoring.models import Reading
from tests.conftest import FIXED_NOW
from tests.factories import make_account
from tests.test_sync import stored_readings
from vendors.simulators import simulator_class

ROOT = Path(__file__).resolve().parent.parent
BROKER = "redis://127.0.0.1:6379/5"  # a queue of its own, so no other test's task is picked up

pytestmark = [
    pytest.mark.skipif(
        not os.environ.get("CELERY_BROKER_URL", "").startswith("redis://"),
        reason="needs Redis (CELERY_BROKER_URL, set by .ci/run)",
    ),
    pytest.mark.celery_worker,
    pytest.mark.django_db(transaction=True),
]


def environment(**extra: str) -> dict:
    db = connection.settings_dict
    env = {
        **os.environ,
        # The host may be a socket folder (the embedded PostgreSQL): quoted into the URL.
        "DATABASE_URL": f"postgres://{db['USER']}@{quote(db['HOST'], safe='')}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": BROKER,
        "SYNC_BACKFILL_DAYS": str((timezone.now() - FIXED_NOW).days + 1),
        "SYNC_LOCK_SECONDS": "5",
        "CELERY_VISIBILITY_TIMEOUT": "5",
    }
    env.update(extra)
    return env


def start_worker(**extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "coldchain",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "warning",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=ROOT,
        env=environment(**extra),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.25)
    return False


@pytest.fixture
def slow_thermotrack(world, serve):
    redis.Redis.from_url(BROKER).flushdb()
    simulator = simulator_class("thermotrack")(world=world)
    simulator.faults.update(latency=0.15)
    account = make_account(serve(simulator), "thermotrack")
    return simulator, account


def truth_between(simulator, start, end) -> set:
    return {
        (r.device_id, r.channel, r.timestamp, r.value, r.error)
        for d in simulator.devices
        for r in simulator.truth_readings(d.vendor_id, start, end)
    }


def test_a_worker_killed_mid_sync_hands_the_task_over_and_the_data_ends_complete(slow_thermotrack):
    simulator, account = slow_thermotrack
    first = start_worker()
    try:
        with app.connection_for_write(BROKER) as conn:
            app.send_task("vendors.tasks.sync_account", args=[account.pk], connection=conn)
        assert wait_for(lambda: Reading.objects.filter(channel__device__account=account).exists(), 60)
        os.killpg(first.pid, signal.SIGKILL)  # mid-sync: some devices stored, the task not acknowledged
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    account.refresh_from_db()
    assert account.last_success_at is None, "the sync was killed before it finished"

    second = start_worker()
    try:
        assert wait_for(lambda: type(account).objects.get(pk=account.pk).last_success_at is not None, 90)
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(timeout=30)
    # Exactly what a clean run stores: every true reading of the period, nothing else.
    stored = stored_readings(account)
    window_start = (
        timezone.now() - timedelta(days=(timezone.now() - FIXED_NOW).days + 1) + timedelta(minutes=5)
    )
    assert stored <= truth_between(simulator, FIXED_NOW - timedelta(days=30), FIXED_NOW)
    assert truth_between(simulator, window_start, FIXED_NOW) <= stored


def test_two_syncs_of_one_account_at_once_never_both_run(slow_thermotrack):
    _, account = slow_thermotrack
    command = [sys.executable, "manage.py", "sync", "--account", account.name]
    runs = [
        subprocess.Popen(
            command, cwd=ROOT, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=180) for run in runs]
    codes = sorted(run.returncode for run in runs)
    texts = [out + err for out, err in outputs]
    assert codes == [0, 1], texts
    assert sum("being synced by another worker" in text for text in texts) == 1
