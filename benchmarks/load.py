"""Load: a sync of 1,000 devices across the five simulators with two workers, and the pages under 50 clients.

1. Sync at scale: the five simulators (``simulate --devices-per-vendor 200``) in their own process, two
   Celery workers on Redis, the accounts backfilled (one day), then one beat interval's sync of all
   1,000 devices timed: goal within the 5-minute beat interval, with zero 429s from the vendors.
2. Pages: gunicorn (production settings, 2 x cores + 1 workers) on PostgreSQL with those 1,000 devices
   and a year of hourly readings before them (bulk-loaded, then vacuumed as after any bulk load); first
   each page alone (one client, median), then 50 logged-in clients without pause for 30 seconds on the
   overview, a device chart (a year) and the alerts list: requests a second, p50/p95/p99 latency, errors
   (goal: none). With every client always waiting, the latency is mostly the queue: about
   clients / (requests a second).

Everything listens on loopback only, and every loop is bounded in time.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

import requests
from django.conf import settings
from django.db import connection
from django.utils import timezone

from vendors.models import VendorAccount

ROOT = Path(__file__).resolve().parent.parent
# Redis databases of its own (it empties them): BENCH_BROKER_URL and BENCH_CACHE_URL choose others.
BROKER = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/6")
CACHE = os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/7")
DEVICES_PER_VENDOR = 200
BEAT_INTERVAL = 300
CLIENTS = 50
LOAD_SECONDS = 30
# gunicorn's own advice for synchronous workers: 2 x cores + 1, one thread each.
GUNICORN_WORKERS = 2 * (os.cpu_count() or 1) + 1
GUNICORN_THREADS = 1


def run() -> dict:
    figures: dict = {}
    simulator = start_simulators()
    workers: list[subprocess.Popen] = []
    try:
        described = [json.loads(simulator.stdout.readline()) for _ in range(5)]
        accounts = [
            VendorAccount.objects.create(
                vendor=d["vendor"],
                name=f"load {d['vendor']}",
                base_url=d["base_url"],
                timezone=d["timezone"],
                credentials=d["credentials"],
            )
            for d in described
        ]
        import redis

        for url in (BROKER, CACHE):
            redis.Redis.from_url(url).flushdb()
        workers = [start_worker(n) for n in (1, 2)]
        figures["backfill of one day, 5 accounts: seconds"] = sync_round(accounts, timeout=1200)
        devices = sum(a.devices.count() for a in accounts)
        figures["devices"] = devices
        seconds = sync_round(accounts, timeout=BEAT_INTERVAL * 2)
        figures["one beat interval's sync of every device: seconds (goal < 300)"] = seconds
        refusals = sum(
            requests.get(f"{d['base_url'].rsplit('/', 1)[0]}/_control/{d['vendor']}/statuses", timeout=10)
            .json()
            .get("429", 0)
            for d in described
        )
        figures["429s answered by the vendors (goal 0)"] = refusals
        figures["goal met"] = seconds < BEAT_INTERVAL and refusals == 0 and devices >= 1000
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=60)
        simulator.terminate()
        simulator.wait(timeout=10)
    try:
        figures.update(page_load())
    except Exception as exc:  # the sync figures above still count; say what stopped the pages
        figures["pages: failed"] = repr(exc)
        figures["goal met"] = False
    return figures


def bench_environment(**extra: str) -> dict:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{quote(db['HOST'] or '127.0.0.1', safe='')}"
        f":{db['PORT'] or 5432}/{db['NAME']}",
        "CELERY_BROKER_URL": BROKER,
        "CACHE_URL": CACHE,
        "SYNC_BACKFILL_DAYS": "1",
        "CREDENTIALS_KEYS": ",".join(settings.CREDENTIALS_KEYS),
        "SECRET_KEY": settings.SECRET_KEY,
    }
    env.update(extra)
    return env


def start_simulators() -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "simulate",
            "--port",
            "0",
            "--devices-per-vendor",
            str(DEVICES_PER_VENDOR),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


def start_worker(n: int) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "coldchain",
            "worker",
            "--concurrency",
            "1",
            "--loglevel",
            "warning",
            "-n",
            f"bench{n}@%h",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=ROOT,
        env=bench_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def sync_round(accounts: list[VendorAccount], timeout: float) -> float:
    """Make every account due, let beat's task fan out, and wait until each has synced."""
    from coldchain.celery import app

    started = timezone.now()
    VendorAccount.objects.filter(pk__in=[a.pk for a in accounts]).update(next_sync_at=None)
    clock = time.perf_counter()
    with app.connection_for_write(BROKER) as conn:
        app.send_task("vendors.tasks.sync_due_accounts", connection=conn)
    deadline = clock + timeout
    while time.perf_counter() < deadline:
        done = VendorAccount.objects.filter(
            pk__in=[a.pk for a in accounts], last_success_at__gt=started
        ).count()
        failed = VendorAccount.objects.filter(pk__in=[a.pk for a in accounts], last_error_at__gt=started)
        if failed.exists():
            raise RuntimeError("; ".join(failed.values_list("last_error", flat=True)))
        if done == len(accounts):
            return time.perf_counter() - clock
        time.sleep(0.5)
    raise TimeoutError(f"the accounts did not sync within {timeout} s")


