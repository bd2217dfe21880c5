"""Benchmark of the dashboard: chart cost grows with the buckets shown, not the readings; overview queries.

1. One channel with a year of 1-minute readings (525,600), stored through the real ingest (COPY and
   hourly rollups on PostgreSQL): the server time of its chart for one year against one day must stay
   within a ratio of 3, and the year's response under 200 kB.
2. The overview with 1,000 devices: the median server time of several requests and the query count
   (the same as with 10 devices).
Everything runs inside one transaction that is rolled back, so the configured database is left as it was.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from datetime import timedelta

YEAR_MINUTES = 525_600
REPEATS = 5
MAX_RATIO = 3.0
MAX_BYTES = 200_000
OVERVIEW_DEVICES = 1000


def _setup_django() -> None:
    from django.apps import apps

    if not apps.ready:
        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "coldchain.settings")
        django.setup()


def _median_get(client, url: str, headers: dict | None = None) -> tuple[float, int, int]:
    """(median seconds, response bytes, status) of several GETs."""
    times, size, status = [], 0, 0
    for _ in range(REPEATS):
        began = time.perf_counter()
        response = client.get(url, headers=headers or {})
        times.append(time.perf_counter() - began)
        size, status = len(response.content), response.status_code
    return statistics.median(times), size, status


def _year_of_readings(account, now):
    from monitoring.ingest import ingest_readings
    from monitoring.models import Channel, Device
    from vendors.clients.records import ReadingRecord, batches_of

    device = Device.objects.create(account=account, vendor_id="bench-year", name="Benchmark fridge")
    Channel.objects.create(device=device, name="temp", quantity="temperature", unit="C")
    start = (now - timedelta(minutes=YEAR_MINUTES)).replace(second=0, microsecond=0)
    chunk = 50_000
    for offset in range(0, YEAR_MINUTES, chunk):
        ingest_readings(
            device,
            batches_of(
                ReadingRecord(
                    "bench-year",
                    "temp",
                    start + timedelta(minutes=i),
                    round(5.0 + 1.5 * math.sin(i / 90.0) + (9.0 if i % 100_000 == 0 else 0.0), 2),
                )
                for i in range(offset, min(offset + chunk, YEAR_MINUTES))
            ),
        )
    return device


def _many_devices(account, count: int, prefix: str) -> None:
    from django.utils import timezone

    from monitoring.models import AlarmRule, Channel, Device

    now = timezone.now()
    devices = Device.objects.bulk_create(
        Device(account=account, vendor_id=f"{prefix}{i}", name=f"{prefix} device {i:04d}", battery=80)
        for i in range(count)
    )
    Channel.objects.bulk_create(
        Channel(device=d, name=name, quantity=quantity, unit=unit, last_value=value, last_reading_at=now)
        for d in devices
        for name, quantity, unit, value in (("t", "temperature", "C", 5.0), ("h", "humidity", "%RH", 45.0))
    )
    AlarmRule.objects.bulk_create(
        AlarmRule(name=f"{d.name} 2-8", device=d, low_limit=2, high_limit=8) for d in devices[::10]
    )


def run() -> dict:
    _setup_django()
    from django.contrib.auth.models import User
    from django.db import connection, reset_queries, transaction
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from vendors.models import VendorAccount

    figures: dict = {}
    now = timezone.now()
    with transaction.atomic():
        account = VendorAccount.objects.create(
            vendor="thermotrack", name="benchmark (rolled back)", credentials={"api_key": "k-benchmark-000"}
        )
        user = User.objects.create_user("benchmark", password="not used: force_login")
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(user)

        began = time.perf_counter()
        device = _year_of_readings(account, now)
        figures["year of 1-minute readings stored (s)"] = time.perf_counter() - began
        chart = f"/devices/{device.pk}/"
        client.get(chart, {"range": "24h"}, headers={"HX-Request": "true"})  # warm up
        day, day_bytes, day_status = _median_get(client, f"{chart}?range=24h", {"HX-Request": "true"})
        year, year_bytes, year_status = _median_get(client, f"{chart}?range=1y", {"HX-Request": "true"})
        figures["chart, one day: server time (s, median)"] = day
        figures["chart, one year: server time (s, median)"] = year
        figures["chart, one year / one day (at most 3)"] = year / day
        figures["chart, one day: response (bytes)"] = day_bytes
        figures["chart, one year: response (bytes, at most 200,000)"] = year_bytes

        _many_devices(account, 10, "ten")
        # The query log is reset at each request: start from an empty one, or the capture comes out empty.
        reset_queries()
        with CaptureQueriesContext(connection) as ten:
            client.get("/")
        _many_devices(account, OVERVIEW_DEVICES - 11, "many")  # plus the 10 and the year's device
        reset_queries()
        with CaptureQueriesContext(connection) as thousand:
            client.get("/")
        overview, overview_bytes, overview_status = _median_get(client, "/")
        figures["overview, 1,000 devices: server time (s, median)"] = overview
        figures["overview, 1,000 devices: response (bytes)"] = overview_bytes
        figures["overview queries, 10 devices"] = len(ten)
        figures["overview queries, 1,000 devices"] = len(thousand)
        figures["goal met"] = (
            {day_status, year_status, overview_status} == {200}
            and year / day <= MAX_RATIO
            and year_bytes <= MAX_BYTES
            and len(ten) == len(thousand)
        )
        transaction.set_rollback(True)
    return figures
