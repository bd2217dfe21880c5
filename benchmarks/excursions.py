"""Benchmark of the excursion engine: its cost grows with the new data, not with the history.

Evaluates 1,000 new readings on a channel with one year of history and on a channel with one day of
history; the ratio of the times must stay at most 1.5. Everything runs inside one transaction that is
rolled back, so the configured database is left as it was.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from datetime import UTC, datetime, timedelta

NEW_READINGS = 1000
INTERVAL = timedelta(minutes=10)
REPEATS = 7
MAX_RATIO = 1.5


def _setup_django() -> None:
    from django.apps import apps

    if not apps.ready:
        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "coldchain.settings")
        django.setup()


def _fridge_value(i: int) -> float:
    return round(5.0 + 1.5 * math.sin(i / 20.0), 1)


def _channel_with_history(device, name: str, history: timedelta, now: datetime):
    from monitoring.models import Channel, Reading

    channel = Channel.objects.create(device=device, name=name, quantity="temperature", unit="C")
    count = int(history / INTERVAL)
    start = now - history - NEW_READINGS * INTERVAL
    Reading.objects.bulk_create(
        (
            Reading(channel=channel, timestamp=start + i * INTERVAL, value=_fridge_value(i))
            for i in range(count + NEW_READINGS)
        ),
        batch_size=5000,
    )
    # Evaluated up to the last reading of the history: the new readings are ahead of the watermark.
    watermark = start + (count - 1) * INTERVAL
    return channel, watermark


def _time_evaluation(channel_and_watermark) -> float:
    from monitoring.excursions import evaluate_channels
    from monitoring.models import Channel

    channel, watermark = channel_and_watermark
    times = []
    for _ in range(REPEATS):
        Channel.objects.filter(pk=channel.pk).update(evaluated_until=watermark, pending_from=None)
        began = time.perf_counter()
        evaluate_channels([channel.pk])
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def run() -> dict:
    _setup_django()
    from django.db import connection, transaction

    from monitoring.models import AlarmRule, Device
    from vendors.models import VendorAccount

    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    with transaction.atomic():
        account = VendorAccount.objects.create(
            vendor="thermotrack", name="benchmark (rolled back)", credentials={"api_key": "k-benchmark-000"}
        )
        device = Device.objects.create(account=account, vendor_id="bench", name="Benchmark fridge")
        AlarmRule.objects.create(
            name="2–8 °C",
            device=device,
            low_limit=2,
            high_limit=8,
            delay_minutes=30,
            clear_margin=0.5,
            daily_budget_minutes=60,
            no_data_minutes=60,
        )
        year_new = _channel_with_history(device, "year", timedelta(days=365), now)
        day_new = _channel_with_history(device, "day", timedelta(days=1), now)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE monitoring_reading")
        year = _time_evaluation(year_new)
        day = _time_evaluation(day_new)
        transaction.set_rollback(True)
    ratio = year / day
    return {
        "name": "excursion engine: 1,000 new readings, 1 year vs 1 day of history",
        "seconds_with_1_year_history": round(year, 4),
        "seconds_with_1_day_history": round(day, 4),
        "ratio": round(ratio, 3),
        "max_ratio": MAX_RATIO,
        "ok": ratio <= MAX_RATIO,
    }


if __name__ == "__main__":
    print(run())