# -- pages ------------------------------------------------------------------------------------------


def add_a_year_of_hourly_readings() -> int:
    """A year of hourly readings before the synced day, for every channel, with their hourly rollups.

    Written with SQL (``generate_series``): one reading an hour, so each hour's rollup is that reading.
    """
    series = """
        FROM monitoring_channel c,
             generate_series(date_trunc('hour', now()) - interval '366 days',
                             date_trunc('hour', now()) - interval '2 days', interval '1 hour') AS t
    """
    value = "5 + 3 * sin(extract(epoch FROM t) / 86400.0 + c.id)"
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO monitoring_reading (channel_id, timestamp, value, error) "
            f"SELECT c.id, t, {value}, '' {series} ON CONFLICT DO NOTHING"
        )
        added = cursor.rowcount
        cursor.execute(
            "INSERT INTO monitoring_readingrollup (channel_id, hour, minimum, maximum, total, count, errors) "
            f"SELECT c.id, t, {value}, {value}, {value}, 1, 0 {series} ON CONFLICT DO NOTHING"
        )
    # As after any bulk load: without it, autovacuum wakes up for the 13 M new rows during the page load.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) monitoring_reading, monitoring_readingrollup")
    return added


def page_urls() -> list[str]:
    """The overview, a device chart (a year) and the alerts list."""
    from django.urls import reverse

    from monitoring.models import Device

    device = Device.objects.filter(channels__isnull=False).order_by("pk").first()
    return [reverse("overview"), device_chart_url(device), reverse("alerts")]


def device_chart_url(device) -> str:
    from django.urls import NoReverseMatch, reverse

    for name, query in (("device_chart", "?range=1y"), ("device_detail", "?range=1y")):
        try:
            return reverse(name, args=[device.pk]) + query
        except NoReverseMatch:
            continue
    raise RuntimeError("no device chart URL")


def page_load() -> dict:
    from django.contrib.auth.models import Group, User

    added = add_a_year_of_hourly_readings()
    password = secrets.token_urlsafe(16)
    user = User.objects.create_user("load-qa", password=password)
    user.groups.add(Group.objects.get(name="QA"))
    figures = {"readings in the database (a year, hourly, plus the synced day)": added}
    baseline = os.environ.get("BENCH_BASELINE_CHECKOUT")
    if not baseline:
        figures.update(measure_pages(bench_environment(), "load-qa", password))
        return figures
    # Each checkout in turn on the same data, so that a machine shared with other work loads both alike.
    rounds = int(os.environ.get("BENCH_LOAD_ROUNDS", "3"))
    runs: dict[str, list[dict]] = {"this checkout": [], "baseline": []}
    for _ in range(rounds):
        for name, root in (("this checkout", ROOT), ("baseline", Path(baseline))):
            runs[name].append(measure_pages(bench_environment(), "load-qa", password, root=root))
    figures["baseline checkout"] = baseline
    figures["rounds (each checkout in turn)"] = rounds
    for name, results in runs.items():
        for key in ("requests a second", "latency p50 (ms)", "latency p95 (ms)", "errors (goal 0)"):
            values = [r[key] for r in results]
            figures[f"{name}: {key} (median; each round)"] = (
                f"{statistics.median(values):,.1f}; " + ", ".join(f"{v:,.1f}" for v in values)
            )
        for key in results[0]:
            if key.startswith("one client alone"):
                figures[f"{name}: {key}"] = statistics.median(r[key] for r in results)
    ours = statistics.median(r["requests a second"] for r in runs["this checkout"])
    theirs = statistics.median(r["requests a second"] for r in runs["baseline"])
    figures["requests a second, this checkout / baseline"] = ours / theirs
    return figures


