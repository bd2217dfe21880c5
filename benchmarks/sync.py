"""End-to-end sync of one T&D device with 65,535 readings, against a raw COPY of the same rows.

The T&D simulator runs in a process of its own (as a vendor runs on its own machines) and answers from
its cache (as a vendor answers from its database: a first request for the same period warms it). The
sync goes over real HTTP (client, paging, parsing) into PostgreSQL through the ingest (COPY, rollups,
latest values, cursors, excursions). The raw COPY writes the same rows straight into the readings table,
in the same run: the partitioned table (PostgreSQL routes each row to its month's partition), as the
sync's own COPY does. Three rounds, each with a logger of its own (copies of the same 30-second logger, each
with its own rate-limit budget); the figures are the medians. Goal: the sync reaches at least half the
throughput of the raw COPY.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from django.db import connection

from monitoring.models import Channel, Device, Reading
from vendors.models import VendorAccount
from vendors.simulators import World
from vendors.simulators.tandd import TandDSimulator
from vendors.sync import sync_account

READINGS = 65_535
SERIAL = "52120004"  # the T&D simulator's 30-second logger
ROUNDS = 3
SERIALS = [str(int(SERIAL) + k * 100_000) for k in range(ROUNDS)]  # the simulator's copies of it
BASE_DEVICES = len(TandDSimulator(World()).devices)  # the T&D simulator's own units (copied ROUNDS times)
INTERVAL = 30
ROOT = Path(__file__).resolve().parent.parent


def run() -> dict:
    simulator = subprocess.Popen(
        [
            *(sys.executable, "manage.py", "simulate", "--port", "0", "--vendors", "tandd", "--seed", "11"),
            *("--devices-per-vendor", str(BASE_DEVICES * ROUNDS)),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    rounds = []
    try:
        described = json.loads(simulator.stdout.readline())
        now = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=60)
        since = now - timedelta(seconds=INTERVAL * READINGS)
        for serial in SERIALS:
            warm_up(described, serial, since, now)
        account = VendorAccount.objects.create(
            vendor="tandd",
            name="bench T&D",
            base_url=described["base_url"],
            credentials=described["credentials"],
            timezone=described["timezone"],
        )
        for serial in SERIALS:
            rounds.append(one_round(account, serial, since, now))
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)
    sync_seconds = statistics.median(r["sync seconds"] for r in rounds)
    copy_seconds = statistics.median(r["copy seconds"] for r in rounds)
    ratios = [r["ratio"] for r in rounds]
    ratio = statistics.median(ratios)
    return {
        "readings synced per round": rounds[0]["stored"],
        "new readings reported by the sync": rounds[0]["reported"],
        "sync: seconds (median of 3)": sync_seconds,
        "sync: readings a second": rounds[0]["stored"] / sync_seconds,
        "raw COPY: seconds (median of 3)": copy_seconds,
        "raw COPY: readings a second": rounds[0]["stored"] / copy_seconds,
        "ratio of sync to raw COPY, each round": " ".join(f"{r:.2f}" for r in ratios),
        "ratio of sync to raw COPY, median (goal >= 0.5)": ratio,
        "goal met": ratio >= 0.5,
    }


def one_round(account: VendorAccount, serial: str, since: datetime, until: datetime) -> dict:
    started = time.perf_counter()
    result = sync_account(account, since=since, until=until, device_ids=[serial])
    sync_seconds = time.perf_counter() - started
    device = Device.objects.get(account=account, vendor_id=serial)
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
    return {
        "stored": stored,
        "reported": result.readings,
        "sync seconds": sync_seconds,
        "copy seconds": copy_seconds,
        "ratio": (stored / sync_seconds) / (len(rows) / copy_seconds),
    }


def warm_up(described: dict, serial: str, since: datetime, until: datetime) -> None:
    credentials = described["credentials"]
    body = {
        "api-key": credentials["api_key"],
        "login-id": credentials["login_id"],
        "login-pass": credentials["login_pass"],
        "remote-serial": serial,
        "unixtime-from": int(since.timestamp()),
        "unixtime-to": int(until.timestamp()),
        "number": READINGS,
        "temperature-unit": "C",
    }
    answer = requests.post(
        f"{described['base_url']}/v1/devices/data",
        json=body,
        headers={"X-HTTP-Method-Override": "GET"},
        timeout=120,
    )
    answer.raise_for_status()
