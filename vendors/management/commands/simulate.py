"""``manage.py simulate``: serve the vendor simulators on one port, one path prefix per vendor.

Prints one JSON line per vendor: ``{"vendor", "base_url", "timezone", "credentials"}``; the credential keys
are those of ``manage.py accounts add --credential``. Needs no database.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from vendors.simulators import SLUGS, SimulatorServer, World, build_simulators


class Command(BaseCommand):
    help = "Serve faithful simulators of the five vendor APIs (for the demo and the tests)."
    requires_system_checks = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument("--vendors", nargs="+", default=list(SLUGS), choices=SLUGS)
        parser.add_argument(
            "--faults", default="", help="e.g. latency=0.2,error_rate=0.1,credentials=revoked"
        )
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--scene-at",
            type=int,
            default=None,
            help="epoch seconds: play the demo's scene of excursions around this moment (manage.py demo)",
        )
        parser.add_argument(
            "--devices-per-vendor",
            type=int,
            default=0,
            help="copy each vendor's devices to at least this many",
        )

    def handle(self, *args, host, port, vendors, faults, seed, devices_per_vendor, scene_at, **options):
        try:
            simulators = build_simulators(
                vendors,
                world=World(seed=seed, scene_at=scene_at),
                faults=faults,
                devices_per_vendor=devices_per_vendor,
            )
        except ValueError as exc:
            raise CommandError(f"--faults: {exc}") from None
        try:
            server = SimulatorServer(simulators, host=host, port=port)
        except OSError as exc:
            raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        for slug in vendors:
            self.stdout.write(json.dumps(server.describe(slug)))
        self.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server.server_close()
