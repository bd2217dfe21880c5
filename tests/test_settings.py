"""Settings come from the environment only; a bad variable stops start-up with a clear message."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    # DATABASE_URL stays: the session's database (without it manage.py would start the embedded
    # PostgreSQL of the checkout's var/).
    environment = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE",)}
    for name in ("DJANGO_DEBUG", "SECRET_KEY", "CREDENTIALS_KEYS", "ALLOWED_HOSTS"):
        environment.pop(name, None)
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_passes_the_deployment_checks_with_the_documented_variables():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_DEBUG="0",
        SECRET_KEY=Fernet.generate_key().decode() * 2,
        CREDENTIALS_KEYS=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="coldchain.example.com",
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DJANGO_DEBUG": "maybe"}, "DJANGO_DEBUG"),
        ({"DJANGO_DEBUG": "0"}, "SECRET_KEY"),
        ({"DJANGO_DEBUG": "0", "SECRET_KEY": "x" * 60}, "CREDENTIALS_KEYS"),
        ({"DATABASE_URL": "nosuchdb://somewhere/x"}, "DATABASE_URL"),
        ({"DATABASE_URL": "mysql://somewhere/x"}, "DATABASE_URL"),
        ({"CELERY_BROKER_URL": "carrier-pigeon://loft"}, "CELERY_BROKER_URL"),
        ({"CACHE_URL": "memcached://x"}, "CACHE_URL"),
        ({"EMAIL_PORT": "twenty-five"}, "EMAIL_PORT"),
        ({"TIME_ZONE": "Mars/Olympus_Mons"}, "TIME_ZONE"),
        ({"SYNC_BACKFILL_DAYS": "0"}, "SYNC_BACKFILL_DAYS"),
        ({"CREDENTIALS_KEYS": "not-a-fernet-key"}, "CREDENTIALS_KEYS"),
        ({"AXES_LOCKOUT_PARAMETERS": "username,password"}, "AXES_LOCKOUT_PARAMETERS"),
        ({"ERROR_EMAILS_LIMIT": "many"}, "ERROR_EMAILS_LIMIT"),
    ],
)
def test_it_refuses_a_bad_variable_with_a_message_that_names_it(env, named):
    result = manage("check", **env)
    assert result.returncode != 0
    assert named in result.stderr
    assert "Traceback" not in result.stderr


def test_it_refuses_a_sqlite_database_and_says_postgresql_is_needed():
    result = manage("check", DATABASE_URL="sqlite:///var/coldchain.sqlite3")
    assert result.returncode != 0
    assert "DATABASE_URL: PostgreSQL (15 or newer) is the only database supported" in result.stderr
    assert "'sqlite'" in result.stderr and "Traceback" not in result.stderr


def test_production_needs_a_database_url():
    result = manage(
        "check",
        DJANGO_DEBUG="0",
        SECRET_KEY="x" * 60,
        CREDENTIALS_KEYS=Fernet.generate_key().decode(),
        DATABASE_URL="",
    )
    assert result.returncode != 0
    assert "DATABASE_URL: required when DJANGO_DEBUG=0" in result.stderr
