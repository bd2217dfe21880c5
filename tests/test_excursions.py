"""The excursion engine over simulator data synced over real HTTP (see tests/test_sync.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitoring.excursions import evaluate_channels, open_no_data_excursions
from monitoring.models import AlarmRule, Channel, Device, Excursion, Reading
from monitoring.models.excursions import ExcursionKind
from tests.conftest import FIXED_NOW
from tests.factories import make_account
from vendors.simulators import World, simulator_class
from vendors.simulators.world import utc
from vendors.sync import sync_account

HIGH, LOW, MARGIN = 8.0, 2.0, 0.5


# With this seed the kitchen fridge (6129) logs a reading inside each door opening: the spikes are seen.
DOOR_SEED = 1


@pytest.fixture
def simulated(world, serve):
    def make(slug: str, world=world):
        simulator = simulator_class(slug)(world=world)
        return simulator, make_account(serve(simulator), slug)

    return make


def sim_device(simulator, vendor_id: str):
    return next(d for d in simulator.devices if d.vendor_id == vendor_id)


def prepare(simulated, slug: str, vendor_id: str, first_sync_at, world=None, **rule_fields):
    """Sync a minute of data (to create the devices), then give the device a 2–8 °C rule."""
    simulator, account = simulated(slug, world) if world else simulated(slug)
    sync_account(account, since=first_sync_at - timedelta(minutes=1), until=first_sync_at)
    device = Device.objects.get(account=account, vendor_id=vendor_id)
    fields = {"delay_minutes": 30, "clear_margin": MARGIN, **rule_fields}
    rule = AlarmRule.objects.create(
        name="2–8 °C vaccines", device=device, low_limit=LOW, high_limit=HIGH, **fields
    )
    return simulator, account, device, rule


def last_failure(world, device, before):
    """The last compressor failure that ends at least two hours before ``before``."""
    end = int(before.timestamp())
    windows = world.failure_windows(device, end - 7 * 86400, end)
    start, stop = [w for w in windows if w[1] <= end - 7200][-1]
    return utc(start), utc(stop)


def expected_excursion(simulator, vendor_id, channel, since, until):
    """Start, end and peak from the simulator's truth: the first reading above the high limit, the first
    reading back under it by the clear margin, the highest value between."""
    truth = [
        r
        for r in simulator.truth_readings(vendor_id, since, until)
        if r.channel == channel and r.value is not None
    ]
    first_out = next(i for i, r in enumerate(truth) if r.value > HIGH)
    back = next(i for i in range(first_out, len(truth)) if truth[i].value <= HIGH - MARGIN)
    peak = max(r.value for r in truth[first_out:back])
    return truth[first_out].timestamp, truth[back].timestamp, peak


@pytest.mark.django_db
@pytest.mark.parametrize(("slug", "vendor_id"), [("thermotrack", "6128"), ("thingsee", "XXXX03X2Z74163012")])
def test_a_compressor_failure_opens_exactly_one_excursion_with_the_right_start_end_and_peak(
    slug, vendor_id, simulated, world
):
    simulator = simulator_class(slug)(world=world)
    failure_start, failure_end = last_failure(world, sim_device(simulator, vendor_id), FIXED_NOW)
    since, until = failure_start - timedelta(hours=6), failure_end + timedelta(hours=2)
    simulator, account, device, rule = prepare(simulated, slug, vendor_id, since)
    sync_account(account, since=since, until=until)

    channel = device.channels.get(quantity="temperature")
    excursions = list(Excursion.objects.filter(channel=channel, kind=ExcursionKind.OUT_OF_RANGE))
    assert len(excursions) == 1
    excursion = excursions[0]
    start, end, peak = expected_excursion(simulator, vendor_id, channel.name, since, until)
    assert (excursion.started_at, excursion.ended_at, excursion.peak_value) == (start, end, peak)
    assert failure_start <= excursion.started_at < excursion.ended_at <= failure_end
    assert excursion.rule == rule and excursion.high_limit == HIGH
    assert excursion.degree_minutes > 0 and HIGH < excursion.mkt < peak


@pytest.mark.django_db
def test_a_door_opening_shorter_than_the_delay_opens_none(simulated):
    since, until = FIXED_NOW - timedelta(days=2), FIXED_NOW
    world = World(seed=DOOR_SEED, clock=lambda: FIXED_NOW.timestamp())
    simulator, account, device, rule = prepare(
        simulated, "thermotrack", "6129", since, world, delay_minutes=15
    )
    sync_account(account, since=since, until=until)
    spikes = [r for r in simulator.truth_readings("6129", since, until) if r.value and r.value > HIGH]
    assert spikes  # the doors did open, above the limit
    assert not Excursion.objects.filter(channel__device=device).exists()


@pytest.mark.django_db
def test_a_door_opening_opens_an_excursion_when_there_is_no_delay(simulated):
    since, until = FIXED_NOW - timedelta(days=1), FIXED_NOW
    world = World(seed=DOOR_SEED, clock=lambda: FIXED_NOW.timestamp())
    simulator, account, device, rule = prepare(
        simulated, "thermotrack", "6129", since, world, delay_minutes=0
    )
    sync_account(account, since=since, until=until)
    assert Excursion.objects.filter(channel__device=device, kind=ExcursionKind.OUT_OF_RANGE).count() >= 1


@pytest.mark.django_db
def test_a_gap_that_is_backfilled_later_is_re_evaluated(simulated, world):
    simulator = simulator_class("thermotrack")(world=world)
    failure_start, failure_end = last_failure(world, sim_device(simulator, "6128"), FIXED_NOW)
    since, until = failure_start - timedelta(hours=6), failure_end + timedelta(hours=3)
    simulator, account, device, rule = prepare(simulated, "thermotrack", "6128", since)
    gap = (failure_start - timedelta(hours=1), failure_end + timedelta(hours=1))
    sync_account(account, since=since, until=gap[0])
    sync_account(account, since=gap[1], until=until)
    assert not Excursion.objects.filter(channel__device=device).exists()

    result = sync_account(account, since=gap[0], until=gap[1])  # the logger's memory arrives late
    assert result.readings > 0
    excursions = list(Excursion.objects.filter(channel__device=device))
    assert len(excursions) == 1
    start, end, peak = expected_excursion(simulator, "6128", "Measure", since, until)
    assert (excursions[0].started_at, excursions[0].ended_at, excursions[0].peak_value) == (start, end, peak)


@pytest.mark.django_db
def test_an_excursion_found_on_part_of_its_data_is_completed_not_duplicated(simulated, world):
    simulator = simulator_class("thermotrack")(world=world)
    failure_start, failure_end = last_failure(world, sim_device(simulator, "6128"), FIXED_NOW)
    since, until = failure_start - timedelta(hours=6), failure_end + timedelta(hours=2)
    simulator, account, device, rule = prepare(simulated, "thermotrack", "6128", since)
    middle = failure_start + timedelta(hours=2)
    sync_account(account, since=since, until=middle)
    ongoing = Excursion.objects.get(channel__device=device)
    assert ongoing.ended_at is None  # still going on at the end of the data
    sync_account(account, since=middle, until=until)
    ongoing.refresh_from_db()
    start, end, peak = expected_excursion(simulator, "6128", "Measure", since, until)
    assert Excursion.objects.filter(channel__device=device).count() == 1
    assert (ongoing.started_at, ongoing.ended_at, ongoing.peak_value) == (start, end, peak)


@pytest.mark.django_db
def test_a_no_data_excursion_opens_when_a_logger_goes_silent_and_ends_when_it_speaks_again(simulated, world):
    simulator = simulator_class("tandd")(world=world)
    sim = sim_device(simulator, "52120001")
    end = int(FIXED_NOW.timestamp())
    silent_start, silent_end = [
        w for w in world.silent_windows(sim, end - 3 * 86400, end) if w[1] < end - 3600
    ][-1]
    silent_start, silent_end = utc(silent_start), utc(silent_end)
    since = silent_start - timedelta(hours=3)
    simulator, account, device, rule = prepare(simulated, "tandd", "52120001", since, no_data_minutes=60)
    now = silent_start + timedelta(hours=2)
    sync_account(account, since=since, until=now)
    assert not Excursion.objects.filter(kind=ExcursionKind.NO_DATA).exists()

    opened = open_no_data_excursions(now=now)
    channels = list(device.channels.all())
    assert {e.channel for e in opened} == set(channels)
    last_before = Reading.objects.filter(channel=channels[0]).latest("timestamp").timestamp
    assert last_before < silent_start and all(
        e.started_at == last_before and e.ended_at is None for e in opened
    )
    assert open_no_data_excursions(now=now + timedelta(minutes=5)) == []  # once, not at every run

    sync_account(account, since=now, until=silent_end + timedelta(hours=2))
    first_after = Reading.objects.filter(channel=channels[0], timestamp__gt=silent_start).earliest(
        "timestamp"
    )
    for excursion in Excursion.objects.filter(kind=ExcursionKind.NO_DATA):
        assert (excursion.started_at, excursion.ended_at) == (last_before, first_after.timestamp)
    assert Excursion.objects.filter(kind=ExcursionKind.NO_DATA).count() == len(channels)


@pytest.mark.django_db
def test_a_silent_window_synced_later_is_a_no_data_excursion(simulated, world):
    simulator = simulator_class("tandd")(world=world)
    sim = sim_device(simulator, "52120001")
    end = int(FIXED_NOW.timestamp())
    silent_start, silent_end = [
        w for w in world.silent_windows(sim, end - 3 * 86400, end) if w[1] < end - 3600
    ][-1]
    since = utc(silent_start) - timedelta(hours=2)
    simulator, account, device, rule = prepare(simulated, "tandd", "52120001", since, no_data_minutes=60)
    sync_account(account, since=since, until=utc(silent_end) + timedelta(hours=1))
    temperature = device.channels.get(quantity="temperature")
    (excursion,) = Excursion.objects.filter(channel=temperature, kind=ExcursionKind.NO_DATA)
    assert excursion.started_at < utc(silent_start) <= utc(silent_end) <= excursion.ended_at


def readings_of(channel, start, values, step=timedelta(minutes=10), errors=()):
    rows = []
    for i, value in enumerate(values):
        error = "SENSOR_ERROR" if i in errors else ""
        rows.append(
            Reading(channel=channel, timestamp=start + i * step, value=None if error else value, error=error)
        )
    Reading.objects.bulk_create(rows)
    return [channel.pk]


@pytest.fixture
def channel(db):
    account = make_account()
    device = Device.objects.create(account=account, vendor_id="d1", name="Fridge 1")
    return Channel.objects.create(device=device, name="t", quantity="temperature", unit="C")


def test_a_sensor_error_never_counts_as_in_range(channel):
    AlarmRule.objects.create(name="r", channel=channel, low_limit=2, high_limit=8, delay_minutes=20)
    t0 = FIXED_NOW - timedelta(days=1)
    evaluate_channels(readings_of(channel, t0, [5, 9, 0, 9, 0, 9, 5, 5], errors={2, 4}))
    (excursion,) = Excursion.objects.all()
    assert excursion.started_at == t0 + timedelta(minutes=10)
    assert excursion.ended_at == t0 + timedelta(minutes=60)
    assert excursion.peak_value == 9


def test_the_clear_margin_keeps_an_excursion_open_until_well_inside(channel):
    AlarmRule.objects.create(name="r", channel=channel, low_limit=2, high_limit=8, clear_margin=0.5)
    t0 = FIXED_NOW - timedelta(days=1)
    evaluate_channels(readings_of(channel, t0, [5, 9, 7.8, 8.5, 7.9, 7.4, 5]))
    (excursion,) = Excursion.objects.all()
    assert excursion.started_at == t0 + timedelta(minutes=10)
    assert excursion.ended_at == t0 + timedelta(minutes=50)
    # 1 °C for 10 min, 0 for 10, 0.5 °C for 10, 0 for 10
    assert excursion.degree_minutes == pytest.approx(15.0)


def test_the_daily_budget_opens_a_budget_excursion_once_used_up(channel):
    AlarmRule.objects.create(
        name="r", channel=channel, low_limit=2, high_limit=8, delay_minutes=60, daily_budget_minutes=30
    )
    t0 = FIXED_NOW.replace(hour=0) - timedelta(days=1)
    # Three short spikes of 20 minutes (under the delay): 60 minutes out of range in the day.
    values = [5, 9, 9, 5, 5, 9, 9, 5, 5, 9, 9, 5, 5]
    evaluate_channels(readings_of(channel, t0, values))
    (budget,) = Excursion.objects.all()
    assert budget.kind == ExcursionKind.BUDGET
    assert budget.started_at == t0 + timedelta(minutes=60)  # 20 + 10 of the second spike
    assert budget.ended_at == t0 + timedelta(minutes=70)


def test_the_nearest_rule_wins(channel, django_assert_max_num_queries):
    from monitoring.models import AlarmProfile, DeploymentGroup
    from monitoring.rules import rules_for_channels

    device = channel.device
    other = Channel.objects.create(device=device, name="h", quantity="humidity", unit="%RH")
    group = DeploymentGroup.objects.create(name="Pharmacy")
    profile = AlarmProfile.objects.create(name="Test profile")
    device.group, device.alarm_profile = group, profile
    device.save()
    by_profile = AlarmRule.objects.create(name="profile", profile=profile, low_limit=2, high_limit=8)
    by_group = AlarmRule.objects.create(name="group", group=group, low_limit=1, high_limit=9)
    humidity = AlarmRule.objects.create(name="rh", profile=profile, quantity="humidity", high_limit=80)
    channels = list(Channel.objects.select_related("device"))
    with django_assert_max_num_queries(1):
        rules = rules_for_channels(channels)
    assert rules == {channel.pk: by_group, other.pk: humidity}
    by_group.delete()
    assert rules_for_channels(channels)[channel.pk] == by_profile
    mine = AlarmRule.objects.create(name="channel", channel=channel, low_limit=3, high_limit=7)
    assert rules_for_channels(channels)[channel.pk] == mine


def test_a_channel_of_another_quantity_gets_only_a_rule_that_names_it(channel, django_assert_max_num_queries):
    from monitoring.models import AlarmProfile
    from monitoring.rules import rules_for_channels

    device = channel.device
    volts = Channel.objects.create(
        device=device, name="ch3", label="Channel 3 (V)", quantity="other", unit="V"
    )
    profile = AlarmProfile.objects.create(name="Test profile")
    device.alarm_profile = profile
    device.save()
    by_profile = AlarmRule.objects.create(name="profile", profile=profile, low_limit=2, high_limit=8)
    by_device = AlarmRule.objects.create(name="device", device=device, low_limit=2, high_limit=8)
    AlarmRule.objects.create(name="any other", device=device, quantity="other", high_limit=5)
    channels = list(Channel.objects.select_related("device"))
    with django_assert_max_num_queries(1):
        rules = rules_for_channels(channels)
    assert rules == {channel.pk: by_device, volts.pk: None}
    by_device.delete()
    assert rules_for_channels(channels) == {channel.pk: by_profile, volts.pk: None}
    # A rule that names the channel applies, whatever quantity it was written for.
    named = AlarmRule.objects.create(name="supply", channel=volts, low_limit=0.5, high_limit=3.0)
    assert rules_for_channels(channels) == {channel.pk: by_profile, volts.pk: named}


@pytest.mark.django_db
def test_a_temperature_profile_never_evaluates_a_volts_channel_synced_from_an_rtr500b_remote(simulated):
    """The RTR505B remote reads about 1.5 to 3.3 V: below 2 °C for hours a day, were it a temperature."""
    from monitoring.models import AlarmProfile

    simulator, account = simulated("tandd")
    since = FIXED_NOW - timedelta(days=2)
    sync_account(account, since=since - timedelta(minutes=10), until=since)
    device = Device.objects.get(account=account, vendor_id="52830001")
    profile = AlarmProfile.objects.get(name="2–8 °C vaccines")  # the named profile of the migrations
    assert profile.alarm_rules.filter(quantity="temperature").exists()
    AlarmRule.objects.create(name="2–8 °C here", device=device, low_limit=LOW, high_limit=HIGH)
    device.alarm_profile = profile
    device.save(update_fields=["alarm_profile"])
    sync_account(account, since=since, until=since + timedelta(days=1))
    volts = device.channels.get()
    assert (volts.quantity, volts.unit) == ("other", "V")
    assert volts.readings.filter(value__lt=LOW).count() > 20
    assert not Excursion.objects.filter(channel=volts).exists()
    # Named by a rule, it is evaluated in its own unit.
    rule = AlarmRule.objects.create(name="supply", channel=volts, quantity="other", high_limit=3.0)
    sync_account(account, since=since + timedelta(days=1), until=FIXED_NOW)
    found = list(Excursion.objects.filter(channel=volts))
    assert found and all(e.rule == rule and e.peak_value > 3.0 and e.mkt is None for e in found)
    truth = [r for r in simulator.truth_readings("52830001", since + timedelta(days=1), FIXED_NOW)]
    assert max(r.value for r in truth) == max(e.peak_value for e in found)
