"""``manage.py demo`` (what ``make demo`` runs): the whole product on embedded defaults.

Migrates, creates the demo user (a new password at every start, printed), starts the vendor simulators,
creates one account per vendor pointing at them, then runs the web server, a Celery worker and Celery
beat until Ctrl-C, which stops every child process cleanly.

With no ``DATABASE_URL``, ``manage.py`` starts the embedded PostgreSQL of ``var/postgres`` before this
command runs and stops it after, also on Ctrl-C, SIGTERM and SIGHUP; its data stays for the next demo.

The simulated world shows what real accounts hold: the T&D account has RTR500B remote units with unnamed
channels (shown as "Channel 1 (°C)"), one reading volts (a channel of another quantity, drawn in its unit
and evaluated by no temperature rule), and units that give their current value only.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from coldchain.embedded_database import signals_held
from monitoring.models import AlarmProfile, Device
from vendors.models import VendorAccount
from vendors.simulators import SLUGS, World, simulator_class

DEMO_USER = "demo"


# The demo's devices get the named alarm profile of what the simulated world makes them: a freezer's
# -20 °C inside its own limits, a store room at 20 °C inside its own, trucks and fridges at 2-8 °C.
WORLD_PROFILES = {
    "fridge": "2–8 °C vaccines",
    "reefer": "2–8 °C vaccines",
    "freezer": "−25 to −15 °C frozen",
    "ambient": "15–25 °C ambient",
}
# For a device the world does not list (a copy, a renamed one): the profile its name suggests.
DEMO_PROFILES = [
    (("freezer",), "−25 to −15 °C frozen"),
    (("ambient", "store room", "dry store", "loading dock"), "15–25 °C ambient"),
    ((), "2–8 °C vaccines"),
]


def world_profiles() -> dict[tuple[str, str], str]:
    """{(vendor, vendor's device id): profile name} of every simulated device."""
    world = World()
    return {
        (slug, device.vendor_id): WORLD_PROFILES[device.profile]
        for slug in SLUGS
        for device in simulator_class(slug)(world=world).devices
        if device.profile in WORLD_PROFILES
    }


def assign_demo_profiles(by_world: dict[tuple[str, str], str] | None = None) -> None:
    by_world = world_profiles() if by_world is None else by_world
    profiles = {p.name: p for p in AlarmProfile.objects.all()}
    devices = Device.objects.filter(alarm_profile__isnull=True, account__name__startswith="Demo ")
    for device in devices.select_related("account"):
        name = by_world.get((device.account.vendor, device.vendor_id))
        if name is None:
            lower = device.name.lower()
            name = next(p for words, p in DEMO_PROFILES if not words or any(w in lower for w in words))
        device.alarm_profile = profiles.get(name)
        if device.alarm_profile is not None:
            device.save(update_fields=["alarm_profile"])


def _interrupt(signum, frame):
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = "Run the whole product with the vendor simulators (web, worker, beat) until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("DEMO_PORT", "8000")))
        parser.add_argument(
            "--simulator-port", type=int, default=int(os.environ.get("SIMULATOR_PORT", "8765"))
        )

    def handle(self, *args, port, simulator_port, **options):
        # A polite stop (kill, a closed terminal) stops the children like Ctrl-C does.
        for stop_signal in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(stop_signal, _interrupt)
        call_command("migrate", interactive=False, verbosity=0)
        password = self.demo_user()
        children: list[subprocess.Popen] = []
        try:
            simulators = self.start(
                children,
                "simulators",
                [
                    "manage.py",
                    "simulate",
                    "--port",
                    str(simulator_port),
                    "--vendors",
                    *SLUGS,
                    # A door left open, a compressor failure, a silent logger: around now.
                    "--scene-at",
                    str(int(time.time())),
                ],
                capture=True,
            )
            self.create_accounts(simulators)
            self.start(children, "web", ["manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"])
            self.start(
                children,
                "worker",
                ["-m", "celery", "-A", "coldchain", "worker", "--loglevel", "info", "--concurrency", "2"],
            )
            self.start(children, "beat", ["-m", "celery", "-A", "coldchain", "beat", "--loglevel", "info"])
            from vendors.tasks import sync_due_accounts

            sync_due_accounts.delay()  # the first sync now, not in a minute
            self.stdout.write(
                self.style.SUCCESS(
                    f"\nCold chain demo is running: http://127.0.0.1:{port}/\n"
                    f"Log in as {DEMO_USER!r} with password {password!r}\n"
                    f"{self.database()}\n"
                    f"Vendor simulators on http://127.0.0.1:{simulator_port}/ · Ctrl-C stops everything.\n"
                )
            )
            by_world = world_profiles()
            while all(child.poll() is None for child in children):
                assign_demo_profiles(by_world)
                time.sleep(2)
            failed = [c for c in children if c.poll() is not None]
            raise CommandError(f"a demo process stopped unexpectedly (exit {failed[0].returncode})")
        except KeyboardInterrupt:
            self.stdout.write("\nStopping...")
        finally:
            self.stop(children)

    def database(self) -> str:
        if settings.EMBEDDED_DATABASE_DIR:
            return f"Database: embedded PostgreSQL in {settings.EMBEDDED_DATABASE_DIR}"
        return f"Database: {connection.settings_dict['NAME']} on {connection.settings_dict['HOST']}"

    def demo_user(self) -> str:
        password = secrets.token_urlsafe(12)
        user, _ = User.objects.get_or_create(username=DEMO_USER, defaults={"email": "demo@example.com"})
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        user.groups.add(*Group.objects.filter(name__in=["QA", "Admin"]))
        return password

    def start(self, children, name, args, capture=False) -> subprocess.Popen | list[dict]:
        # A new session: Ctrl-C reaches only this process, which then stops the children in order.
        child = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
            [sys.executable, *args],
            stdout=subprocess.PIPE if capture else None,
            text=True,
            start_new_session=True,
        )
        children.append(child)
        if not capture:
            return child
        lines = []
        for _ in SLUGS:
            line = child.stdout.readline()
            if not line:
                raise CommandError(f"the {name} did not start (exit {child.wait()})")
            lines.append(json.loads(line))
        return lines

    def create_accounts(self, simulators: list[dict]) -> None:
        for sim in simulators:
            VendorAccount.objects.update_or_create(
                name=f"Demo {sim['vendor']}",
                defaults={
                    "vendor": sim["vendor"],
                    "base_url": sim["base_url"],
                    "timezone": sim["timezone"],
                    "credentials": sim["credentials"],
                    "session": {},
                    "enabled": True,
                    "needs_attention": False,
                    "next_sync_at": None,
                },
            )

    def stop(self, children) -> None:
        # Held signals: a second Ctrl-C while stopping must not leave a child behind.
        with signals_held():
            for child in reversed(children):
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 15
            for child in reversed(children):
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
