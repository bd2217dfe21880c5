"""Serve simulators over HTTP: all of them on one port, one path prefix per vendor."""

from __future__ import annotations

import json
import threading

from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from .base import VendorSimulator


class ControlApp:
    """``POST /_control/<vendor>/faults`` changes a simulator's faults while it runs;
    ``GET`` of the same path shows them; ``GET /_control/<vendor>/statuses`` counts its answers by status."""

    def __init__(self, simulators: dict[str, VendorSimulator]):
        self.simulators = simulators

    def __call__(self, environ, start_response):
        request = Request(environ)
        parts = request.path.strip("/").split("/")
        simulator = (
            self.simulators.get(parts[0]) if len(parts) == 2 and parts[1] in ("faults", "statuses") else None
        )
        if simulator is not None and parts[1] == "statuses":
            response = Response(json.dumps(dict(simulator.statuses)), mimetype="application/json")
        elif simulator is None:
            response = Response(json.dumps({"error": "not found"}), status=404, mimetype="application/json")
        elif request.method == "POST":
            try:
                values = json.loads(request.get_data() or b"{}")
                if values.pop("reset", False):
                    simulator.faults.reset()
                simulator.faults.update(**values)
            except (ValueError, TypeError) as exc:
                response = Response(json.dumps({"error": str(exc)}), status=400, mimetype="application/json")
            else:
                response = Response(json.dumps(simulator.faults.as_dict()), mimetype="application/json")
        else:
            response = Response(json.dumps(simulator.faults.as_dict()), mimetype="application/json")
        return response(environ, start_response)


class QuietRequestHandler(WSGIRequestHandler):
    """No access log: a vendor URL may carry a token in its query string (GPSWOX's user_api_hash)."""

    def log_request(self, code="-", size="-") -> None:
        return None


def not_found(environ, start_response):
    return Response("Not Found", status=404)(environ, start_response)


class SimulatorServer:
    """Runs simulators on ``host:port`` in a background thread (port 0 picks a free port)."""

    def __init__(self, simulators: list[VendorSimulator], host: str = "127.0.0.1", port: int = 0):
        self.simulators = {s.slug: s for s in simulators}
        mounts = {f"/{slug}": sim for slug, sim in self.simulators.items()}
        mounts["/_control"] = ControlApp(self.simulators)
        self.app = DispatcherMiddleware(not_found, mounts)
        self.server = make_server(host, port, self.app, threaded=True, request_handler=QuietRequestHandler)
        self.server.daemon_threads = True
        self.host = host
        self.port = self.server.server_port
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def base_url(self, slug: str) -> str:
        return f"{self.url}/{slug}"

    def describe(self, slug: str) -> dict:
        """What an account needs to talk to this simulator (the line ``simulate`` prints)."""
        sim = self.simulators[slug]
        return {
            "vendor": slug,
            "base_url": self.base_url(slug),
            "timezone": sim.timezone,
            "credentials": sim.credentials,
        }

    def start(self) -> SimulatorServer:
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name="simulators", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread:
            self._thread.join(timeout=5)
