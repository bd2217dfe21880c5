"""Group and installation changes: Thingsee's go to the vendor first; a refusal changes nothing here."""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitoring.models import DeploymentGroup, Device, InstallationEvent
from tests.conftest import FIXED_NOW
from tests.factories import make_account, make_user
from vendors.operations import (
    OperationRefused,
    devices_move,
    group_create,
    group_delete,
    group_rename,
    installation_status_set,
)
from vendors.simulators import simulator_class
from vendors.sync import sync_account


@pytest.fixture
def thingsee(world, serve, db):
    simulator = simulator_class("thingsee")(world=world)
    account = make_account(serve(simulator), "thingsee")
    sync_account(account, since=FIXED_NOW - timedelta(hours=2), until=FIXED_NOW)
    return simulator, account


def test_it_creates_renames_and_deletes_a_thingsee_group_at_the_vendor(thingsee):
    simulator, account = thingsee
    group = group_create("cold-room-2", account=account, description="Second cold room")
    assert "cold-room-2" in simulator.groups
    group_rename(group, "cold-room-b")
    assert "cold-room-b" in simulator.groups and "cold-room-2" not in simulator.groups
    assert DeploymentGroup.objects.get(pk=group.pk).name == "cold-room-b"
    group_delete(group)
    assert "cold-room-b" not in simulator.groups
    assert not DeploymentGroup.objects.filter(pk=group.pk).exists()


@pytest.mark.parametrize("name", ["has space", "unassigned"])
def test_it_shows_the_vendors_refusal_and_changes_nothing_here(thingsee, name):
    simulator, account = thingsee
    before = set(DeploymentGroup.objects.values_list("name", flat=True))
    with pytest.raises(OperationRefused) as refused:
        group_create(name, account=account)
    assert account.name in str(refused.value)
    assert set(DeploymentGroup.objects.values_list("name", flat=True)) == before
    group = DeploymentGroup.objects.filter(account=account).first()
    with pytest.raises(OperationRefused):
        group_rename(group, name)
    group.refresh_from_db()
    assert group.name in simulator.groups


def test_it_moves_thingsee_devices_at_the_vendor_and_refuses_a_foreign_group(thingsee):
    simulator, account = thingsee
    target = DeploymentGroup.objects.get(account=account, name="warehouse-a")
    devices = list(Device.objects.filter(account=account).exclude(group=target)[:2])
    local = DeploymentGroup.objects.create(name="Kept by us")
    assert devices_move(devices, target) == []
    for device in devices:
        assert simulator.group_of(device.vendor_id) == "warehouse-a"
        device.refresh_from_db()
        assert device.group == target
    refused = devices_move(devices[:1], local)
    assert len(refused) == 1 and devices[0].name in refused[0]
    devices[0].refresh_from_db()
    assert devices[0].group == target
    assert devices_move(devices[:1], None) == []
    assert simulator.group_of(devices[0].vendor_id) == "unassigned"


def test_other_vendors_devices_use_groups_kept_by_us(world, serve, db):
    simulator = simulator_class("tandd")(world=world)
    account = make_account(serve(simulator), "tandd")
    sync_account(account, since=FIXED_NOW - timedelta(hours=1), until=FIXED_NOW)
    group = group_create("Fridges of ward 3")
    device = Device.objects.filter(account=account).first()
    assert devices_move([device], group) == []
    device.refresh_from_db()
    assert device.group == group and group.account is None
    with pytest.raises(OperationRefused, match="exists already"):
        group_create("Fridges of ward 3")


def test_it_sets_an_installation_status_at_the_vendor_with_who_and_when(thingsee):
    simulator, account = thingsee
    user = make_user("quinn", role="Admin")
    device = Device.objects.filter(account=account).first()
    event = installation_status_set(device, "quarantine", user=user)
    device.refresh_from_db()
    assert device.installation_status == "quarantine"
    assert event.user == user and event.timestamp
    history = simulator.installations[device.vendor_id]
    assert max(history, key=lambda h: h["timestamp"])["installation_status"] == "quarantine"


def test_it_refuses_an_unknown_installation_status_without_asking_the_vendor(thingsee):
    _, account = thingsee
    device = Device.objects.filter(account=account).first()
    before = device.installation_status
    with pytest.raises(OperationRefused, match="not an installation status"):
        installation_status_set(device, "broken", user=make_user())
    device.refresh_from_db()
    assert device.installation_status == before
    assert not InstallationEvent.objects.filter(device=device, status="broken").exists()


def test_a_vendor_that_cannot_be_reached_refuses_the_change_clearly(thingsee):
    simulator, account = thingsee
    simulator.faults.update(error_rate=1.0)
    device = Device.objects.filter(account=account).first()
    before = device.installation_status
    with pytest.raises(OperationRefused, match="server error"):
        installation_status_set(device, "retired", user=make_user())
    device.refresh_from_db()
    assert device.installation_status == before
