"""Who is on call at a moment, from a rota's weekly shifts in its own time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from alarms.models import OnCallRota


def on_call(rota: OnCallRota, at: datetime) -> list:
    """The users whose shift holds ``at`` (an aware time), read on the rota's wall clock: across a week's
    end (Sunday night into Monday) and across a change of daylight saving time alike."""
    local = at.astimezone(ZoneInfo(rota.time_zone))
    users = []
    for shift in rota.shifts.select_related("user").order_by("start_day", "start_time", "id"):
        if shift.covers(local) and shift.user.is_active and shift.user not in users:
            users.append(shift.user)
    return users
