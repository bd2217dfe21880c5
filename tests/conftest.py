"""Fixtures shared by the whole suite."""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from vendors.simulators import SimulatorServer, World

# The simulated world's "now" in tests: fixed, so every run sees the same data.
FIXED_NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session", autouse=True)
def _test_database_housekeeping_past_the_triggers():
    """Django's transactional tests empty the test database after each test (``flush``: TRUNCATE) and
    those with ``serialized_rollback`` load the migrated data back (a save of each row). PostgreSQL
    refuses the first on the permanent records, and the audit and rule version triggers would write rows
    for the second: both run here with django-pgtrigger's triggers ignored. Nothing in the product can
    do either (``manage.py flush`` is refused)."""
    import pgtrigger
    from django.core.management.commands import flush
    from django.db.backends.base.creation import BaseDatabaseCreation

    original_flush = flush.Command.handle
    original_load = BaseDatabaseCreation.deserialize_db_from_string

    def flush_handle(self, *args, **options):
        with pgtrigger.ignore():
            return original_flush(self, *args, **options)

    def load(self, data):
        with pgtrigger.ignore():
            return original_load(self, data)

    flush.Command.handle = flush_handle
    BaseDatabaseCreation.deserialize_db_from_string = load
    yield
    flush.Command.handle = original_flush
    BaseDatabaseCreation.deserialize_db_from_string = original_load


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, request) -> None:
    """Each half of ``make test`` (pytest-split's ``--group N``) on a test database of its own."""
    from django.conf import settings

    group = request.config.getoption("group", None)
    if not group:
        return
    for database in settings.DATABASES.values():
        test = database.setdefault("TEST", {})
        if not test.get("MIRROR"):
            test["NAME"] = f"{test.get('NAME') or 'test_' + database['NAME']}_half{group}"


@pytest.fixture(autouse=True)
def no_tile_server(settings):
    """No test reaches another host: the map's tile server is a closed port here, unless a test sets its
    own (the map then draws its offline base map)."""
    settings.MAP_TILE_URL = "http://127.0.0.1:9/{z}/{x}/{y}.png"


@pytest.fixture
def world() -> World:
    return World(seed=7, clock=lambda: FIXED_NOW.timestamp())


@pytest.fixture
def serve():
    """``serve(sim1, sim2, ...)`` runs simulators on a free loopback port for the test; returns the server."""
    servers: list[SimulatorServer] = []

    def start(*simulators) -> SimulatorServer:
        server = SimulatorServer(list(simulators)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def postgres_folder() -> Path:
    """A fresh folder for an embedded PostgreSQL, outside pytest's ``tmp_path`` tree.

    Under root the server runs as another user, who must be able to reach its data folder; pytest makes
    its own temporary tree private again (0700) whenever any pytest session starts, which would lock a
    running server out of its own files.
    """
    folder = Path(tempfile.mkdtemp(prefix="coldchain-test-folder-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Among the tests that commit (transactional, live server), those with ``serialized_rollback`` first.

    Such a test starts from the migrated data (the roles, the schedules) reloaded from a copy. A plain
    transactional test ends with a flush that makes content types and permissions again under new ids,
    and reloading the copy after that collides with them: so the plain ones come last. pytest-django has
    already put the database tests in Django's order; this keeps that order otherwise (a stable sort).
    """
    from pytest_django.fixtures import validate_django_db

    def commits(item: pytest.Item) -> tuple[bool, bool]:
        marker = item.get_closest_marker("django_db")
        transaction = serialized = False
        if marker is not None:
            transaction, reset_sequences, _databases, serialized, _apps = validate_django_db(marker)
            transaction = transaction or reset_sequences
        fixtures = getattr(item, "fixturenames", [])
        return transaction or "transactional_db" in fixtures or "live_server" in fixtures, bool(serialized)

    flags = [commits(item) for item in items]
    positions = [n for n, (transactional, _) in enumerate(flags) if transactional]
    ordered = sorted(positions, key=lambda n: not flags[n][1])
    moved = [items[n] for n in ordered]
    for n, item in zip(positions, moved, strict=True):
        items[n] = item
