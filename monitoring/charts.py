"""The excursion chart image for reports and emails, drawn on the server with matplotlib (Agg backend:
no display, no system packages; it installs from wheels)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, tzinfo

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def excursion_chart_png(
    rows: list[tuple[datetime, float | None]],
    *,
    low: float | None,
    high: float | None,
    started_at: datetime,
    ended_at: datetime | None,
    window_end: datetime,
    title: str,
    unit: str,
    zone: tzinfo = UTC,
    windows: list = (),
) -> bytes:
    """A line of the readings, broken where readings are missing (never a line across a gap), the limits
    as dashed lines, the excursion shaded, each suppression window (start, end, label) hatched in blue and
    named; times in ``zone``, named on the axis."""
    # A Figure, not pyplot: no global state, safe in threads and workers.
    figure = Figure(figsize=(7.0, 2.6), dpi=110)
    axes = figure.add_subplot()
    points = [(t, v) for t, v in rows if v is not None]
    if points:
        times, values = _with_holes(points)
        axes.plot(times, values, color="#1f5fa8", linewidth=1.2)
    for limit in (low, high):
        if limit is not None:
            axes.axhline(limit, color="#b22222", linestyle="--", linewidth=1)
    axes.axvspan(started_at, ended_at or window_end, color="#f4a261", alpha=0.35, label="excursion")
    if points:
        first, last = points[0][0], points[-1][0]
        for start, end, label in windows:
            start, end = max(start, first), min(end, last)
            if end <= start:
                continue
            axes.axvspan(
                start, end, facecolor="none", edgecolor="#1a56db", hatch="//", linewidth=0.8, alpha=0.6
            )
            axes.annotate(
                label,
                xy=(start, 1),
                xycoords=("data", "axes fraction"),
                xytext=(2, -9),
                textcoords="offset points",
                fontsize=7,
                color="#1a56db",
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1},
            )
    axes.set_title(title, fontsize=9)
    axes.set_ylabel(unit, fontsize=8)
    axes.set_xlabel(f"Time ({getattr(zone, 'key', str(zone))})", fontsize=8)
    axes.tick_params(labelsize=7)
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%d %b %H:%M", tz=zone))
    axes.grid(True, linewidth=0.3)
    figure.autofmt_xdate()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _with_holes(points: list[tuple[datetime, float]]) -> tuple[list[datetime], list[float]]:
    """The points with a NaN in each step much longer than the usual one: matplotlib breaks the line
    there, so a gap in the readings shows as a gap."""
    steps = sorted(b[0] - a[0] for a, b in zip(points, points[1:], strict=False))
    usual = steps[len(steps) // 2] if steps else timedelta(minutes=10)
    hole = max(usual * 2.5, timedelta(minutes=2))
    times: list[datetime] = []
    values: list[float] = []
    for number, (moment, value) in enumerate(points):
        if number and moment - points[number - 1][0] > hole:
            times.append(points[number - 1][0] + (moment - points[number - 1][0]) / 2)
            values.append(float("nan"))
        times.append(moment)
        values.append(value)
    return times, values
