"""The sync engine end to end, over real HTTP against each vendor's simulator."""

from __future__ import annotations

import csv
import io
import logging
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from monitoring.models import AuditRecord, Device, Position, Reading
from tests.conftest import FIXED_NOW
from tests.factories import make_account
from vendors.simulators import SLUGS, simulator_class
from vendors.sync import AccountBusy, AccountRetired, acquire_lock, release_lock, sync_account

SINCE = FIXED_NOW - timedelta(days=2)
UNTIL = FIXED_NOW


def stored_readings(account) -> set[tuple]:
    rows = Reading.objects.filter(channel__device__account=account).values_list(
        "channel__device__vendor_id", "channel__name", "timestamp", "value", "error"
    )
    return set(rows)


def true_readings(simulator, since=SINCE, until=UNTIL) -> set[tuple]:
    truth = set()
    for device in simulator.devices:
        for r in simulator.truth_readings(device.vendor_id, since, until):
            truth.add((r.device_id, r.channel, r.timestamp, r.value, r.error))
    return truth


def true_positions(simulator, since=SINCE, until=UNTIL) -> set[tuple]:
    truth = set()
    for device in simulator.devices:
        for p in simulator.truth_positions(device.vendor_id, since, until):
            truth.add((p.device_id, p.timestamp, p.latitude, p.longitude))
    return truth


def stored_positions(account) -> set[tuple]:
    return set(
        Position.objects.filter(device__account=account).values_list(
            "device__vendor_id", "timestamp", "latitude", "longitude"
        )
    )


@pytest.fixture
def simulated(world, serve):
    """``simulated(slug, faults="")`` -> (simulator, account) with the simulator served on loopback."""

    def make(slug: str, name: str | None = None, **account_fields):
        simulator = simulator_class(slug)(world=world)
        server = serve(simulator)
        return simulator, make_account(server, slug, name=name, **account_fields)

    return make


@pytest.mark.django_db
@pytest.mark.parametrize("slug", SLUGS)
def test_a_full_sync_equals_the_simulators_data_exactly(slug, simulated):
    simulator, account = simulated(slug)
    result = sync_account(account, since=SINCE, until=UNTIL)
    assert result.ok, result.errors
    truth = true_readings(simulator)
    assert len(truth) > 100
    assert stored_readings(account) == truth
    assert result.readings == len(truth)
    assert stored_positions(account) == true_positions(simulator)
    assert Device.objects.filter(account=account).count() == len(simulator.devices)
    account.refresh_from_db()
    assert account.last_success_at and account.consecutive_failures == 0 and account.last_error == ""


@pytest.mark.django_db
@pytest.mark.parametrize("slug", SLUGS)
def test_a_second_sync_adds_nothing(slug, simulated):
    simulator, account = simulated(slug)
    sync_account(account, since=SINCE, until=UNTIL)
    before = stored_readings(account)
    result = sync_account(account, since=SINCE, until=UNTIL)
    assert result.readings == 0 and result.positions == 0 and result.alerts == 0
    assert stored_readings(account) == before


@pytest.mark.django_db
def test_the_cursor_is_the_last_stored_time_and_the_next_run_reads_on_from_it(simulated, settings):
    settings.SYNC_BACKFILL_DAYS = 1
    simulator, account = simulated("thingsee")
    sync_account(account, until=UNTIL - timedelta(hours=6))
    for device in Device.objects.filter(account=account):
        last = Reading.objects.filter(channel__device=device).order_by("-timestamp").first()
        assert device.readings_cursor == (last.timestamp if last else None)
    result = sync_account(account, until=UNTIL)
    assert result.ok
    assert stored_readings(account) == true_readings(simulator, UNTIL - timedelta(days=1, hours=6), UNTIL)


