"""Changes the dashboard makes to groups and installation statuses.

A vendor that keeps deployment groups or installation statuses itself (as its client's ``capabilities``
declare: Thingsee's) gets the change first, and our copy changes only when the vendor accepted it. A
refusal (the vendor's own words) or a vendor that cannot be reached raises ``OperationRefused``, so the
page shows it; nothing is dropped silently. Devices of the other vendors use groups kept by us.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.utils import timezone

from monitoring.choices import InstallationStatus
from monitoring.models import DeploymentGroup, Device, InstallationEvent
from vendors.clients.errors import VendorError
from vendors.models import VendorAccount
from vendors.sync import make_client

UNASSIGNED = "unassigned"


class OperationRefused(Exception):
    """The change was not made; the message says why, in words for the user."""


def _keeps_groups(account: VendorAccount | None) -> bool:
    return account is not None and account.capabilities.keeps_groups


def _ask_vendor(account: VendorAccount, action: str, call) -> dict:
    try:
        return call(make_client(account))
    except VendorError as exc:
        raise OperationRefused(f"{account.name} refused to {action}: {exc.message}") from None


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise OperationRefused("A group needs a name.")
    if len(name) > 100:
        raise OperationRefused("A group name has at most 100 characters.")
    return name


def group_create(
    name: str, *, account: VendorAccount | None = None, description: str = "", user=None
) -> DeploymentGroup:
    name = _clean_name(name)
    if DeploymentGroup.objects.filter(account=account, name=name).exists():
        raise OperationRefused(f"A group named {name!r} exists already.")
    if _keeps_groups(account):
        answer = _ask_vendor(account, f"create group {name!r}", lambda c: c.create_group(name, description))
        name = answer.get("group_id", name)
    try:
        return DeploymentGroup.objects.create(
            account=account,
            name=name,
            vendor_group_id=name if _keeps_groups(account) else "",
            description=description,
        )
    except IntegrityError:
        raise OperationRefused(f"A group named {name!r} exists already.") from None


def group_rename(group: DeploymentGroup, new_name: str, *, user=None) -> DeploymentGroup:
    new_name = _clean_name(new_name)
    if new_name == group.name:
        return group
    if DeploymentGroup.objects.filter(account=group.account, name=new_name).exclude(pk=group.pk).exists():
        raise OperationRefused(f"A group named {new_name!r} exists already.")
    if _keeps_groups(group.account):
        answer = _ask_vendor(
            group.account,
            f"rename group {group.name!r}",
            lambda c: c.rename_group(group.vendor_group_id or group.name, new_name),
        )
        if answer.get("renamed") is False:
            raise OperationRefused(f"{group.account.name} did not rename group {group.name!r}.")
        group.vendor_group_id = new_name
    group.name = new_name
    group.save(update_fields=["name", "vendor_group_id"])
    return group


def group_delete(group: DeploymentGroup, *, user=None) -> None:
    if _keeps_groups(group.account):
        answer = _ask_vendor(
            group.account,
            f"delete group {group.name!r}",
            lambda c: c.delete_group(group.vendor_group_id or group.name),
        )
        if answer.get("deleted") is False:
            raise OperationRefused(f"{group.account.name} did not delete group {group.name!r}.")
    with transaction.atomic():
        # Its devices become ungrouped, at the vendor (it says so) and here.
        Device.objects.filter(group=group).update(group=None)
        group.delete()


def devices_move(devices: Iterable[Device], group: DeploymentGroup | None, *, user=None) -> list[str]:
    """Move devices into ``group`` (None: no group). Returns one message per device that was not moved."""
    refused = []
    for device in devices:
        account = device.account
        if account is not None and account.retired_at:
            refused.append(f"{device.name}: {account.name} is retired; its devices are read-only.")
            continue
        if _keeps_groups(account):
            if group is not None and group.account_id != account.pk:
                refused.append(f"{device.name}: {account.name} devices can only join that account's groups.")
                continue
            target = group.vendor_group_id or group.name if group else UNASSIGNED
            try:
                _ask_vendor(
                    account,
                    f"move {device.name} to {target!r}",
                    lambda c, d=device, t=target: c.move_thing(d.vendor_id, t),
                )
            except OperationRefused as exc:
                refused.append(str(exc))
                continue
        elif group is not None and group.account_id is not None:
            refused.append(
                f"{device.name}: only devices of {group.account.name} can join group {group.name!r}."
            )
            continue
        device.group = group
        device.save(update_fields=["group"])
    return refused


def installation_status_set(device: Device, status: str, *, user) -> InstallationEvent:
    if status not in InstallationStatus.values:
        raise OperationRefused(
            f"{status!r} is not an installation status; use one of {', '.join(InstallationStatus.values)}."
        )
    if device.account.retired_at:
        raise OperationRefused(f"{device.account.name} is retired; its devices are read-only.")
    if device.account.capabilities.installation_status:
        _ask_vendor(
            device.account,
            f"set {device.name} to {status!r}",
            lambda c: c.set_installation_status(device.vendor_id, status),
        )
    now = timezone.now()
    with transaction.atomic():
        device.installation_status = status
        device.save(update_fields=["installation_status"])
        return InstallationEvent.objects.create(
            device=device,
            status=status,
            timestamp=now,
            user=user,
            responsible=user.get_full_name() or user.get_username() if user else "",
        )
