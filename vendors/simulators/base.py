"""The base of every vendor simulator: a WSGI application with faults and a view of the truth.

A vendor simulator subclasses ``VendorSimulator``, lists its devices in ``devices``, answers requests in
``dispatch`` exactly as the vendor's documentation (and docs/vendors.md) says, and
renders errors in the vendor's own shape in ``error_response``. The base applies the injected faults
around ``dispatch`` so each vendor only says how its errors look.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from datetime import datetime

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from .faults import Faults
from .world import SimDevice, TruthPosition, TruthReading, World


class VendorSimulator:
    slug: str = ""  # registry key, also the path prefix: http://host:port/<slug>
    timezone: str = "UTC"  # the account time zone the vendor's wall-clock times are in

    def __init__(self, world: World | None = None, faults: Faults | None = None, copies: int = 1):
        self.world = world or World()
        self.faults = faults or Faults()
        self.devices: list[SimDevice] = self.build_devices()
        if copies > 1:  # many devices, for load tests and benchmarks
            originals = list(self.devices)
            self.devices += [self.copy_device(device, k) for k in range(1, copies) for device in originals]
        self._by_id = {device.vendor_id: device for device in self.devices}
        self.requests_served = 0
        self.statuses: Counter[int] = Counter()  # answers given, by HTTP status

    # -- to implement ----------------------------------------------------------------------------

    def build_devices(self) -> list[SimDevice]:
        raise NotImplementedError

    @property
    def credentials(self) -> dict[str, str]:
        """The credentials an account needs, keyed as the CLI's ``--credential`` keys."""
        raise NotImplementedError

    def dispatch(self, request: Request) -> Response:
        raise NotImplementedError

    def error_response(self, status: int, message: str, request: Request) -> Response:
        """An error in the vendor's own shape (the status code and body the vendor sends)."""
        return Response(json.dumps({"error": message}), status=status, mimetype="application/json")

    def copy_device(self, device: SimDevice, k: int) -> SimDevice:
        """The k-th copy of a device: the same behaviour with its own id (so its own phases) and name."""
        return dataclasses.replace(
            device, vendor_id=self.copy_id(device.vendor_id, k), name=f"{device.name} ({k + 1})"
        )

    def copy_id(self, vendor_id: str, k: int) -> str:
        """The id of the k-th copy; numeric ids by default, vendors with other ids override."""
        return str(int(vendor_id) + k * 100_000)

    # -- truth -----------------------------------------------------------------------------------

    def device(self, vendor_id: str) -> SimDevice | None:
        return self._by_id.get(str(vendor_id))

    def truth_readings(self, vendor_id: str, start: datetime, end: datetime) -> list[TruthReading]:
        """Every reading the vendor holds for a device with start <= time <= end (UTC), oldest first."""
        device = self.device(vendor_id)
        return self.world.readings(device, int(start.timestamp()), int(end.timestamp()))

    def truth_positions(self, vendor_id: str, start: datetime, end: datetime) -> list[TruthPosition]:
        device = self.device(vendor_id)
        return self.world.positions(device, int(start.timestamp()), int(end.timestamp()))

    # -- WSGI with faults ------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        request = Request(environ)
        response = self.handle(request)
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        response = self._answer(request)
        self.statuses[response.status_code] += 1
        return response

    def _answer(self, request: Request) -> Response:
        self.requests_served += 1
        faults = self.faults
        if faults.latency:
            time.sleep(faults.latency)
        if faults.draw(faults.hang_rate):
            time.sleep(faults.hang_seconds)
            return self.error_response(504, "Gateway Timeout", request)
        if faults.take_429():
            return self.error_response(429, "Too Many Requests", request)
        if faults.draw(faults.error_rate):
            status = 503 if faults.draw(0.5) else 500
            return self.error_response(status, "Internal Server Error", request)
        try:
            response = self.dispatch(request)
        except HTTPException as exc:
            response = self.error_response(exc.code or 500, exc.description or exc.name, request)
        if response.status_code == 200:
            if faults.draw(faults.malformed_rate):
                response.set_data(b'{"data": [<<malformed>> ' + response.get_data()[:40])
            elif faults.draw(faults.truncated_rate):
                body = response.get_data()
                response.set_data(body[: max(1, len(body) // 2)])
        return response
