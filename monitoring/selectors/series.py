"""A device's detail: its readings, gaps, excursions, and chart series.

Charts never ship raw years: ``channel_series`` returns raw readings for short ranges and per-bucket
minimum and maximum (from the hourly rollups kept at ingest) for long ones, so no peak is hidden and the
cost grows with the buckets shown, not with the readings stored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median

from django.db import connections
from django.db.models import Prefetch, Q, QuerySet

from monitoring.models import (
    Channel,
    DataGap,
    Device,
    Excursion,
    InstallationEvent,
    Reading,
    ReadingRollup,
)


def device_detail(device_id: int) -> Device | None:
    return (
        Device.objects.select_related("account", "group")
        .prefetch_related(Prefetch("channels", queryset=Channel.objects.order_by("quantity", "name")))
        .filter(pk=device_id)
        .first()
    )


def latest_readings(device: Device, limit: int = 20) -> list[Reading]:
    """The newest ``limit`` readings of the device's channels, newest first (then by channel name).

    Each channel's newest through its (channel, timestamp) key, in one UNION ALL: ordering the device's
    readings by time across channels made PostgreSQL merge every month partition's rows."""
    channels = {c.pk: c for c in device.channels.all()}
    if not channels:
        return []
    newest = [Reading.objects.filter(channel_id=pk).order_by("-timestamp")[:limit] for pk in channels]
    readings = list(newest[0].union(*newest[1:], all=True)) if len(newest) > 1 else list(newest[0])
    for reading in readings:
        reading.channel = channels[reading.channel_id]
    readings.sort(key=lambda r: r.channel.name)
    readings.sort(key=lambda r: r.timestamp, reverse=True)
    return readings[:limit]


def installation_history(device: Device) -> QuerySet[InstallationEvent]:
    return device.installation_events.select_related("user").order_by("-timestamp", "-pk")


def excursions_between(channels, start: datetime, end: datetime) -> list[Excursion]:
    return list(
        Excursion.objects.filter(channel__in=channels, started_at__lt=end)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=start))
        .select_related("channel")
        .order_by("started_at")
    )


def gaps_between(device: Device, start: datetime, end: datetime) -> list[DataGap]:
    return list(DataGap.objects.filter(device=device, start__lt=end, end__gt=start).order_by("start"))


# Ranges up to this long are drawn from the raw readings; longer ones from hourly rollups in buckets.
RAW_MAX_SPAN = timedelta(days=3)
MAX_BUCKETS = 1000


@dataclass
class Series:
    """What one channel's chart draws. ``kind`` is "raw" (``values``) or "buckets" (``minimum`` /
    ``maximum`` / ``mean`` per bucket start). A ``None`` value is a hole: the line is never drawn across it.
    """

    channel: Channel
    kind: str
    times: list[datetime] = field(default_factory=list)
    values: list[float | None] = field(default_factory=list)
    minimum: list[float | None] = field(default_factory=list)
    maximum: list[float | None] = field(default_factory=list)
    mean: list[float | None] = field(default_factory=list)
    error_times: list[datetime] = field(default_factory=list)
    error_values: list[float | None] = field(default_factory=list)
    error_labels: list[str] = field(default_factory=list)
    bucket: timedelta | None = None


def bucket_size(start: datetime, end: datetime) -> timedelta:
    hours = max(1, math.ceil((end - start).total_seconds() / 3600 / MAX_BUCKETS))
    return timedelta(hours=hours)


def channel_series(
    channel: Channel, start: datetime, end: datetime, gaps=(), *, raw_available: bool = True
) -> Series:
    """``raw_available=False`` when the range reaches into an archived month (``monitoring/archive.py``):
    its raw readings are in a file, not the table, and its hourly rollups draw it."""
    if end - start <= RAW_MAX_SPAN and raw_available:
        return _raw_series(channel, start, end, gaps)
    return _bucket_series(channel, start, end, gaps)