@pytest.mark.django_db
def test_a_failing_account_records_its_health_and_never_stops_the_others(simulated):
    broken_sim, broken = simulated("trackunit", name="Broken")
    healthy_sim, healthy = simulated("thingsee", name="Healthy")
    broken_sim.faults.update(error_rate=1.0)
    call_command_failed = False
    try:
        call_command(
            "sync",
            "--since",
            SINCE.isoformat(),
            "--until",
            UNTIL.isoformat(),
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )
    except CommandError as exc:
        call_command_failed = True
        assert "Broken" in str(exc)
    assert call_command_failed
    broken.refresh_from_db()
    healthy.refresh_from_db()
    assert broken.consecutive_failures == 1 and "server error" in broken.last_error
    assert not broken.needs_attention
    assert healthy.last_success_at and stored_readings(healthy) == true_readings(healthy_sim)


@pytest.mark.django_db
@pytest.mark.parametrize("slug", SLUGS)
def test_refused_credentials_mark_the_account_as_needing_attention(slug, simulated):
    simulator, account = simulated(slug)
    simulator.faults.update(credentials="revoked")
    with pytest.raises(Exception) as caught:
        sync_account(account, since=SINCE, until=UNTIL)
    assert type(caught.value).__name__ == "AuthenticationError"
    account.refresh_from_db()
    assert account.needs_attention and account.consecutive_failures == 1
    assert not Reading.objects.filter(channel__device__account=account).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("slug", SLUGS)
def test_a_run_broken_halfway_and_run_again_gives_the_same_data_as_a_clean_run(slug, simulated):
    simulator, account = simulated(slug)
    simulator.faults.update(truncated_rate=0.3)
    for _ in range(3):
        try:
            sync_account(account, since=SINCE, until=UNTIL)
        except Exception:  # noqa: S110 (the point is to break it)
            pass
    stored = stored_readings(account)
    truth = true_readings(simulator)
    assert stored <= truth  # whatever was stored is true
    for device in Device.objects.filter(account=account):
        stored_times = Reading.objects.filter(channel__device=device).values_list("timestamp", flat=True)
        if device.readings_cursor:
            assert device.readings_cursor <= max(stored_times)
    simulator.faults.reset()
    sync_account(account, since=SINCE, until=UNTIL)
    assert stored_readings(account) == truth


@pytest.mark.django_db
def test_only_one_sync_of_an_account_runs_at_a_time(simulated):
    _, account = simulated("thermotrack")
    owner = acquire_lock(account)
    with pytest.raises(AccountBusy):
        sync_account(account, since=SINCE, until=UNTIL)
    release_lock(account, owner)
    assert sync_account(account, since=SINCE, until=UNTIL).ok


@pytest.mark.django_db
@pytest.mark.parametrize("slug", SLUGS)
def test_no_secret_reaches_the_logs(slug, simulated, caplog):
    simulator, account = simulated(slug)
    caplog.set_level(logging.DEBUG)
    sync_account(account, since=SINCE, until=UNTIL)
    simulator.faults.update(credentials="expired")
    try:
        sync_account(account, since=UNTIL - timedelta(hours=1), until=UNTIL)  # token vendors log in again
    except Exception:  # noqa: S110 (key-only vendors: an expired key is refused)
        pass
    simulator.faults.update(credentials="revoked")
    with pytest.raises(Exception):  # noqa: B017
        sync_account(account, since=UNTIL - timedelta(hours=1), until=UNTIL)
    account.refresh_from_db()
    secrets = [v for v in account.credentials.values() if len(v) >= 6]
    secrets += [v for v in account.session.values() if isinstance(v, str) and len(v) >= 6]
    text = caplog.text + account.last_error
    assert secrets
    for secret in secrets:
        assert secret not in text


@pytest.mark.django_db
def test_export_readings_writes_the_documented_columns(simulated, tmp_path):
    simulator, account = simulated("tandd")
    sync_account(account, since=SINCE, until=UNTIL)
    out = tmp_path / "readings.csv"
    call_command("export_readings", "--account", account.name, "--output", str(out))
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == [
        "vendor",
        "account",
        "device_id",
        "device_name",
        "channel",
        "quantity",
        "unit",
        "timestamp",
        "value",
        "error",
        "channel_label",
    ]
    assert len(rows) == len(true_readings(simulator))
    first = rows[0]
    assert first["vendor"] == "tandd" and first["timestamp"].endswith("Z") and first["unit"] in ("C", "%RH")
    errors = [r for r in rows if r["error"]]
    assert all(r["value"] == "" for r in errors)


