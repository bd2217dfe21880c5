"""Device chart over a year at 100 million readings in the partitioned table against 500,000 readings.

1. One channel with a year of 1-minute readings (525,600) and its hourly rollups, alone in the table.
   The chart's selector (``selectors.channel_series``) over one year, and over one day, and the chart
   fragment the page fetches (the htmx request, server time): medians of several runs after a warm-up.
2. Other channels' years of 1-minute readings are added up to ``BENCH_PARTITION_READINGS`` rows (100
   million by default) with their hourly rollups, and the same measures are taken again. Goal: the
   year's chart within 1.5 times of the first (partition pruning and the rollups doing their job).

The rows are made by SQL (``generate_series``), as fast as PostgreSQL allows: each month's rows go into a
new table without indexes (UNLOGGED: a throw-away database needs no write-ahead log for 10 GB, and reads
do not depend on it), then its keys are built in one pass each, exactly as the partitioned table
has them (primary key (id, timestamp), unique (channel, timestamp)), and it replaces the month's
partition with ``ATTACH PARTITION`` (which validates the foreign key in one query and clones the
immutability trigger). The rollups come from one GROUP BY per month. The database is the benchmarks'
throw-away one: it is dropped at the end.
"""

from __future__ import annotations

import math
import os
import shutil
import statistics
import time
from datetime import timedelta

YEAR_MINUTES = 525_600
TARGET_ROWS = int(os.environ.get("BENCH_PARTITION_READINGS", "100000000"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "7"))
MAX_RATIO = 1.5