def _in_gap(moment: datetime, gaps) -> bool:
    return any(g.start <= moment <= g.end for g in gaps)


def _raw_series(channel: Channel, start: datetime, end: datetime, gaps) -> Series:
    rows = list(
        Reading.objects.filter(channel=channel, timestamp__gte=start, timestamp__lte=end)
        .order_by("timestamp")
        .values_list("timestamp", "value", "error")
    )
    series = Series(channel=channel, kind="raw")
    if not rows:
        return series
    steps = [(b[0] - a[0]).total_seconds() for a, b in zip(rows, rows[1:], strict=False)]
    usual = median(steps) if steps else 0
    # A hole is a step much longer than the usual interval, or one across a gap the vendor reported.
    hole_after = max(usual * 2.5, 120)
    last_value = None
    previous = None
    for timestamp, value, error in rows:
        if previous is not None:
            step = (timestamp - previous).total_seconds()
            middle = previous + (timestamp - previous) / 2
            if step > hole_after or (gaps and _in_gap(middle, gaps)):
                series.times.append(middle)
                series.values.append(None)
        previous = timestamp
        if error or value is None:
            series.error_times.append(timestamp)
            series.error_values.append(last_value)
            series.error_labels.append(error or "invalid value")
            series.times.append(timestamp)
            series.values.append(None)
            continue
        series.times.append(timestamp)
        series.values.append(value)
        last_value = value
    return series


# A bucket's number from its first hour (whole buckets of ``size`` after ``first_hour``), computed by
# PostgreSQL with the sums: plain integers and floats come back, not a datetime to parse per bucket.
_BUCKETS_SQL = """
    SELECT floor(extract(epoch FROM hour - %(first)s) / %(size)s)::int AS bucket,
           min(minimum), max(maximum), sum(total), sum(count)::bigint, sum(errors)::bigint
      FROM monitoring_readingrollup
     WHERE channel_id = %(channel)s AND hour >= %(first)s AND hour < %(end)s
     GROUP BY 1
     ORDER BY 1
"""


def _bucket_series(channel: Channel, start: datetime, end: datetime, gaps) -> Series:
    size = bucket_size(start, end)
    first_hour = start.replace(minute=0, second=0, microsecond=0)
    # The buckets are summed up by PostgreSQL: a year is 8,760 hourly rows a channel, and parsing them
    # in Python (a datetime each) cost most of the year chart's time; about 1,000 buckets come back.
    # MIN and MAX skip the hours without a numeric reading, as the hourly rows do.
    params = {"first": first_hour, "size": size.total_seconds(), "channel": channel.pk, "end": end}
    with connections[ReadingRollup.objects.db].cursor() as cursor:
        cursor.execute(_BUCKETS_SQL, params)
        rows = cursor.fetchall()
    buckets: dict[int, list] = {}
    for index, low, high, total, count, errors in rows:
        buckets[index] = [low, high, total or 0.0, count or 0, errors or 0]
    series = Series(channel=channel, kind="buckets", bucket=size)
    if not buckets:
        return series
    last_mean = None
    previous_index = None
    for index in sorted(buckets):
        low, high, total, count, errors = buckets[index]
        moment = first_hour + size * index
        if previous_index is not None and index > previous_index + 1:
            # Empty buckets between two with data: a hole, never a line across it.
            series.times.append(first_hour + size * (previous_index + 1))
            for values in (series.minimum, series.maximum, series.mean):
                values.append(None)
        previous_index = index
        if errors:
            series.error_times.append(moment)
            series.error_values.append(low if low is not None else last_mean)
            series.error_labels.append(f"{errors} sensor error{'s' if errors != 1 else ''}")
        series.times.append(moment)
        if count:
            mean = total / count
            series.minimum.append(low)
            series.maximum.append(high)
            series.mean.append(mean)
            last_mean = mean
        else:
            for values in (series.minimum, series.maximum, series.mean):
                values.append(None)
    return series
