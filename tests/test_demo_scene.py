"""The demo's scene: around the moment the demo starts, a door is left open, a compressor fails and a
logger goes silent, so the pages show excursions within minutes of ``make demo``."""

from __future__ import annotations

from datetime import timedelta

from monitoring.excursions import evaluate_channel, open_no_data_excursions
from monitoring.models import Channel, Excursion
from monitoring.rules import rules_for_channels
from tests.conftest import FIXED_NOW
from tests.factories import make_account
from vendors.management.commands.demo import assign_demo_profiles
from vendors.simulators import World, simulator_class
from vendors.sync import sync_account

START = int(FIXED_NOW.timestamp())


def test_the_scene_warms_two_fridges_and_silences_a_logger_only_in_the_demo():
    plain = simulator_class("thermotrack")(world=World(seed=1, clock=lambda: START))
    scene = simulator_class("thermotrack")(world=World(seed=1, clock=lambda: START, scene_at=START))
    by_name = {device.name: device for device in scene.devices}

    def temperature(simulator, name, at):
        device = by_name[name]
        return simulator.world.value(device, device.channels[0], START + at)

    assert temperature(scene, "Kitchen fridge", 0) > 10 > 8 > temperature(plain, "Kitchen fridge", 0)
    assert temperature(scene, "Kitchen fridge", 30 * 60) < 8  # the door closed again
    assert temperature(scene, "Vaccine fridge - Pharmacy", 0) > 12
    assert temperature(scene, "Blood bank fridge (1-minute logger)", 15 * 60) > 9
    store = by_name["Dry store room"]
    silent = [scene.world.is_silent(store, START + minutes * 60) for minutes in (-140, -60, 0, 20)]
    assert silent == [False, True, True, False]


def test_a_demo_account_starts_with_its_excursions_open(serve, db):
    world = World(seed=1, clock=lambda: START, scene_at=START)
    account = make_account(
        serve(simulator_class("thermotrack")(world=world)), "thermotrack", "Demo Thermotrack"
    )
    assert sync_account(account, since=FIXED_NOW - timedelta(hours=6), until=FIXED_NOW).ok
    assign_demo_profiles()
    for channel in Channel.objects.filter(quantity="temperature").select_related("device"):
        evaluate_channel(
            channel, rules_for_channels([channel])[channel.pk], FIXED_NOW - timedelta(hours=6), FIXED_NOW
        )
    open_no_data_excursions(now=FIXED_NOW)
    ongoing = {
        (e.channel.device.name, e.kind)
        for e in Excursion.objects.filter(ended_at__isnull=True).select_related("channel__device")
    }
    assert {
        ("Kitchen fridge", "out_of_range"),
        ("Vaccine fridge - Pharmacy", "out_of_range"),
        ("Dry store room", "no_data"),
    } <= ongoing
