"""50 clients without pause on the overview of 1,000 devices alone, each checkout in turn.

The fleet of the ``overview`` benchmark (1,000 devices, 2,000 channels, rules and excursions), committed
to the throw-away database; gunicorn with production settings as in ``load``; 50 logged-in clients ask
for the overview for 30 seconds: requests a second, latency, errors. ``BENCH_BASELINE_CHECKOUT`` (a
directory holding another checkout, e.g. ``git archive main | tar -x -C DIR``) measures that checkout's
pages too, in turn with this one (``BENCH_LOAD_ROUNDS`` rounds, default 3), on the same data: on a
machine shared with other work, only figures taken side by side compare. ``BENCH_LOAD_PAGES=mix``: the
clients cycle through the pages of ``load`` (the overview, a year's chart, the alerts) instead.
"""

from __future__ import annotations

import os
import secrets
import statistics
from pathlib import Path

from benchmarks.load import ROOT, bench_environment, measure_pages
from benchmarks.overview import make_fleet

KEYS = ("requests a second", "latency p50 (ms)", "latency p95 (ms)", "errors (goal 0)")


def run() -> dict:
    from django.contrib.auth.models import Group, User

    make_fleet()
    urls = ["/"]
    if os.environ.get("BENCH_LOAD_PAGES") == "mix":
        # The mix of ``load`` (the overview, a device's chart over a year, the alerts) on this fleet: a
        # year of hourly readings for the charted device only, so that it takes minutes, not half an hour.
        urls = mix_urls()
    password = secrets.token_urlsafe(16)
    user = User.objects.create_user("load-overview", password=password)
    user.groups.add(Group.objects.get(name="QA"))
    checkouts = {"this checkout": ROOT}
    if os.environ.get("BENCH_BASELINE_CHECKOUT"):
        checkouts["baseline"] = Path(os.environ["BENCH_BASELINE_CHECKOUT"])
    rounds = int(os.environ.get("BENCH_LOAD_ROUNDS", "3"))
    runs: dict[str, list[dict]] = {name: [] for name in checkouts}
    for _ in range(rounds):
        for name, root in checkouts.items():
            runs[name].append(
                measure_pages(bench_environment(), "load-overview", password, root=root, urls=urls)
            )
    figures: dict = {
        "rounds (each checkout in turn)": rounds,
        "load average (1 min) at the end": os.getloadavg()[0],
    }
    for name, results in runs.items():
        for key in KEYS:
            values = [r[key] for r in results]
            figures[f"{name}: {key} (median; each round)"] = (
                f"{statistics.median(values):,.1f}; " + ", ".join(f"{v:,.1f}" for v in values)
            )
        for url in urls:
            figures[f"{name}: one client alone, median (ms): {url}"] = statistics.median(
                r[f"one client alone, median (ms): {url}"] for r in results
            )
    median = {
        name: statistics.median(r["requests a second"] for r in results) for name, results in runs.items()
    }
    errors = sum(r["errors (goal 0)"] for r in runs["this checkout"])
    if "baseline" in median:
        figures["requests a second, this checkout / baseline (goal at least 4)"] = (
            median["this checkout"] / median["baseline"]
        )
    figures["goal met"] = errors == 0 and (
        "baseline" not in median or median["this checkout"] / median["baseline"] >= 4
    )
    return figures


def mix_urls() -> list[str]:
    from django.db import connection
    from django.urls import reverse

    from benchmarks.load import device_chart_url
    from monitoring.models import Device

    device = Device.objects.filter(channels__isnull=False).order_by("pk").first()
    series = """
        FROM monitoring_channel c,
             generate_series(date_trunc('hour', now()) - interval '366 days',
                             date_trunc('hour', now()) - interval '1 hour', interval '1 hour') AS t
        WHERE c.device_id = %s
    """
    value = "5 + 3 * sin(extract(epoch FROM t) / 86400.0 + c.id)"
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO monitoring_reading (channel_id, timestamp, value, error) "
            f"SELECT c.id, t, {value}, '' {series} ON CONFLICT DO NOTHING",
            [device.pk],
        )
        cursor.execute(
            "INSERT INTO monitoring_readingrollup (channel_id, hour, minimum, maximum, total, count, errors) "
            f"SELECT c.id, t, {value}, {value}, {value}, 1, 0 {series} ON CONFLICT DO NOTHING",
            [device.pk],
        )
        cursor.execute("ANALYZE monitoring_reading")
        cursor.execute("ANALYZE monitoring_readingrollup")
    return [reverse("overview"), device_chart_url(device), reverse("alerts")]
