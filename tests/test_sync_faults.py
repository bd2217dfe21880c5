"""Every fault of every simulator leaves a defined state: stored data true, cursors not ahead of it,
the account's health saying what happened, the other accounts syncing, and a clean re-run completing
the data exactly."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command

from monitoring.models import Device, Reading
from tests.conftest import FIXED_NOW
from tests.factories import make_account
from tests.test_sync import stored_readings, true_readings
from vendors.simulators import SLUGS, simulator_class

SINCE = FIXED_NOW - timedelta(hours=12)
UNTIL = FIXED_NOW

FAULTS = {
    "latency": {"latency": 0.05},
    "server errors": {"error_rate": 0.5},
    "hanging requests": {"hang_rate": 1.0, "hang_seconds": 2.5},
    "429 burst": {"burst_429": 2},
    "malformed bodies": {"malformed_rate": 0.5},
    "truncated bodies": {"truncated_rate": 0.5},
    "expired credentials": {"credentials": "expired"},
    "revoked credentials": {"credentials": "revoked"},
}


def sync_all() -> str:
    out = io.StringIO()
    try:
        call_command(
            "sync",
            "--since",
            SINCE.isoformat(),
            "--until",
            UNTIL.isoformat(),
            stdout=out,
            stderr=io.StringIO(),
        )
    except CommandError as exc:
        out.write(str(exc))
    return out.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("slug", SLUGS)
def test_a_fault_leaves_a_defined_state_and_a_clean_run_completes_the_data(
    slug, fault, world, serve, settings
):
    settings.VENDOR_READ_TIMEOUT = 1
    faulty = simulator_class(slug)(world=world)
    other_slug = "thingsee" if slug != "thingsee" else "tandd"
    healthy = simulator_class(other_slug)(world=world)
    server = serve(faulty, healthy)
    account = make_account(server, slug, name="Faulty")
    other = make_account(server, other_slug, name="Healthy")
    faulty.faults.update(**FAULTS[fault])

    sync_all()

    account.refresh_from_db()
    other.refresh_from_db()
    truth = true_readings(faulty, SINCE, UNTIL)
    stored = stored_readings(account)
    assert stored <= truth, "whatever was stored is true"
    for device in Device.objects.filter(account=account):
        times = list(Reading.objects.filter(channel__device=device).values_list("timestamp", flat=True))
        assert device.readings_cursor is None or device.readings_cursor <= max(times), "cursor ahead of data"
        if device.readings_cursor:
            # Up to its cursor a device's data is complete: no hole behind the cursor.
            behind = {r for r in truth if r[0] == device.vendor_id and r[2] <= device.readings_cursor}
            assert behind <= stored, f"{device}: readings behind the cursor are missing"
    if stored == truth and account.last_error == "":
        assert account.last_success_at and account.consecutive_failures == 0
    else:
        assert account.consecutive_failures >= 1 and account.last_error, "the health says what happened"
    assert account.needs_attention == (
        fault == "revoked credentials"
        or (fault == "expired credentials" and slug not in ("thingsee", "trackgps"))
    )
    # The other account was not stopped.
    assert other.last_success_at and stored_readings(other) == true_readings(healthy, SINCE, UNTIL)

    faulty.faults.reset()
    cache.clear()  # the wait a 429 asked for has passed (the shared rate limiter lives in the cache)
    sync_all()
    account.refresh_from_db()
    assert stored_readings(account) == truth
    assert account.consecutive_failures == 0 and not account.needs_attention and account.last_error == ""
