"""The overview of 1,000 devices: server time against the time of its own SQL queries.

1,000 devices of five vendor accounts in ten groups, two channels each, a group rule each, and the
problems a QA user meets (ongoing and ended excursions, sensor errors, silent loggers, flat batteries).
The overview is asked for ``ROUNDS`` times through Django's test client (the whole request: middleware,
session, view, template); each time the SQL of that request is timed at the database cursor. Figures:
medians of the server time and of the SQL time, their ratio (goal at most 3) and the server time (goal
at most 100 ms), the HTML's size and the query count. ``BENCH_PROFILE=1`` prints where the time goes
(cProfile, the 25 costliest functions by own time); ``BENCH_PROFILE_URL=chart`` or ``alerts`` profiles
that page of the ``overview_load`` mix instead.
Everything runs inside one transaction that is rolled back.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import statistics
import time
from datetime import timedelta

DEVICES = 1000
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "15"))
MAX_RATIO = 3.0
MAX_SECONDS = 0.100
VENDORS = ["thermotrack", "tandd", "trackunit", "thingsee", "trackgps"]
CREDENTIALS = {
    "thermotrack": {"api_key": "k-benchmark-000"},
    "tandd": {"api_key": "k", "login_id": "l", "login_pass": "p"},
    "trackunit": {"token": "t"},
    "thingsee": {"client_id": "c", "client_secret": "s"},
    "trackgps": {"email": "e@example.com", "password": "p"},
}


def make_fleet(count: int = DEVICES) -> None:
    """``count`` devices with the mix of states of a real fleet (about one in ten with a problem)."""
    from django.utils import timezone

    from monitoring.models import AlarmRule, Channel, DeploymentGroup, Device, Excursion
    from vendors.models import VendorAccount

    now = timezone.now()
    accounts = [
        VendorAccount.objects.create(vendor=v, name=f"bench {v}", credentials=CREDENTIALS[v]) for v in VENDORS
    ]
    groups = [DeploymentGroup.objects.create(name=f"Bench site {n}") for n in range(10)]
    for group in groups:
        AlarmRule.objects.create(name=f"{group.name} 2-8", group=group, low_limit=2, high_limit=8)
    devices = Device.objects.bulk_create(
        Device(
            account=accounts[i % len(accounts)],
            vendor_id=f"bench-{i}",
            name=f"Fridge {i:04d}",
            group=groups[i % len(groups)],
            battery=12 if i % 50 == 7 else 80,
            last_seen=now,
        )
        for i in range(count)
    )
    channels = []
    for i, device in enumerate(devices):
        seen = now - timedelta(hours=6) if i % 40 == 3 else now - timedelta(minutes=3)
        value = 11.0 if i % 30 == 1 else 5.0
        error = "E01" if i % 70 == 5 else ""
        channels.append(
            Channel(
                device=device,
                name="temp",
                quantity="temperature",
                unit="C",
                last_value=value,
                last_reading_at=seen,
                last_error=error,
            )
        )
        channels.append(
            Channel(
                device=device,
                name="humd",
                quantity="humidity",
                unit="%RH",
                last_value=45.0,
                last_reading_at=seen,
            )
        )
    channels = Channel.objects.bulk_create(channels)
    excursions = []
    for i, channel in enumerate(channels[::2]):
        if i % 30 == 1:  # out of range now
            excursions.append(Excursion(channel=channel, started_at=now - timedelta(hours=2), high_limit=8))
        if i % 25 == 2:  # ended, not acknowledged yet
            excursions.append(
                Excursion(
                    channel=channel,
                    started_at=now - timedelta(days=2),
                    ended_at=now - timedelta(days=2) + timedelta(hours=1),
                    high_limit=8,
                )
            )
    Excursion.objects.bulk_create(excursions)


def timed_request(client, url: str) -> tuple[float, float, int, int, int, float]:
    """(server seconds, SQL seconds, queries, bytes, status, CPU seconds of this process) of one GET.

    The CPU time is the request's own work (Python), without the waits: on a machine shared with other
    work the wall times grow with the load, the CPU time much less."""
    from django.db import connection

    sql = []

    def timer(execute, query, params, many, context):
        began = time.perf_counter()
        try:
            return execute(query, params, many, context)
        finally:
            sql.append(time.perf_counter() - began)

    with connection.execute_wrapper(timer):
        began, cpu = time.perf_counter(), time.process_time()
        response = client.get(url)
        server, cpu = time.perf_counter() - began, time.process_time() - cpu
    return server, sum(sql), len(sql), len(response.content), response.status_code, cpu


def run() -> dict:
    from django.contrib.auth.models import Group, User
    from django.db import transaction
    from django.test import Client

    figures: dict = {}
    with transaction.atomic():
        make_fleet()
        user = User.objects.create_user("benchmark-qa", password="not used: force_login")
        user.groups.add(Group.objects.get(name="QA"))
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(user)
        for _ in range(3):  # warm up: templates, URL resolvers, the database's caches
            client.get("/")
        rounds = [timed_request(client, "/") for _ in range(ROUNDS)]
        server = statistics.median(r[0] for r in rounds)
        sql = statistics.median(r[1] for r in rounds)
        figures["rounds"] = ROUNDS
        figures["overview, 1,000 devices: server time (ms, median)"] = server * 1000
        figures["its SQL (ms, median)"] = sql * 1000
        figures["server time / SQL time (goal at most 3)"] = server / sql
        figures["CPU time of the request's process (ms, median)"] = (
            statistics.median(r[5] for r in rounds) * 1000
        )
        figures["load average (1 min) after"] = os.getloadavg()[0]
        figures["queries"] = rounds[-1][2]
        figures["HTML (bytes)"] = rounds[-1][3]
        figures["server time (ms): fastest, slowest"] = (
            f"{min(r[0] for r in rounds) * 1000:.1f}, {max(r[0] for r in rounds) * 1000:.1f}"
        )
        if os.environ.get("BENCH_PROFILE"):
            url = os.environ.get("BENCH_PROFILE_URL", "/")
            if url != "/":  # another page of the mix: "chart" or "alerts", on the mix's data
                from benchmarks.overview_load import mix_urls

                url = dict(zip(("overview", "chart", "alerts"), mix_urls(), strict=True))[url]
            for _ in range(3):
                client.get(url)
            profile = cProfile.Profile(time.process_time)  # CPU time: the waits are not ours to cut
            profile.enable()
            for _ in range(5):
                client.get(url)
            profile.disable()
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(25)
            print(out.getvalue())
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(40)
            print(out.getvalue())
            if os.environ.get("BENCH_PROFILE_CALLERS"):
                out = io.StringIO()
                stats = pstats.Stats(profile, stream=out).sort_stats("cumulative")
                stats.print_callers(os.environ["BENCH_PROFILE_CALLERS"])
                stats.print_callees(os.environ["BENCH_PROFILE_CALLERS"])
                print(out.getvalue())
        figures["goal met"] = (
            {r[4] for r in rounds} == {200} and server / sql <= MAX_RATIO and server <= MAX_SECONDS
        )
        transaction.set_rollback(True)
    return figures