def measure_pages(
    environment: dict, username: str, password: str, root: Path = ROOT, urls: list[str] | None = None
) -> dict:
    """gunicorn with production settings; CLIENTS logged-in clients cycle through the pages for
    LOAD_SECONDS. The clients log in before the clock starts: the figures are the pages', not the
    password hashing's (a login costs about as much CPU as twenty pages)."""
    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="coldchain-load-"))
    production = {
        **environment,
        "DJANGO_DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "COOKIES_SECURE": "0",  # plain HTTP on loopback
        "COLDCHAIN_DATA_DIR": str(data_dir),
    }
    static = [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"]
    subprocess.run(static, cwd=root, env=production, check=True)
    gunicorn = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "coldchain.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(GUNICORN_WORKERS),
            "--threads",
            str(GUNICORN_THREADS),
            "--log-level",
            "warning",
        ],
        cwd=root,
        env=production,
        stderr=subprocess.DEVNULL,  # axes logs every login at INFO
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base)
        urls = urls or page_urls()
        sessions = [login(base, username, password) for _ in range(CLIENTS)]
        alone = {url: single_client_median(sessions[0], base + url) for url in urls}
        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        start = threading.Barrier(CLIENTS + 1)
        stop_at = 0.0

        def client(number: int, session: requests.Session) -> None:
            start.wait()
            n = number  # the clients start on different pages
            while time.perf_counter() < stop_at:
                url = urls[n % len(urls)]
                n += 1
                started = time.perf_counter()
                try:
                    answer = session.get(base + url, timeout=30)
                    ok = answer.status_code == 200
                except requests.RequestException as exc:
                    ok, answer = False, exc
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    if not ok:
                        errors.append(f"{url}: {getattr(answer, 'status_code', answer)}")

        threads = [threading.Thread(target=client, args=(n, s)) for n, s in enumerate(sessions)]
        for thread in threads:
            thread.start()
        stop_at = time.perf_counter() + LOAD_SECONDS
        began = time.perf_counter()
        start.wait()
        for thread in threads:
            thread.join(timeout=LOAD_SECONDS + 60)
        wall = time.perf_counter() - began
    finally:
        gunicorn.terminate()
        try:
            gunicorn.wait(timeout=30)
        except subprocess.TimeoutExpired:
            gunicorn.kill()
            gunicorn.wait(timeout=30)
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "pages": ", ".join(urls),
        **{f"one client alone, median (ms): {url}": seconds * 1000 for url, seconds in alone.items()},
        "clients": CLIENTS,
        "requests": len(latencies),
        "requests a second": len(latencies) / wall,
        "latency p50 (ms)": quantiles[49] * 1000,
        "latency p95 (ms)": quantiles[94] * 1000,
        "latency p99 (ms)": quantiles[98] * 1000,
        "errors (goal 0)": len(errors),
        **({"errors, the first ones": "; ".join(errors[:5])} if errors else {}),
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def single_client_median(session: requests.Session, url: str, times: int = 5) -> float:
    """What a page costs with nobody else asking: under load, the rest of the latency is the queue."""
    latencies = []
    for _ in range(times):
        started = time.perf_counter()
        session.get(url, timeout=30).raise_for_status()
        latencies.append(time.perf_counter() - started)
    return statistics.median(latencies)


def wait_until_up(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(base + "/login/", timeout=30)
            return
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or workers still booting
            time.sleep(0.5)
    raise TimeoutError("gunicorn did not start")


def login(base: str, username: str, password: str) -> requests.Session:
    session = requests.Session()
    session.get(base + "/login/", timeout=30)
    answer = session.post(
        base + "/login/",
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"Referer": base + "/login/"},
        timeout=30,
    )
    answer.raise_for_status()
    return session
