"""End-to-end sync of one T&D device with 65,535 readings, against a raw COPY of the same rows.

The T&D simulator runs in a process of its own (as a vendor runs on its own machines) and answers from
its cache of the logger's values (as a vendor answers from its database: a first request for the same
period warms it). The sync goes over real HTTP (client, paging, parsing) into PostgreSQL through the
ingest (COPY, rollups, cursors). The raw COPY writes the same rows straight into the readings table, in
the same run. Goal: the sync reaches at least half the throughput of the raw COPY.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from django.db import connection

from monitoring.models import Channel, Device, Reading
from vendors.models import VendorAccount
from vendors.sync import sync_account

READINGS = 65_535
SERIAL = "52120004"  # the T&D simulator's 30-second logger
INTERVAL = 30
ROOT = Path(__file__).resolve().parent.parent


def run() -> dict:
    simulator = subprocess.Popen(
        [sys.executable, "manage.py", "simulate", "--port", "0", "--vendors", "tandd", "--seed", "11"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        described = json.loads(simulator.stdout.readline())
        now = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=60)
        since = now - timedelta(seconds=INTERVAL * READINGS)
        warm_up(described, since, now)
        account = VendorAccount.objects.create(
            vendor="tandd",
            name="bench T&D",
            base_url=described["base_url"],
            credentials=described["credentials"],
            timezone=described["timezone"],
        )
        started = time.perf_counter()
        result = sync_account(account, since=since, until=now, device_ids=[SERIAL])
        sync_seconds = time.perf_counter() - started
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)
    device = Device.objects.get(account=account, vendor_id=SERIAL)
    stored = Reading.objects.filter(channel__device=device).count()

    # The same rows, straight into the same table with COPY (another channel, so nothing conflicts).
    channel = Channel.objects.create(device=device, name="raw-copy", quantity="temperature", unit="C")
    rows = list(Reading.objects.filter(channel__device=device).values_list("timestamp", "value", "error"))
    started = time.perf_counter()
    with connection.cursor() as cursor:
        with cursor.cursor.copy(
            "COPY monitoring_reading (channel_id, timestamp, value, error) FROM STDIN"
        ) as copy:
            for timestamp, value, error in rows:
                copy.write_row((channel.pk, timestamp, value, error))
    copy_seconds = time.perf_counter() - started

    sync_rate = stored / sync_seconds
    copy_rate = len(rows) / copy_seconds
    ratio = sync_rate / copy_rate
    return {
        "readings synced": stored,
        "new readings reported by the sync": result.readings,
        "sync: seconds": sync_seconds,
        "sync: readings a second": sync_rate,
        "raw COPY: seconds": copy_seconds,
        "raw COPY: readings a second": copy_rate,
        "ratio of sync to raw COPY (goal >= 0.5)": ratio,
        "goal met": ratio >= 0.5,
    }


def warm_up(described: dict, since: datetime, until: datetime) -> None:
    credentials = described["credentials"]
    body = {
        "api-key": credentials["api_key"],
        "login-id": credentials["login_id"],
        "login-pass": credentials["login_pass"],
        "remote-serial": SERIAL,
        "unixtime-from": int(since.timestamp()),
        "unixtime-to": int(until.timestamp()),
        "number": READINGS,
    }
    answer = requests.post(
        f"{described['base_url']}/v1/devices/data",
        json=body,
        headers={"X-HTTP-Method-Override": "GET"},
        timeout=120,
    )
    answer.raise_for_status()
