"""The excursion page as a QA user reads it: the device linked, durations in words, times with their
zone, a chart of the excursion with its limits and time around it, the audit trail in sentences."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.excursion_actions import excursion_acknowledge, excursion_assign, excursion_close
from monitoring.models import AlarmRule, Excursion
from tests.factories import PASSWORD, make_account, make_user
from tests.test_dashboard import figure_of, fill_readings, make_device


@pytest.fixture
def warm_fridge(db):
    """A 2-8 °C fridge that read 11 °C for 3 h 20 min, from 10 h ago."""
    device = make_device(make_account(), "Vaccine fridge 3", humidity=False)
    rule = AlarmRule.objects.create(name="2-8 °C", device=device, low_limit=2, high_limit=8)
    start = timezone.now().replace(second=0, microsecond=0) - timedelta(hours=10)
    fill_readings(device.channels.get(), start, 600, value=lambda i: 11.0 if 60 <= i < 260 else 5.0)
    excursion = Excursion.objects.create(
        channel=device.channels.get(),
        rule=rule,
        low_limit=2,
        high_limit=8,
        started_at=start + timedelta(minutes=60),
        ended_at=start + timedelta(minutes=260),
        peak_value=11.0,
        peak_at=start + timedelta(minutes=60),
    )
    return excursion


def test_the_excursion_page_tells_what_happened_in_words_with_a_chart(client, warm_fridge):
    user = make_user()
    user.first_name, user.last_name = "Ana", "Silva"
    user.save()
    excursion_acknowledge(warm_fridge, user, "door left open", PASSWORD, username="qa")
    client.force_login(user)
    response = client.get(f"/excursions/{warm_fridge.pk}/")
    assert response.status_code == 200
    page = html.unescape(re.sub(r"<script.*?</script>", "", response.content.decode(), flags=re.S))
    assert f'href="/devices/{warm_fridge.channel.device_id}/"' in page
    assert "3 h 20 min" in page and "3:20:00" not in page
    assert warm_fridge.started_at.strftime("%Y-%m-%d %H:%M UTC") in page
    assert "Acknowledged by Ana Silva (qa), " in page and " UTC: door left open" in page
    assert "→" not in page.split("Every audit record")[0]  # sentences above, the raw rows folded below
    figure = figure_of(response, "excursion-chart-data")
    assert {s["y0"] for s in figure["layout"]["shapes"] if s["type"] == "line"} == {2, 8}
    first, last = figure["layout"]["xaxis"]["range"]
    started = timezone.localtime(warm_fridge.started_at).strftime("%Y-%m-%d %H:%M:%S")
    ended = timezone.localtime(warm_fridge.ended_at).strftime("%Y-%m-%d %H:%M:%S")
    assert first < started and last > ended  # time around it
    assert any(s.get("label", {}).get("text") == "Excursion" for s in figure["layout"]["shapes"])

    # Segregation of duties: another user closes what Ana acknowledged.
    excursion_assign(warm_fridge, user, user)
    bob = make_user("bob")
    bob.first_name, bob.last_name = "Bob", "Builder"
    bob.save()
    excursion_close(
        warm_fridge,
        bob,
        "no_product_impact",
        "Door alarm cable cut",
        PASSWORD,
        product_impact="not_affected",
        username="bob",
    )
    page = html.unescape(client.get(f"/excursions/{warm_fridge.pk}/").content.decode())
    assert "Closed: no product impact by Bob Builder (bob), " in page
    assert "Root cause: Door alarm cable cut" in page


def test_an_ongoing_excursion_says_how_long_so_far(client, warm_fridge):
    Excursion.objects.filter(pk=warm_fridge.pk).update(ended_at=None)
    client.force_login(make_user())
    page = client.get(f"/excursions/{warm_fridge.pk}/").content.decode()
    assert "ongoing for 9 h" in page
