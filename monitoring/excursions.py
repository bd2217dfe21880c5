"""The excursion engine: alarm rules -> excursions, on event time, for the readings not evaluated yet.

Each channel keeps a watermark (``Channel.evaluated_until``): its readings up to there were evaluated,
except those from ``Channel.pending_from`` on, which the ingest marks when they arrive late. The engine
runs after each ingest (``monitoring.receivers``) and on a beat (``evaluate_readings``, each minute), and
takes every channel whose newest reading is ahead of its watermark: [first, last] runs from the
watermark (or ``pending_from``, the earlier) to the newest reading. It stores what it finds and moves the
watermark in one transaction, and storing is idempotent (a found excursion updates the stored one it
overlaps), so a crash anywhere, in a sync or in an evaluation, is followed by exactly the excursions of a
clean run once the next beat ran.

For a channel's span [first, last] the engine reads one *window* of readings and replays the rule over it:

- the window starts at the last reading before ``first`` that is clearly in range (inside the limits by the
  clear margin): there, whatever happened before, no excursion is going on and no delay is counting.
  The search never goes back past the start of an excursion that is still ongoing (that start is also a
  point where nothing was going on just before), so its cost is bounded by the data that matters;
- it ends at the first clearly-in-range reading after ``last`` (or at the newest reading).

So the cost grows with the new data, not with the history (see ``benchmarks/excursions.py``), and late or
backfilled readings re-evaluate exactly the window they fall in: an excursion is found whenever its data
arrives, and one found earlier is updated (never duplicated) when data inside it arrives later.

The rule, replayed reading by reading:
- out of range: below the low or above the high limit, or a sensor error (an error never counts as in
  range);
- an out-of-range run opens an excursion once it has lasted ``delay_minutes`` (it starts at the run's
  first reading); a reading back inside the limits before that cancels the run;
- an excursion ends at the first reading back inside the limits by ``clear_margin`` (hysteresis);
- a gap between two readings longer than ``no_data_minutes`` is a no-data excursion (the periodic task
  ``open_no_data_excursions`` opens it while the logger is still silent);
- out-of-range minutes are added up per UTC day: past ``daily_budget_minutes`` a budget excursion opens.

Each excursion records its start, its end (empty while ongoing), the peak (the value furthest outside the
limits), the degree-minutes out of range (each reading held until the next) and the MKT over its window.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from monitoring.choices import ExcursionKind, InstallationStatus, Quantity
from monitoring.mkt import mean_kinetic_temperature
from monitoring.models import AlarmRule, Channel, Excursion, Reading
from monitoring.rules import rules_for_channels

logger = logging.getLogger("monitoring.excursions")

# A reading stands for at most this long when out-of-range minutes are added up (a longer gap is missing
# data, not time out of range).
MAX_STEP = timedelta(hours=1)

Row = tuple[datetime, float | None, str]


@dataclass
class Found:
    """An excursion as the replay found it (not yet stored)."""

    kind: str
    started_at: datetime
    ended_at: datetime | None
    rows: list[Row] = field(default_factory=list)  # the readings from start to end (end included)


# -- the rule over one value ------------------------------------------------------------------------


def is_out_of_range(rule: AlarmRule, value: float | None, error: str) -> bool:
    if error or value is None:
        return True
    return (rule.low_limit is not None and value < rule.low_limit) or (
        rule.high_limit is not None and value > rule.high_limit
    )


def is_clearly_in_range(rule: AlarmRule, value: float | None, error: str) -> bool:
    if error or value is None:
        return False
    margin = rule.clear_margin or 0.0
    return (rule.low_limit is None or value >= rule.low_limit + margin) and (
        rule.high_limit is None or value <= rule.high_limit - margin
    )


def clearly_in_range_q(rule: AlarmRule) -> Q:
    """The same test as ``is_clearly_in_range``, in SQL."""
    margin = rule.clear_margin or 0.0
    q = Q(value__isnull=False, error="")
    if rule.low_limit is not None:
        q &= Q(value__gte=rule.low_limit + margin)
    if rule.high_limit is not None:
        q &= Q(value__lte=rule.high_limit - margin)
    return q


def excess(rule: AlarmRule, value: float | None) -> float:
    """How far outside the limits a value is (0 inside)."""
    if value is None:
        return 0.0
    if rule.high_limit is not None and value > rule.high_limit:
        return value - rule.high_limit
    if rule.low_limit is not None and value < rule.low_limit:
        return rule.low_limit - value
    return 0.0


# -- replay -----------------------------------------------------------------------------------------


def replay_out_of_range(rule: AlarmRule, rows: list[Row]) -> list[Found]:
    """Out-of-range excursions in ``rows`` (sorted by time; the first row starts with nothing going on)."""
    delay = timedelta(minutes=rule.delay_minutes or 0)
    found: list[Found] = []
    run_start: int | None = None  # index of the first reading of the current out-of-range run
    active: Found | None = None
    for i, (t, value, error) in enumerate(rows):
        if active is not None:
            active.rows.append(rows[i])
            if is_clearly_in_range(rule, value, error):
                active.ended_at = t
                found.append(active)
                active, run_start = None, None
            continue
        if not is_out_of_range(rule, value, error):
            run_start = None
            continue
        if run_start is None:
            run_start = i
        if t - rows[run_start][0] >= delay:
            active = Found(
                ExcursionKind.OUT_OF_RANGE, rows[run_start][0], None, list(rows[run_start : i + 1])
            )
    if active is not None:
        found.append(active)
    return found


def replay_no_data(rule: AlarmRule, rows: list[Row]) -> list[Found]:
    if not rule.no_data_minutes:
        return []
    timeout = timedelta(minutes=rule.no_data_minutes)
    return [
        Found(ExcursionKind.NO_DATA, a[0], b[0], [a, b])
        for a, b in zip(rows, rows[1:], strict=False)
        if b[0] - a[0] > timeout
    ]


def replay_budget(rule: AlarmRule, rows: list[Row], days: set) -> list[Found]:
    """Per UTC day in ``days``: once the out-of-range minutes pass the budget, a budget excursion that ends
    at the next clearly-in-range reading. ``rows`` must hold those whole days."""
    if rule.daily_budget_minutes is None:
        return []
    budget = timedelta(minutes=rule.daily_budget_minutes)
    used: dict = {}
    found: list[Found] = []
    current: Found | None = None
    for i, (t, value, error) in enumerate(rows):
        if current is not None:
            current.rows.append(rows[i])
            if is_clearly_in_range(rule, value, error):
                current.ended_at = t
                current = None
        day = t.date()
        if day not in days or not is_out_of_range(rule, value, error) or i + 1 == len(rows):
            continue
        step = min(rows[i + 1][0] - t, MAX_STEP)
        before = used.get(day, timedelta(0))
        used[day] = before + step
        if before <= budget < used[day] and current is None:
            current = Found(ExcursionKind.BUDGET, t + (budget - before), None, [rows[i]])
            found.append(current)
    return found


# -- what an excursion records ----------------------------------------------------------------------


def measure(rule: AlarmRule, quantity: str, found: Found) -> dict:
    rows = found.rows
    inside = [r for r in rows if found.ended_at is None or r[0] < found.ended_at] or rows
    numeric = [r for r in inside if r[1] is not None]
    fields: dict = {"peak_value": None, "peak_at": None, "degree_minutes": 0.0, "mkt": None}
    if found.kind == ExcursionKind.NO_DATA:
        return fields
    if numeric:
        peak = max(
            numeric, key=lambda r: (excess(rule, r[1]), r[1] if rule.high_limit is not None else -r[1])
        )
        fields["peak_value"], fields["peak_at"] = peak[1], peak[0]
    degree_minutes = 0.0
    for (t, value, _), (t_next, _, _) in zip(rows, rows[1:], strict=False):
        if found.ended_at is not None and t >= found.ended_at:
            break
        degree_minutes += excess(rule, value) * (t_next - t).total_seconds() / 60
    fields["degree_minutes"] = round(degree_minutes, 3)
    if quantity == Quantity.TEMPERATURE and any(r[1] is not None for r in rows):
        fields["mkt"] = round(
            mean_kinetic_temperature([(r[0], r[1]) for r in rows], rule.activation_energy), 3
        )
    return fields


# -- the engine -------------------------------------------------------------------------------------


def evaluate_readings() -> list[Excursion]:
    """Evaluate every channel whose readings are ahead of its watermark (the beat's task, each minute).

    Whatever a crash left unevaluated (a sync killed after a commit, an evaluation killed halfway) is found
    here by the watermark alone, so no excursion is ever missed. Safe to run at any time, twice at once."""
    behind = Channel.objects.filter(
        Q(pending_from__isnull=False)
        | Q(last_reading_at__isnull=False, evaluated_until__isnull=True)
        | Q(last_reading_at__gt=F("evaluated_until"))
    )
    return evaluate_channels(list(behind.values_list("pk", flat=True)))


def evaluate_channels(channel_ids: Iterable[int]) -> list[Excursion]:
    """Evaluate the alarm rules over these channels' readings from their watermark on (see the module
    docstring); each channel in a transaction of its own that stores its excursions and moves its
    watermark together, so a crash redoes a channel whole or not at all.

    Returns the excursions opened by this run (their emails are sent). One channel failing is logged and
    never stops the others (its watermark stays: the next beat tries again)."""
    from monitoring.notifications import notify_excursion_opened

    channels = list(Channel.objects.select_related("device").filter(pk__in=list(channel_ids)).order_by("pk"))
    if not channels:
        return []
    rules = rules_for_channels(channels)
    opened: list[Excursion] = []
    for channel in channels:
        try:
            opened += _evaluate_from_watermark(channel, rules[channel.pk])
        except Exception:
            logger.exception("excursion evaluation failed for channel %s", channel.pk)
    for excursion in opened:
        notify_excursion_opened(excursion)
    return opened


def _evaluate_from_watermark(channel: Channel, rule: AlarmRule | None) -> list[Excursion]:
    with transaction.atomic():
        # One evaluation of a channel at a time (a sync's, the beat's, the no-data task's); an ingest of
        # its readings waits for this one to commit, and then notes what it brought (``pending_from``).
        marks = (
            Channel.objects.select_for_update()
            .filter(pk=channel.pk)
            .values("evaluated_until", "pending_from")
            .first()
        )
        if marks is None:
            return []
        readings = Reading.objects.filter(channel_id=channel.pk)
        last = readings.order_by("-timestamp").values_list("timestamp", flat=True).first()
        if last is None:
            return []
        starts = [t for t in (marks["evaluated_until"], marks["pending_from"]) if t is not None]
        if starts:
            first = min(starts)
        else:  # never evaluated: from its first reading
            first = readings.order_by("timestamp").values_list("timestamp", flat=True).first()
        if marks["pending_from"] is None and marks["evaluated_until"] is not None and last <= first:
            return []  # nothing new
        opened = [] if rule is None else _evaluate_window(channel, rule, first, last)
        Channel.objects.filter(pk=channel.pk).update(evaluated_until=last, pending_from=None)
        return opened


def evaluate_channel(channel: Channel, rule: AlarmRule, first: datetime, last: datetime) -> list[Excursion]:
    """Replay ``rule`` over the window around [first, last] of one channel; store what it finds."""
    with transaction.atomic():
        # One evaluation of a channel at a time (ingest and the periodic no-data task may meet here).
        Channel.objects.select_for_update().filter(pk=channel.pk).first()
        return _evaluate_window(channel, rule, first, last)


def _evaluate_window(channel: Channel, rule: AlarmRule, first: datetime, last: datetime) -> list[Excursion]:
    """Replay ``rule`` over the window around [first, last] (the caller holds the channel's lock)."""
    readings = Reading.objects.filter(channel_id=channel.pk)
    window_start = _window_start(channel, rule, first)
    window_end = (
        readings.filter(clearly_in_range_q(rule), timestamp__gt=last)
        .order_by("timestamp")
        .values_list("timestamp", flat=True)
        .first()
    )
    days = set()
    day = first.date()
    while day <= last.date():
        days.add(day)
        day += timedelta(days=1)
    fetch_from, fetch_to = window_start, window_end
    if rule.daily_budget_minutes is not None:
        day_start = datetime.combine(min(days), datetime.min.time(), tzinfo=first.tzinfo)
        day_end = datetime.combine(max(days), datetime.min.time(), tzinfo=first.tzinfo) + timedelta(days=1)
        # None means "unbounded" and stays so: the budget needs whole days on top of the window.
        fetch_from = None if window_start is None else min(window_start, day_start)
        fetch_to = None if window_end is None else max(window_end, day_end)
    query = readings
    if fetch_from is not None:
        query = query.filter(timestamp__gte=fetch_from)
    if fetch_to is not None:
        query = query.filter(timestamp__lte=fetch_to)
    rows: list[Row] = list(query.order_by("timestamp").values_list("timestamp", "value", "error"))
    window = [
        r
        for r in rows
        if (window_start is None or r[0] >= window_start) and (window_end is None or r[0] <= window_end)
    ]
    found = replay_out_of_range(rule, window) + replay_no_data(rule, window) + replay_budget(rule, rows, days)
    return _store(channel, rule, found)


def _window_start(channel: Channel, rule: AlarmRule, first: datetime) -> datetime | None:
    before = Reading.objects.filter(channel_id=channel.pk, timestamp__lt=first).filter(
        clearly_in_range_q(rule)
    )
    ongoing = (
        Excursion.objects.filter(
            channel=channel,
            rule=rule,
            kind=ExcursionKind.OUT_OF_RANGE,
            ended_at__isnull=True,
            started_at__lt=first,
        )
        .order_by("started_at")
        .values_list("started_at", flat=True)
        .first()
    )
    if ongoing is not None:
        before = before.filter(timestamp__gte=ongoing)
    start = before.order_by("-timestamp").values_list("timestamp", flat=True).first()
    return start or ongoing


def _overlaps(a_start, a_end, b_start, b_end) -> bool:
    return (b_end is None or a_start <= b_end) and (a_end is None or b_start <= a_end)


def _store(channel: Channel, rule: AlarmRule, found: list[Found]) -> list[Excursion]:
    """Update the stored excursions that the found ones overlap; create the others. Stored excursions that
    nothing overlaps are left alone (an excursion is evidence: never deleted by the engine)."""
    if not found:
        return []
    earliest = min(f.started_at for f in found)
    existing = list(
        Excursion.objects.filter(channel=channel, rule=rule)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gte=earliest))
        .order_by("started_at")
    )
    used: set[int] = set()
    created: list[Excursion] = []
    for item in sorted(found, key=lambda f: (f.kind, f.started_at)):
        values = {
            "started_at": item.started_at,
            "ended_at": item.ended_at,
            **measure(rule, channel.quantity, item),
        }
        match = next(
            (
                e
                for e in existing
                if e.pk not in used
                and e.kind == item.kind
                and _overlaps(e.started_at, e.ended_at, item.started_at, item.ended_at)
            ),
            None,
        )
        if match is None:
            excursion = Excursion.objects.create(
                channel=channel,
                rule=rule,
                kind=item.kind,
                severity=rule.severity,
                low_limit=rule.low_limit,
                high_limit=rule.high_limit,
                **values,
            )
            existing.append(excursion)
            used.add(excursion.pk)
            created.append(excursion)
            continue
        used.add(match.pk)
        changed = [name for name, value in values.items() if getattr(match, name) != value]
        if changed:
            for name in changed:
                setattr(match, name, values[name])
            match.save(update_fields=changed)
    return created