def _timed(function, repeats: int = REPEATS) -> float:
    function()  # warm-up: the first read of a cold table measures the disk, not the query
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        function()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def _minute_spans(start, end):
    """(month, first minute, minutes) of each calendar month between ``start`` and ``end``."""
    from monitoring.partitions import add_months, first_of_month, month_start

    month = first_of_month(start)
    while month_start(month) < end:
        low = max(start, month_start(month))
        high = min(end, month_start(add_months(month, 1)))
        yield month, low, int((high - low).total_seconds() // 60)
        month = add_months(month, 1)


def _generate(cursor, month, first, minutes: int, channel_ids: list[int], id_base: int) -> int:
    """One month of 1-minute readings for ``channel_ids`` swapped in for the month's partition (which
    keeps what it held). Returns the rows added."""
    from monitoring.partitions import add_months, month_start, partition_name

    name = partition_name("monitoring_reading", month)
    bulk = f"{name}_bulk"
    start, end = month_start(month), month_start(add_months(month, 1))
    cursor.execute(f"CREATE UNLOGGED TABLE {bulk} (LIKE monitoring_reading)")
    cursor.execute(
        f"INSERT INTO {bulk} (id, timestamp, value, error, channel_id)"  # noqa: S608
        " SELECT %s + c.k * 1000000 + m.i, %s::timestamptz + m.i * interval '1 minute',"
        " 5 + 1.5 * sin(m.i / 90.0 + c.k) + (c.k %% 3), '', c.id"
        " FROM unnest(%s::bigint[]) WITH ORDINALITY AS c(id, k), generate_series(0, %s - 1) AS m(i)",
        [id_base, first, channel_ids, minutes],
    )
    added = cursor.rowcount
    cursor.execute(f"INSERT INTO {bulk} SELECT * FROM {name}")  # noqa: S608 (the device's own rows)
    cursor.execute(f"ALTER TABLE {bulk} ADD PRIMARY KEY (id, timestamp)")
    cursor.execute(f"ALTER TABLE {bulk} ADD UNIQUE (channel_id, timestamp)")
    cursor.execute(
        f"ALTER TABLE {bulk} ADD CONSTRAINT {bulk}_in_month CHECK (timestamp >= %s AND timestamp < %s)",
        [start, end],
    )
    cursor.execute(
        "INSERT INTO monitoring_readingrollup (channel_id, hour, minimum, maximum, total, count, errors)"  # noqa: S608
        " SELECT channel_id, date_trunc('hour', timestamp, 'UTC'), min(value), max(value), sum(value),"
        f" count(value), count(*) - count(value) FROM {bulk} WHERE channel_id = ANY(%s) GROUP BY 1, 2",
        [channel_ids],
    )
    cursor.execute(f"DROP TABLE {name}")
    cursor.execute(f"ALTER TABLE {bulk} RENAME TO {name}")
    cursor.execute(
        f"ALTER TABLE monitoring_reading ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)", [start, end]
    )
    cursor.execute(f"ALTER TABLE {name} DROP CONSTRAINT {bulk}_in_month")
    return added


def _measure(client, device, channel, start, now) -> dict:
    from monitoring import selectors

    year = _timed(lambda: selectors.channel_series(channel, start, now))
    day = _timed(lambda: selectors.channel_series(channel, now - timedelta(days=1), now))
    url = f"/devices/{device.pk}/"
    page_year = _timed(lambda: client.get(url, {"range": "1y"}, headers={"HX-Request": "true"}))
    page_day = _timed(lambda: client.get(url, {"range": "24h"}, headers={"HX-Request": "true"}))
    # The machine's load while measuring: on a shared machine it moves the figures more than the data.
    load = os.getloadavg()[0]
    return {"year": year, "day": day, "page year": page_year, "page day": page_day, "load": load}


def _table_size(cursor) -> str:
    cursor.execute(
        "SELECT pg_size_pretty(sum(pg_total_relation_size(inhrelid))) FROM pg_inherits"
        " WHERE inhparent = 'monitoring_reading'::regclass"
    )
    return cursor.fetchone()[0]


def run() -> dict:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from monitoring.ingest import NewReadings, update_rollups
    from monitoring.models import Channel, Device, Reading
    from monitoring.partitions import create_month_partition
    from vendors.models import VendorAccount

    figures: dict = {}
    now = timezone.now().replace(second=0, microsecond=0)
    start = now - timedelta(minutes=YEAR_MINUTES)
    extra_channels = max(0, math.ceil((TARGET_ROWS - YEAR_MINUTES) / YEAR_MINUTES))
    free = shutil.disk_usage("/").free
    # About 125 bytes a reading with both keys, plus the rollups: say so rather than fill the disk.
    needed = TARGET_ROWS * 130
    if needed > free * 0.8:
        figures["note"] = (
            f"{TARGET_ROWS:,} readings need about {needed / 1e9:.0f} GB, {free / 1e9:.0f} GB free"
        )
        extra_channels = int(free * 0.8 / 130 // YEAR_MINUTES)

    account = VendorAccount.objects.create(
        vendor="thermotrack", name="benchmark", credentials={"api_key": "k-benchmark-000"}
    )
    user = User.objects.create_user("benchmark", password="not used: force_login")
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    device = Device.objects.create(account=account, vendor_id="bench-year", name="Benchmark fridge")
    channel = Channel.objects.create(device=device, name="temp", quantity="temperature", unit="C")

    began = time.perf_counter()
    with connection.cursor() as cursor:
        for month, _, _ in _minute_spans(start, now + timedelta(minutes=1)):
            create_month_partition("monitoring_reading", month)
        cursor.execute(
            "INSERT INTO monitoring_reading (channel_id, timestamp, value, error)"
            " SELECT %s, %s::timestamptz + i * interval '1 minute',"
            " round((5.0 + 1.5 * sin(i / 90.0) + CASE WHEN i %% 100000 = 0 THEN 9 ELSE 0 END)::numeric, 2),"
            " ''"
            " FROM generate_series(0, %s - 1) AS i",
            [channel.pk, start, YEAR_MINUTES],
        )
    new = NewReadings()
    new.add(channel.pk, YEAR_MINUTES, start, start + timedelta(minutes=YEAR_MINUTES - 1))
    update_rollups(new)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE monitoring_reading")
        cursor.execute("ANALYZE monitoring_readingrollup")
    figures["the device's year stored (s)"] = time.perf_counter() - began
    small_rows = Reading.objects.count()
    small = _measure(client, device, channel, start, now)
    figures["readings in the table, first"] = small_rows

    began = time.perf_counter()
    others = Channel.objects.bulk_create(
        Channel(
            device=Device.objects.create(account=account, vendor_id=f"bench-{k}", name=f"Bench {k}"),
            name="temp",
            quantity="temperature",
            unit="C",
        )
        for k in range(extra_channels)
    )
    other_ids = [c.pk for c in others]
    added = 0
    with connection.cursor() as cursor:
        for number, (month, first, minutes) in enumerate(_minute_spans(start, now + timedelta(minutes=1))):
            added += _generate(cursor, month, first, minutes, other_ids, id_base=10**12 + number * 10**9)
            print(f"      {month:%Y-%m}: {added:,} readings added so far", flush=True)
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('monitoring_reading', 'id'),"
            " (SELECT max(id) FROM monitoring_reading))"
        )
        cursor.execute("ANALYZE monitoring_reading")
        cursor.execute("ANALYZE monitoring_readingrollup")
        figures["other readings generated (s)"] = time.perf_counter() - began
        figures["size of the readings' partitions, keys included"] = _table_size(cursor)
    large_rows = small_rows + added
    large = _measure(client, device, channel, start, now)
    figures["readings in the table, then"] = large_rows

    for label, key in (
        ("selector, one year", "year"),
        ("selector, one day", "day"),
        ("chart request, one year", "page year"),
        ("chart request, one day", "page day"),
    ):
        figures[f"{label}: ms at {small_rows / 1e6:.1f} M / at {large_rows / 1e6:.1f} M (median)"] = (
            f"{small[key] * 1000:.1f} / {large[key] * 1000:.1f}"
        )
    figures["load average (1 min) while measuring, first / then"] = (
        f"{small['load']:.1f} / {large['load']:.1f}"
    )
    ratio = large["year"] / small["year"]
    figures["selector, one year: ratio (goal <= 1.5)"] = ratio
    figures["chart request, one year: ratio"] = large["page year"] / small["page year"]
    figures["goal met"] = ratio <= MAX_RATIO and large_rows >= TARGET_ROWS
    return figures
