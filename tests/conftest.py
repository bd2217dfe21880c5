"""Fixtures shared by the whole suite."""

from __future__ import annotations

from datetime import UTC, datetime

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
