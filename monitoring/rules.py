"""Which alarm rule applies to a channel: the nearest one wins (channel, then device, then the device's
deployment group, then the device's alarm profile), among enabled rules of the channel's quantity.

A rule that names the channel applies to it whatever the rule's quantity says (its author chose that
channel), so a channel of another quantity (kWh, V, ppm...) is evaluated only by a rule that names it:
a device, group or profile rule never reaches it, since limits of another quantity mean nothing without
its unit, and such channels of one device may each have another unit.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q

from monitoring.choices import Quantity
from monitoring.models import AlarmRule, Channel

MANY_CHANNELS = 200


def rules_for_channels(channels: Iterable[Channel]) -> dict[int, AlarmRule | None]:
    """{channel id: nearest rule or None}, in one query for the rules (channels need their device:
    pass them with ``select_related("device")`` to avoid a query per device)."""
    channels = list(channels)
    if not channels:
        return {}
    channel_ids = {c.pk for c in channels}
    device_ids = {c.device_id for c in channels}
    group_ids = {c.device.group_id for c in channels if c.device.group_id}
    profile_ids = {c.device.alarm_profile_id for c in channels if c.device.alarm_profile_id}
    if len(channel_ids) > MANY_CHANNELS:
        # Every enabled rule: fewer than the channels, and a query of thousands of ids costs the driver
        # more to parse than the database to send them all (the overview asks for 2,000 channels).
        scope = Q()
    else:
        scope = Q(channel_id__in=channel_ids) | Q(device_id__in=device_ids)
        if group_ids:
            scope |= Q(group_id__in=group_ids)
        if profile_ids:
            scope |= Q(profile_id__in=profile_ids)
    by_scope: dict[tuple[str, int, str], AlarmRule] = {}
    naming: dict[int, AlarmRule] = {}  # channel id: the oldest rule that names it, whatever its quantity
    # Ordered by id: when two rules share a scope and quantity, the oldest wins, every time.
    for rule in AlarmRule.objects.filter(scope, enabled=True).order_by("-id"):
        for level in ("channel", "device", "group", "profile"):
            scope_id = getattr(rule, f"{level}_id")
            if scope_id:
                by_scope[(level, scope_id, rule.quantity)] = rule
        if rule.channel_id:
            naming[rule.channel_id] = rule
    result: dict[int, AlarmRule | None] = {}
    for channel in channels:
        device = channel.device
        # A rule naming the channel in its own quantity first, then one naming it in another.
        named = by_scope.get(("channel", channel.pk, channel.quantity)) or naming.get(channel.pk)
        if named is not None or channel.quantity == Quantity.OTHER:
            result[channel.pk] = named
            continue
        # The device's rule, then its group's, then its profile's (written out: the overview weighs
        # 2,000 channels a request, and a list and a generator per channel were most of this loop).
        quantity = channel.quantity
        result[channel.pk] = (
            by_scope.get(("device", channel.device_id, quantity))
            or (device.group_id and by_scope.get(("group", device.group_id, quantity)))
            or (device.alarm_profile_id and by_scope.get(("profile", device.alarm_profile_id, quantity)))
            or None
        )
    return result
