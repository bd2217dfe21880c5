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