def open_no_data_excursions(now: datetime | None = None) -> list[Excursion]:
    """Open a no-data excursion for every installed channel whose rule's timeout has passed since its
    last reading (the periodic task). The next reading ends it (see ``replay_no_data``)."""
    from monitoring.notifications import notify_excursion_opened

    now = now or timezone.now()
    channels = list(
        Channel.objects.select_related("device")
        .filter(last_reading_at__isnull=False)
        .exclude(device__installation_status__in=[InstallationStatus.UNINSTALLED, InstallationStatus.RETIRED])
    )
    rules = rules_for_channels(channels)
    waiting = {
        (channel_id, started_at)
        for channel_id, started_at in Excursion.objects.filter(
            kind=ExcursionKind.NO_DATA, channel__in=channels
        ).values_list("channel_id", "started_at")
    }
    opened = []
    for channel in channels:
        rule = rules[channel.pk]
        if rule is None or not rule.no_data_minutes:
            continue
        if now - channel.last_reading_at <= timedelta(minutes=rule.no_data_minutes):
            continue
        if (channel.pk, channel.last_reading_at) in waiting:
            continue
        opened.append(
            Excursion.objects.create(
                channel=channel,
                rule=rule,
                kind=ExcursionKind.NO_DATA,
                severity=rule.severity,
                low_limit=rule.low_limit,
                high_limit=rule.high_limit,
                started_at=channel.last_reading_at,
            )
        )
    for excursion in opened:
        notify_excursion_opened(excursion)
    return opened
