"""Each device's status on the overview, over a fleet with one device per rule of the status (the
database weighs them all in one query): what each card says, the order and the summary strip's counts."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.models import AlarmProfile, AlarmRule, Channel, DeploymentGroup, Device, Excursion
from tests.factories import make_account, make_user


@pytest.fixture
def qa(client, db):
    client.force_login(make_user("qa"))
    return client


def device(account, name: str, group=None, **fields) -> Device:
    return Device.objects.create(account=account, vendor_id=name, name=name, group=group, **fields)


def channel(device: Device, value=5.0, *, age=timedelta(minutes=3), quantity="temperature", **fields):
    now = timezone.now()
    unit = {"temperature": "C", "humidity": "%RH"}.get(quantity, "kWh")
    return Channel.objects.create(
        device=device,
        name=fields.pop("name", quantity[:4]),
        quantity=quantity,
        unit=unit,
        last_value=value,
        last_reading_at=None if age is None else now - age,
        **fields,
    )


def excursion(channel: Channel, *, ended: bool, state: str = "open", kind: str = "out_of_range"):
    now = timezone.now()
    return Excursion.objects.create(
        channel=channel,
        kind=kind,
        state=state,
        started_at=now - timedelta(hours=3),
        ended_at=now - timedelta(hours=2) if ended else None,
        high_limit=8,
    )


def cards(response) -> list[tuple[str, str]]:
    """(device name, status label) of each card, in the page's order."""
    card = r'<li class="tile status-\w+">.*?<h2><a [^>]*>([^<]+)</a></h2>'
    card += r'<span class="status \w+">([^<]+)</span>'
    found = re.findall(card, response.content.decode(), re.S)
    return [(html.unescape(name), html.unescape(label)) for name, label in found]


def strip(response) -> dict[str, int]:
    page = response.content.decode()
    return {slug: int(n) for slug, n in re.findall(r'data-status="(\w+)"><strong>(\d+)</strong>', page)}


def test_every_rule_of_the_status_gives_each_device_the_status_its_card_says(qa):
    account = make_account()
    fridges = DeploymentGroup.objects.create(name="Fridges")
    AlarmRule.objects.create(name="2-8", group=fridges, low_limit=2, high_limit=8)
    vaccines = AlarmProfile.objects.create(name="Vaccines")
    AlarmRule.objects.create(name="profile 2-8", profile=vaccines, low_limit=2, high_limit=8)
    expected = {}

    def case(name: str, status: str, **fields) -> Device:
        expected[name] = status
        return device(account, name, **{"group": fridges, **fields})

    channel(case("A in range", "In range"))
    channel(case("B near the high limit", "Near a limit"), 7.5)
    channel(case("C near the low limit", "Near a limit"), 2.5)
    # Exactly 8 - (8 - 2) × 10 %: not beyond the margin (in floating point as in Python's arithmetic).
    channel(case("D on the edge of the margin", "In range"), 7.4)
    channel(case("E just inside the margin", "In range"), 7.3)
    channel(case("F out of range, no excursion yet", "Out of range"), 9.0)
    excursion(channel(case("G ongoing excursion, back in range", "Out of range")), ended=False)
    excursion(channel(case("H silent, no-data excursion", "No data")), ended=False, kind="no_data")
    channel(case("I stale readings", "No data"), age=timedelta(hours=3))
    channel(case("J never read", "No data"), age=None)
    case("K without channels", "No data")
    patient = case("L stale but the rule waits five hours", "In range")
    AlarmRule.objects.create(name="slow", device=patient, low_limit=2, high_limit=8, no_data_minutes=300)
    channel(patient, age=timedelta(hours=3))
    named = channel(case("M a rule naming the channel wins", "In range"), 15.0)
    AlarmRule.objects.create(name="wide", channel=named, low_limit=0, high_limit=20)
    channel(case("N sensor error", "Sensor error"), last_error="E01")
    errors = case("O sensor error and out of range", "Sensor error")
    channel(errors, 9.0, last_error="E02", name="t1")
    channel(errors, 9.0, name="t2")
    excursion(channel(case("P ended, acknowledged", "Open excursion")), ended=True, state="acknowledged")
    excursion(channel(case("Q ended, closed", "In range")), ended=True, state="closed")
    channel(case("R low battery", "Low battery", battery=10))
    channel(case("S low battery and near a limit", "Near a limit", battery=10), 7.9)
    channel(case("T battery at the threshold", "In range", battery=20))
    channel(case("U profile rule, out of range", "Out of range", group=None, alarm_profile=vaccines), 9.0)
    channel(case("V no rule at all", "In range", group=None), 40.0)
    channel(case("W other quantity, no rule reaches it", "In range"), 500.0, quantity="other")
    other = channel(case("X other quantity, a rule names it", "Out of range"), 500.0, quantity="other")
    AlarmRule.objects.create(name="kWh", channel=other, low_limit=0, high_limit=100)
    humid = case("Y humidity under the group's temperature rule", "In range")
    channel(humid, 90.0, quantity="humidity")
    single = case("Z high limit only, within 1 degree", "Near a limit", group=None)
    AlarmRule.objects.create(name="max 8", device=single, high_limit=8)
    channel(single, 7.5)
    oldest = case("a oldest of two device rules wins", "In range")
    AlarmRule.objects.create(name="0-10", device=oldest, low_limit=0, high_limit=10)
    AlarmRule.objects.create(name="2-8 later", device=oldest, low_limit=2, high_limit=8)
    channel(oldest, 8.5)
    disabled = case("b a disabled rule is skipped", "Out of range")
    AlarmRule.objects.create(name="off", device=disabled, low_limit=0, high_limit=20, enabled=False)
    channel(disabled, 9.0)
    fresh_and_stale = case("c one fresh channel is enough", "In range")
    channel(fresh_and_stale, name="t1")
    channel(fresh_and_stale, 9.0, age=timedelta(hours=3), name="t2")
    device(account, "d retired", group=fridges, installation_status="retired")

    response = qa.get("/")

    severity = ["Out of range", "Sensor error", "No data", "Near a limit", "Open excursion", "Low battery"]
    order = {label: rank for rank, label in enumerate([*severity, "In range"])}
    want = sorted(expected.items(), key=lambda item: (order[item[1]], item[0].casefold()))
    assert cards(response) == want
    counts = strip(response)
    assert counts == {
        "out_of_range": 5,
        "sensor_error": 2,
        "no_data": 4,
        "warning": 4,
        "open_excursion": 1,
        "low_battery": 1,
        "in_range": 12,
    }
    assert sum(counts.values()) == len(expected)

    near = qa.get("/", {"status": "warning"})
    assert [name for name, _ in cards(near)] == [n for n, s in want if s == "Near a limit"]
