"""A loopback HTTP server for the parser fuzz tests: a vendor simulator behind a switchable proxy.

``FuzzProxy`` stands in front of one real simulator. Every request is given an *endpoint key* (the
vendor's method or path pattern). A request whose key is ``proxy.target`` gets ``proxy.answer`` (the
body the current Hypothesis example chose); every other request is answered by the simulator, so a
login or a listing the client needs first still works. In recording mode the proxy keeps the richest
(longest) real answer of every key, to be mutated by the tests.
"""

from __future__ import annotations

import io
import re
import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from werkzeug.wrappers import Request, Response

from vendors.simulators.base import VendorSimulator


@dataclass
class Answer:
    body: bytes
    status: int = 200
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def thermotrack_key(request: Request, form: dict[str, list[str]]) -> str:
    return (form.get("method") or [""])[0]


def path_key(request: Request, form: dict[str, list[str]]) -> str:
    return request.path.rstrip("/") or "/"


_THINGSEE_ID = re.compile(r"^/(things|groups)/(?!alerts$)[^/]+")


def thingsee_key(request: Request, form: dict[str, list[str]]) -> str:
    """``GET /things/{id}/messages``: the method and the path with the thing or group id replaced."""
    path = _THINGSEE_ID.sub(r"/\1/{id}", request.path.rstrip("/")) or "/"
    return f"{request.method} {path}"


ENDPOINT_KEYS = {
    "thermotrack": thermotrack_key,
    "tandd": path_key,
    "trackunit": path_key,
    "thingsee": thingsee_key,
    "trackgps": path_key,
}


class FuzzProxy:
    """WSGI app mounted under the simulator's slug (``SimulatorServer`` mounts by ``slug``)."""

    # More requests than this in one example answer 503: a client looping on a lying answer ends
    # (with an UnavailableError) instead of hanging the test run; ``budget_trips`` counts it.
    request_budget = 400

    def __init__(self, simulator: VendorSimulator):
        self.simulator = simulator
        self.slug = simulator.slug
        self.key_of = ENDPOINT_KEYS[self.slug]
        self.lock = threading.Lock()
        self.target: str | None = None
        self.answer: Answer | None = None
        self.recording = False
        self.recorded: dict[str, tuple[int, str, bytes]] = {}
        self.keys_seen: list[str] = []
        self.requests = 0
        self.budget_trips = 0

    def fuzz(self, target: str, answer: Answer) -> None:
        with self.lock:
            self.target, self.answer, self.requests = target, answer, 0
            self.keys_seen = []

    def passthrough(self) -> None:
        with self.lock:
            self.target, self.answer, self.requests = None, None, 0

    def __call__(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(raw)
        request = Request(dict(environ, **{"wsgi.input": io.BytesIO(raw)}))
        form = parse_qs(raw.decode("latin-1")) if b"=" in raw and not raw.lstrip().startswith(b"{") else {}
        key = self.key_of(request, form)
        with self.lock:
            self.requests += 1
            self.keys_seen.append(key)
            over_budget = self.requests > self.request_budget
            if over_budget:
                self.budget_trips += 1
            answer = self.answer if self.target is not None and key == self.target else None
        if over_budget:
            return Response(b"budget", status=503)(environ, start_response)
        if answer is not None:
            response = Response(answer.body, status=answer.status, content_type=answer.content_type)
            for name, value in answer.headers.items():
                response.headers[name] = value
            return response(environ, start_response)
        if not self.recording:
            return self.simulator(environ, start_response)
        captured: dict = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return start_response(status, headers, exc_info)

        body = b"".join(self.simulator(environ, capture))
        content_type = dict(captured["headers"]).get("Content-Type", "")
        status = int(captured["status"].split()[0])
        kept = self.recorded.get(key)
        if kept is None or (status == 200 and (kept[0] != 200 or len(body) > len(kept[2]))):
            self.recorded[key] = (status, content_type, body)  # the richest answer of each endpoint
        return [body]