@pytest.mark.django_db
def test_export_positions_writes_the_documented_columns(simulated):
    simulator, account = simulated("trackgps")
    sync_account(account, since=SINCE, until=UNTIL)
    out = io.StringIO()
    call_command("export_positions", "--account", account.name, stdout=out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert list(rows[0]) == [
        "vendor",
        "account",
        "device_id",
        "device_name",
        "timestamp",
        "latitude",
        "longitude",
        "speed_kmh",
    ]
    assert len(rows) == len(true_positions(simulator))


@pytest.mark.django_db
def test_ingest_keeps_hourly_rollups_that_match_the_readings(simulated):
    from django.db.models import Count, Max, Min

    from monitoring.models import ReadingRollup

    simulator, account = simulated("thermotrack")
    sync_account(account, since=SINCE, until=UNTIL)
    sync_account(account, since=UNTIL - timedelta(hours=3), until=UNTIL)  # touches the last hours again
    for rollup in ReadingRollup.objects.filter(channel__device__account=account)[:200]:
        hour = Reading.objects.filter(
            channel=rollup.channel, timestamp__gte=rollup.hour, timestamp__lt=rollup.hour + timedelta(hours=1)
        ).aggregate(lo=Min("value"), hi=Max("value"), n=Count("value"))
        assert (rollup.minimum, rollup.maximum, rollup.count) == (hour["lo"], hour["hi"], hour["n"])
    numeric = Reading.objects.filter(channel__device__account=account, value__isnull=False).count()
    assert (
        sum(ReadingRollup.objects.filter(channel__device__account=account).values_list("count", flat=True))
        == numeric
    )


@pytest.mark.django_db
def test_removing_an_account_retires_it_and_keeps_its_devices_and_data(simulated):
    _, account = simulated("thingsee")
    sync_account(account, since=UNTIL - timedelta(hours=2), until=UNTIL)
    readings = Reading.objects.filter(channel__device__account=account).count()
    devices = Device.objects.filter(account=account).count()
    assert readings and devices
    out = io.StringIO()
    call_command("accounts", "remove", account.name, stdout=out)
    assert "Retired" in out.getvalue()
    account.refresh_from_db()
    assert account.retired_at and not account.enabled and account.health == "retired"
    assert Reading.objects.filter(channel__device__account=account).count() == readings
    assert Device.objects.filter(account=account).count() == devices
    with pytest.raises(AccountRetired):
        sync_account(account, since=UNTIL - timedelta(hours=1), until=UNTIL)
    # Nor can anything below the command delete it or its data: PostgreSQL refuses.
    with pytest.raises(DatabaseError, match="permanent"), transaction.atomic():
        account.delete()  # Django deletes the readings first (cascade)
    with pytest.raises(DatabaseError, match="retired, never deleted"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM vendors_vendoraccount WHERE id = %s", [account.pk])
    retired = AuditRecord.objects.get(
        model="vendors.vendoraccount", object_id=str(account.pk), action="update"
    )
    assert retired.reason == "removed with the accounts command" and "retired_at" in retired.changes


@pytest.mark.django_db
@pytest.mark.parametrize("slug", SLUGS)
def test_copied_devices_sync_like_the_originals(slug, world, serve):
    base = len(simulator_class(slug)(world=world).devices)
    simulator = simulator_class(slug)(world=world, copies=50)
    assert len({d.vendor_id for d in simulator.devices}) == 50 * base  # every copy has its own id
    simulator = simulator_class(slug)(world=world, copies=3)
    account = make_account(serve(simulator), slug)
    since = UNTIL - timedelta(hours=3)
    assert sync_account(account, since=since, until=UNTIL).ok
    assert Device.objects.filter(account=account).count() == 3 * base
    assert stored_readings(account) == true_readings(simulator, since, UNTIL)


# -- T&D: RTR500B remote units, channels by number, units without a history API ----------------------


def channels_of(account, vendor_id: str) -> list[tuple]:
    from monitoring.models import Channel

    return list(
        Channel.objects.filter(device__account=account, device__vendor_id=vendor_id)
        .order_by("name")
        .values_list("name", "label", "quantity", "unit")
    )


@pytest.mark.django_db
def test_a_tandd_sync_keys_channels_by_number_with_readable_labels_and_keeps_every_quantity(simulated):
    simulator, account = simulated("tandd")
    assert sync_account(account, since=SINCE, until=UNTIL).ok
    assert channels_of(account, "52140001") == [
        ("ch1", "Temp", "temperature", "C"),
        ("ch2", "Humid", "humidity", "%RH"),
    ]
    # An RTR507B remote unit, synced through data-rtr500: its two unnamed channels are two channels.
    assert channels_of(account, "52870001") == [
        ("ch1", "Channel 1 (°C)", "temperature", "C"),
        ("ch2", "Channel 2 (% RH)", "humidity", "%RH"),
    ]
    assert channels_of(account, "52830001") == [("ch1", "Channel 1 (V)", "other", "V")]
    for serial in ("52800001", "52870001", "52830001"):
        stored = {r for r in stored_readings(account) if r[0] == serial}
        truth = simulator.truth_readings(serial, SINCE, UNTIL)
        assert stored == {(r.device_id, r.channel, r.timestamp, r.value, r.error) for r in truth}
        assert len(stored) > 200


@pytest.mark.django_db
def test_units_without_a_history_api_store_their_current_value_and_never_fail(simulated):
    simulator, account = simulated("tandd")
    for run in range(2):
        result = sync_account(account, since=SINCE, until=UNTIL)
        assert result.ok, result.errors
        account.refresh_from_db()
        assert account.last_error == "" and account.consecutive_failures == 0
        for serial in ("50250001", "52810001"):  # an RTR-502; a remote of a base that uploads by FTP
            stored = {r for r in stored_readings(account) if r[0] == serial}
            current = simulator.truth_current(serial)
            assert stored == {(r.device_id, r.channel, r.timestamp, r.value, r.error) for r in current}
        assert result.readings == (len(true_readings(simulator)) if run == 0 else 0)
    shown = dict(Device.objects.filter(account=account).values_list("vendor_id", "current_value_only"))
    # The FTP remote is known as such from the refusal of its first sync on.
    assert {serial for serial, only in shown.items() if only} == {"50250001", "52810001"}


@pytest.mark.django_db
def test_a_channel_renamed_at_the_vendor_keeps_its_readings_under_its_number(simulated):
    from monitoring.models import Channel

    simulator, account = simulated("tandd")
    sync_account(account, since=SINCE, until=UNTIL - timedelta(hours=6))
    channel = Channel.objects.get(device__vendor_id="52870001", name="ch1")
    before = channel.readings.count()
    simulator.device("52870001").extra["labels"] = ("Top shelf", "")
    sync_account(account, since=UNTIL - timedelta(hours=6), until=UNTIL)
    channel.refresh_from_db()
    assert channel.label == "Top shelf" and channel.title == "Temperature (Top shelf)"
    assert channel.readings.count() > before
    assert channels_of(account, "52870001")[1] == ("ch2", "Channel 2 (% RH)", "humidity", "%RH")


@pytest.mark.django_db
def test_tandd_channels_stored_before_labels_existed_keep_their_history(simulated):
    """Channels were named ch1, ch2... by position before: the same keys as by number, so a deployed
    database's readings stay on their channel and the channel only gains its label."""
    from monitoring.ingest import ingest_readings
    from monitoring.models import Channel
    from vendors.clients.records import ReadingRecord, batches_of

    simulator, account = simulated("tandd")
    device = Device.objects.create(account=account, vendor_id="52140001", name="Warehouse ambient")
    old = Channel.objects.create(device=device, name="ch1", quantity="temperature", unit="C")
    ingest_readings(device, batches_of([ReadingRecord("52140001", "ch1", SINCE - timedelta(days=30), 4.2)]))
    sync_account(account, since=SINCE, until=UNTIL)
    old.refresh_from_db()
    assert old.label == "Temp"
    assert old.readings.count() == 1 + len(
        [r for r in simulator.truth_readings("52140001", SINCE, UNTIL) if r.channel == "ch1"]
    )
    assert Channel.objects.filter(device=device).count() == 2
