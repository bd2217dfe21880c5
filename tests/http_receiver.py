"""A small HTTP server on loopback that records what it receives (Apprise's json:// webhooks, our signed
webhooks) and answers with the status the test chose."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes


@dataclass
class Receiver:
    status: int = 200
    statuses: list[int] = field(default_factory=list)  # answered first, in order; then ``status``
    requests: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def url(self, schema: str = "http", path: str = "/hook", credentials: str = "") -> str:
        at = f"{credentials}@" if credentials else ""
        return f"{schema}://{at}127.0.0.1:{self.port}{path}"


def start_receiver() -> Receiver:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (the standard library's name)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            receiver.requests.append(Received(self.path, dict(self.headers), body))
            self.send_response(receiver.statuses.pop(0) if receiver.statuses else receiver.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    receiver.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=receiver.server.serve_forever, daemon=True).start()
    return receiver


@pytest.fixture
def receivers():
    """``receivers()`` starts a receiver for the test; all are stopped at the end."""
    started: list[Receiver] = []

    def start() -> Receiver:
        started.append(start_receiver())
        return started[-1]

    yield start
    for receiver in started:
        receiver.server.shutdown()
        receiver.server.server_close()
