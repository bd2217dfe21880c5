"""A sync or an evaluation killed with SIGKILL at any point, then the next beat: exactly the excursions of
a clean run. Nothing a crash leaves behind is skipped, nothing is found twice.

The crashed run is a real process (``python -c``) against the test database, killed by the kernel at a
point chosen by its ``CRASH_AT``: after the Nth commit of readings, before they are evaluated; or halfway
through the Nth excursion's evaluation, before its transaction commits.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from monitoring.models import AlarmRule, Device, Excursion
from monitoring.tasks import evaluate_readings
from tests.conftest import FIXED_NOW
from tests.factories import make_account
from tests.test_worker_faults import environment
from vendors.models import VendorAccount
from vendors.simulators import simulator_class
from vendors.sync import sync_account

ROOT = Path(__file__).resolve().parent.parent
SINCE, UNTIL = FIXED_NOW - timedelta(days=2), FIXED_NOW

# The crashed run: a sync of one account that the kernel kills at CRASH_AT ("readings:N": right after the
# Nth commit of readings, before the engine saw them; "excursion:N": when the engine has written the Nth
# excursion of the run, before its transaction commits).
CRASHED_SYNC = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import datetime
    import django
    django.setup()
    from django.db.models.signals import post_save
    from monitoring import receivers
    from monitoring.models import Excursion
    from monitoring.signals import readings_stored
    from vendors.models import VendorAccount
    from vendors.sync import sync_account

    where, count = os.environ["CRASH_AT"].split(":")
    seen = []

    def crash(*args, **kwargs):
        seen.append(1)
        if len(seen) == int(count):
            os.kill(os.getpid(), signal.SIGKILL)

    if where == "readings":
        # Heard before the engine's own receiver: the process dies between the commit and the evaluation.
        readings_stored.disconnect(dispatch_uid="monitoring-evaluate-stored-readings")
        readings_stored.connect(crash, weak=False)
        receivers.connect()
    else:
        post_save.connect(crash, sender=Excursion, weak=False)
    account = VendorAccount.objects.get(pk=int(sys.argv[1]))
    since, until = (datetime.fromisoformat(value) for value in sys.argv[2:4])
    sync_account(account, since=since, until=until)
    print("the sync ended without reaching its crash point")
    """
)


def excursions_of(account: VendorAccount) -> list[tuple]:
    return sorted(
        Excursion.objects.filter(channel__device__account=account).values_list(
            "channel__device__vendor_id",
            "channel__name",
            "kind",
            "started_at",
            "ended_at",
            "peak_value",
            "degree_minutes",
        )
    )


def with_rules(account: VendorAccount) -> VendorAccount:
    """The account's devices (made by a first short sync), each with the same 2–8 °C rule."""
    sync_account(account, since=SINCE - timedelta(minutes=10), until=SINCE - timedelta(minutes=5))
    for device in Device.objects.filter(account=account):
        AlarmRule.objects.create(
            name="2–8 °C",
            device=device,
            low_limit=2,
            high_limit=8,
            delay_minutes=15,
            clear_margin=0.5,
            no_data_minutes=45,
            daily_budget_minutes=60,
        )
    return account


@pytest.fixture
def clean_run(world, serve):
    """Two accounts of the same vendor account (same devices, same readings, same rules); the first one
    synced cleanly."""
    server = serve(simulator_class("thermotrack")(world=world))
    clean = with_rules(make_account(server, "thermotrack", name="clean"))
    crashed = with_rules(make_account(server, "thermotrack", name="crashed"))
    sync_account(clean, since=SINCE, until=UNTIL)
    assert excursions_of(clean), "the period must hold excursions for the comparison to mean anything"
    return clean, crashed


def run_killed(account: VendorAccount, crash_at: str) -> None:
    run = subprocess.run(
        [sys.executable, "-c", CRASHED_SYNC, str(account.pk), SINCE.isoformat(), UNTIL.isoformat()],
        cwd=ROOT,
        env=environment(CRASH_AT=crash_at),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == -signal.SIGKILL, run.stdout + run.stderr
    # The dead run's lock has expired (SYNC_LOCK_SECONDS): the next sync may start.
    VendorAccount.objects.filter(pk=account.pk).update(sync_lock_until=timezone.now() - timedelta(seconds=1))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("crash_at", ["readings:1", "readings:3", "excursion:3"])
def test_a_sync_killed_then_synced_again_and_the_beat_give_the_excursions_of_a_clean_run(clean_run, crash_at):
    clean, crashed = clean_run
    run_killed(crashed, crash_at)
    # The next sync finds the readings stored before the crash and skips them as duplicates...
    sync_account(crashed, since=SINCE, until=UNTIL)
    # ... and the next beat evaluates whatever the crash left behind its channel's watermark.
    evaluate_readings()
    assert excursions_of(crashed) == excursions_of(clean)
    assert evaluate_readings() == 0, "a second beat finds nothing left to evaluate"
    assert excursions_of(crashed) == excursions_of(clean)


@pytest.mark.django_db(transaction=True)
def test_the_beat_alone_finds_the_excursions_of_readings_a_killed_sync_stored(clean_run):
    clean, crashed = clean_run
    run_killed(crashed, "readings:2")
    evaluate_readings()
    # The readings stored before the crash are evaluated; each excursion found matches the clean run's.
    found = excursions_of(crashed)
    assert found and set(found) <= set(excursions_of(clean))
