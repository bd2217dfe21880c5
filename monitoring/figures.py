"""Plotly figures of the pages, built on the server (``plotly.graph_objects``); the page gets their JSON.

Times are sent as wall-clock text in the user's zone (Plotly has no zones), and the axis names the zone.
A ``None`` in a series is a hole: traces use ``connectgaps=False``, so no line crosses missing data.
(``monitoring.charts`` draws the PNG images of reports and emails.)
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

import plotly.graph_objects as go
import plotly.io

from monitoring.choices import Quantity
from monitoring.models.excursions import ExcursionKind
from monitoring.partitions import add_months, month_start
from monitoring.selectors import AlertOnMap, Series, TrackPoint

COLOURS = ["#1a73e8", "#e8710a", "#188038", "#9334e6", "#c5221f", "#12b5cb"]
EXCURSION_FILL = "rgba(179, 38, 30, 0.16)"
GAP_FILL = "rgba(95, 99, 104, 0.14)"
# A planned intervention (a suppression window): blue with a dotted edge, never confused with the grey of
# "no data" or the red of an excursion.
WINDOW_FILL = "rgba(26, 115, 232, 0.10)"
WINDOW_EDGE = {"color": "rgba(26, 86, 219, 0.55)", "width": 1, "dash": "dot"}
WINDOW_TEXT = "#1a56db"
BAND_FILL = "rgba(27, 127, 59, 0.07)"
NO_TEMPERATURE = "#9aa0a6"  # a track point with no temperature read near it
# Plotly's default template adds ~7 kB to every figure; this is all we need of one. (A graph objects
# figure merged it into the default one all the same; the device chart, plain dicts, ships only this.
# The default's zero line was white on white: none here either.)
SMALL_TEMPLATE = {
    "layout": {
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "xaxis": {"gridcolor": "#eceff1", "linecolor": "#9aa0a6", "automargin": True, "zeroline": False},
        "yaxis": {"gridcolor": "#eceff1", "linecolor": "#9aa0a6", "automargin": True, "zeroline": False},
        "font": {"family": "system-ui, sans-serif", "color": "#202124"},
    }
}


def _local(values: list[datetime], zone: tzinfo) -> list[str]:
    # "YYYY-MM-DD HH:MM:SS" of the local time: str() of a datetime begins with it (twice strftime's speed).
    return [str(v.astimezone(zone))[:19] for v in values]


def _rounded(values):
    return [None if v is None else round(v, 2) for v in values]


# The axis titles of the two usual quantities; any other quantity gets an axis titled with its unit.
AXIS_TITLES = {Quantity.TEMPERATURE: "Temperature (°C)", Quantity.HUMIDITY: "Humidity (%RH)"}


def _axis_key(channel) -> str:
    """Channels that share an axis: by quantity, and for other quantities by unit (kWh never on V's)."""
    if channel.quantity in AXIS_TITLES:
        return channel.quantity
    return f"unit:{channel.unit}"


def _axes(series_list: list[Series]) -> dict[str, tuple[str, str]]:
    """{axis key: (Plotly axis name, title)}: temperature on the left axis, humidity on the right, then
    one more axis on the right for each other unit, in the order of the channels."""
    keys = [Quantity.TEMPERATURE]  # the left axis is temperature's, even before any reading
    for series in series_list:
        key = _axis_key(series.channel)
        if key not in keys:
            keys.append(key)
    keys.sort(key=lambda k: {Quantity.TEMPERATURE: 0, Quantity.HUMIDITY: 1}.get(k, 2))  # stable: in order
    if len(keys) > 1 and not any(_axis_key(s.channel) == Quantity.TEMPERATURE for s in series_list):
        keys.remove(Quantity.TEMPERATURE)  # no temperature on this device: its first quantity takes the left
    axes = {}
    for number, key in enumerate(keys):
        channel = next((s.channel for s in series_list if _axis_key(s.channel) == key), None)
        title = AXIS_TITLES.get(key) or (channel.get_unit_display() if channel is not None else key)
        axes[key] = ("y" if number == 0 else f"y{number + 1}", title)
    return axes


def _what(channel) -> str:
    """What a channel measures, in words: its quantity, or for another quantity its name."""
    if channel.quantity in AXIS_TITLES:
        return channel.get_quantity_display()
    return channel.display_name


def _line(series: Series, values, *, name, colour, width, axis, hover, **extra) -> dict:
    return dict(
        type="scatter",
        x=extra.pop("x"),
        y=_rounded(values),
        name=name,
        mode="lines",
        line={"color": colour, "width": width},
        connectgaps=False,
        yaxis=axis,
        hovertemplate=hover,
        **extra,
    )


def device_chart(
    series_list: list[Series],
    *,
    rules: dict,
    excursions: list,
    gaps: list,
    zone: tzinfo,
    start: datetime,
    end: datetime,
    windows: list = (),
) -> dict:
    """The device chart as Plotly's JSON structure (``{"data": [...], "layout": {...}}``), built as plain
    dicts: ``plotly.graph_objects`` validates and copies every value of every trace, which cost a year's
    chart (4,000 points a channel) more than everything else of its page. The tests check the result
    against Plotly's schema instead.

    ``windows``: the suppression windows shown (``alarms.suppression.WindowShown``: start, end, label),
    each shaded as a band of its own."""
    traces: list[dict] = []
    shapes = []
    axes = _axes(series_list)
    for number, series in enumerate(series_list):
        channel = series.channel
        colour = COLOURS[number % len(COLOURS)]
        axis = axes[_axis_key(channel)][0]
        unit = channel.get_unit_display()
        name = channel.title
        times = _local(series.times, zone)
        shapes += _limit_shapes(channel, rules.get(channel.pk), axis, unit)
        if not series.times:
            continue
        if series.kind == "raw":
            traces.append(
                _line(
                    series,
                    series.values,
                    x=times,
                    name=name,
                    colour=colour,
                    width=1.5,
                    axis=axis,
                    hover=f"%{{y:.2f}} {unit}<extra>{name}</extra>",
                )
            )
        else:
            hours = int(series.bucket.total_seconds() // 3600)
            traces.append(
                _line(
                    series,
                    series.maximum,
                    x=times,
                    name=f"{name}: max per {hours} h",
                    colour=colour,
                    width=0.8,
                    axis=axis,
                    legendgroup=name,
                    hover=f"max %{{y:.2f}} {unit}<extra>{name}</extra>",
                )
            )
            traces.append(
                _line(
                    series,
                    series.minimum,
                    x=times,
                    name=f"{name}: min per {hours} h",
                    colour=colour,
                    width=0.8,
                    axis=axis,
                    legendgroup=name,
                    hover=f"min %{{y:.2f}} {unit}<extra>{name}</extra>",
                )
            )
            band_x, band_y = _band(times, series.minimum, series.maximum)
            traces.append(
                dict(
                    type="scatter",
                    x=band_x,
                    y=band_y,
                    name=f"{name}: min to max",
                    mode="lines",
                    line={"width": 0},
                    fill="toself",  # each run between holes closes on itself: no band across a gap
                    fillcolor=_transparent(colour),
                    yaxis=axis,
                    legendgroup=name,
                    showlegend=False,
                    hoverinfo="skip",
                )
            )
            traces.append(
                _line(
                    series,
                    series.mean,
                    x=times,
                    name=f"{name}: mean",
                    colour=colour,
                    width=1.5,
                    axis=axis,
                    legendgroup=name,
                    hover=f"mean %{{y:.2f}} {unit}<extra>{name}</extra>",
                )
            )
        if series.error_times:
            traces.append(
                dict(
                    type="scatter",
                    x=_local(series.error_times, zone),
                    y=[0 if v is None else round(v, 2) for v in series.error_values],
                    name=f"Sensor error ({channel.display_name})",
                    mode="markers",
                    marker={"symbol": "x", "size": 9, "color": "#b3261e"},
                    text=series.error_labels,
                    yaxis=axis,
                    hovertemplate="%{text}<extra>Sensor error</extra>",
                )
            )
    shapes += _period_shapes(series_list, excursions, gaps, zone, start, end, windows)
    zone_name = getattr(zone, "key", str(zone))
    right_axes = len(axes) - 1
    layout = {
        "template": SMALL_TEMPLATE,
        "margin": {"l": 60, "r": 60 * right_axes if right_axes else 20, "t": 30, "b": 40},
        "height": 420,
        "hovermode": "x unified",
        "legend": {"orientation": "h", "y": -0.18},
        "xaxis": {
            "title": {"text": f"Time ({zone_name})"},
            "range": _local([start, end], zone),
            "type": "date",
        },
        "shapes": shapes,
        "uirevision": "keep",
    }
    spans = _axis_spans(series_list, rules, axes)
    for key, (axis, title) in axes.items():
        properties: dict = {"title": {"text": title}}
        if key in spans:
            properties.update(_round_ticks(*spans[key]))
        if axis != "y":
            properties.update(overlaying="y", side="right", showgrid=False)
        if axis not in ("y", "y2"):
            # A third axis and more: each shifted right of the one before, never drawn over it.
            properties.update(anchor="free", autoshift=True)
        layout["yaxis" if axis == "y" else f"yaxis{axis[1:]}"] = properties
    return {"data": traces, "layout": layout}


def _limit_shapes(channel, rule, axis: str, unit: str) -> list[dict]:
    if rule is None or (rule.low_limit is None and rule.high_limit is None):
        return []
    low, high = rule.low_limit, rule.high_limit
    shapes = []
    if low is not None and high is not None:
        shapes.append(
            _shape(
                xref="paper", x0=0, x1=1, yref=axis, y0=low, y1=high, fillcolor=BAND_FILL, line={"width": 0}
            )
        )
    for limit, label in ((low, "low"), (high, "high")):
        if limit is None:
            continue
        shapes.append(
            _shape(
                type="line",
                xref="paper",
                x0=0,
                x1=1,
                yref=axis,
                y0=limit,
                y1=limit,
                line={"color": "#b3261e", "width": 1, "dash": "dash"},
                label={
                    "text": f"{_what(channel)} {label} limit {limit:g} {unit}",
                    "textposition": "end",
                    "font": {"size": 10, "color": "#b3261e"},
                    "yanchor": "bottom" if label == "high" else "top",
                },
            )
        )
    return shapes


def _band(times: list[str], low: list, high: list) -> tuple[list, list]:
    """The min-to-max band as one closed outline per run of buckets with data, runs apart by a None."""
    x: list = []
    y: list = []
    run: list[int] = []
    for index in [*range(len(times)), None]:
        if index is not None and low[index] is not None and high[index] is not None:
            run.append(index)
            continue
        if run:
            if x:
                x.append(None)
                y.append(None)
            x += [times[i] for i in run] + [times[i] for i in reversed(run)]
            y += [round(high[i], 2) for i in run] + [round(low[i], 2) for i in reversed(run)]
            run = []
    return x, y


def _series_end(series: Series) -> tuple[datetime | None, timedelta]:
    """The time of the series' last value, and how long a silence after it is still no hole."""
    values = series.values if series.kind == "raw" else series.mean
    last = next(
        (t for t, v in zip(reversed(series.times), reversed(values), strict=True) if v is not None), None
    )
    if series.kind != "raw":
        return last, 2 * (series.bucket or timedelta(hours=1))
    stamps = [t for t, v in zip(series.times, values, strict=True) if v is not None]
    steps = sorted((b - a) for a, b in zip(stamps, stamps[1:], strict=False))
    usual = steps[len(steps) // 2] if steps else timedelta(minutes=10)
    return last, max(usual * 2.5, timedelta(minutes=15))


def no_data_periods(series_list: list[Series], excursions: list, gaps: list, start: datetime, end: datetime):
    """Every stretch without data in the range, each once: the vendor's gaps, the no-data excursions, and
    the silence from the last reading to the end of the range (up to now: still open), merged where they
    overlap. [(start, end, open)]."""
    periods = [(max(g.start, start), min(g.end, end), False) for g in gaps]
    for excursion in excursions:
        if excursion.kind == ExcursionKind.NO_DATA:
            periods.append((max(excursion.started_at, start), min(excursion.ended_at or end, end), False))
    ends = [_series_end(s) for s in series_list if s.times]
    lasts = [last for last, _ in ends if last is not None]
    if series_list and not lasts:
        periods.append((start, end, True))
    elif lasts:
        last = max(lasts)
        allowed = max(allowance for _, allowance in ends)
        if end - last > allowed:
            periods.append((last, end, True))
    merged: list[list] = []
    for first, last, still_open in sorted(p for p in periods if p[1] > p[0]):
        if merged and first <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], last)
            merged[-1][2] = merged[-1][2] or still_open
        else:
            merged.append([first, last, still_open])
    return [tuple(m) for m in merged]


# A period's label takes about this share of the chart's width: the next label of its row starts after
# it, so labels never print over each other (the tables under the chart list every period anyway).
LABEL_SHARE = 0.12


def _period_shapes(
    series_list, excursions, gaps, zone, start: datetime, end: datetime, windows=()
) -> list[dict]:
    width = end - start
    shapes = []
    # Where the last label of each row ends. Suppression windows have a row of their own, a line below the
    # excursions' (a defrost's excursion starts minutes after its window: both labels show).
    rows = {"top": None, "window": None, "bottom": None}

    def add(x0, x1, text, fill, row):
        labelled = rows[row] is None or x0 >= rows[row]
        if labelled:
            rows[row] = x0 + width * LABEL_SHARE
        # A band in the last part of the range has its label end at its right edge: never cut by the axis.
        right = x0 > end - width * LABEL_SHARE * 2
        shapes.append(_period(x0, x1, zone, text if labelled else "", fill, row, right))

    for excursion in excursions:
        if excursion.kind == ExcursionKind.NO_DATA:
            continue  # drawn below, once, with the other stretches without data
        add(
            max(excursion.started_at, start),
            min(excursion.ended_at or end, end),
            "Excursion",
            EXCURSION_FILL,
            "top",
        )
    for window in windows:
        add(max(window.start, start), min(window.end, end), _short(window.label), WINDOW_FILL, "window")
    for first, last, still_open in no_data_periods(series_list, excursions, gaps, start, end):
        since = first.astimezone(zone)
        text = f"No data since {since:%H:%M}" if still_open and first > start else "No data"
        add(first, last, text, GAP_FILL, "bottom")
    return shapes


def _axis_spans(series_list: list[Series], rules: dict, axes: dict) -> dict[str, tuple[float, float]]:
    """{axis key: (lowest, highest)} of the values and limits drawn on each axis."""
    spans: dict[str, list[float]] = {}
    for series in series_list:
        key = _axis_key(series.channel)
        values = [v for v in (*series.values, *series.minimum, *series.maximum) if v is not None]
        rule = rules.get(series.channel.pk)
        for limit in (getattr(rule, "low_limit", None), getattr(rule, "high_limit", None)):
            if limit is not None:
                values.append(limit)
        if values:
            spans.setdefault(key, []).extend((min(values), max(values)))
    return {key: (min(v), max(v)) for key, v in spans.items() if key in axes}


def _round_ticks(low: float, high: float, ticks: int = 6) -> dict:
    """A range on round numbers and ticks every 1, 2 or 5 times a power of ten: 45, 50, 55, never
    47.78."""
    if high - low < 1e-9:
        low, high = low - 1, high + 1
    raw = (high - low) / ticks
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    bottom = math.floor(low / step) * step
    top = math.ceil(high / step) * step
    if top - high < step * 0.15:
        top += step
    if low - bottom < step * 0.15:
        bottom -= step
    return {"range": [bottom, top], "tick0": 0, "dtick": step, "tickmode": "linear"}


def _period(
    x0: datetime, x1: datetime, zone, text: str, fill: str, row: str = "top", right: bool = False
) -> dict:
    window = row == "window"
    side = "right" if right else "left"
    label = {"text": text, "textposition": f"{row} {side}", "font": {"size": 10}}
    if window:
        # The second line from the top, in the window's blue.
        label = {
            "text": text,
            "textposition": f"top {side}",
            "font": {"size": 10, "color": WINDOW_TEXT},
            "padding": 17,
        }
    return _shape(
        xref="x",
        yref="paper",
        x0=_local([x0], zone)[0],
        x1=_local([x1], zone)[0],
        y0=0,
        y1=1,
        fillcolor=fill,
        line=WINDOW_EDGE if window else {"width": 0},
        label=label,
    )


def _short(text: str, length: int = 48) -> str:
    """A label that fits over a band (the notes under the chart give the whole reason)."""
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


def _shape(**properties) -> dict:
    properties.setdefault("type", "rect")
    properties.setdefault("layer", "below")
    return properties


def _transparent(colour: str) -> str:
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red}, {green}, {blue}, 0.18)"


# The map's temperature colours follow the vehicle's rule, not the data's own range: a freezer at -16 °C
# inside its limits is as calm as a fridge at 5 °C.
TEMPERATURE_CLASSES = {
    "in_range": ("In range", "#2e7d32"),
    "too_warm": ("Too warm", "#d93025"),
    "too_cold": ("Too cold", "#1a56db"),
    "no_limits": ("No limits set", "#8e6ac8"),
    "no_temperature": ("No temperature", NO_TEMPERATURE),
}


def temperature_class(temperature: float | None, rule) -> str:
    if temperature is None:
        return "no_temperature"
    low = getattr(rule, "low_limit", None)
    high = getattr(rule, "high_limit", None)
    if low is None and high is None:
        return "no_limits"
    if high is not None and temperature > high:
        return "too_warm"
    if low is not None and temperature < low:
        return "too_cold"
    return "in_range"


def _limits_text(rule) -> str:
    low = getattr(rule, "low_limit", None)
    high = getattr(rule, "high_limit", None)
    if low is None and high is None:
        return "no limits set"
    if low is None:
        return f"limit: at most {high:g} °C"
    if high is None:
        return f"limit: at least {low:g} °C"
    return f"limits {low:g} to {high:g} °C"


def map_bounds(tracks: dict, vehicles: list, chosen=None) -> list[float] | None:
    """[west, south, east, north] of what the map shows: the chosen vehicle's track (or its latest
    position), else every track and every vehicle's latest position. None when there is nothing."""
    points = [(p.longitude, p.latitude) for device, track in tracks.items() for p in track]
    latest = [
        (v.longitude, v.latitude)
        for v in ([chosen] if chosen is not None else vehicles)
        if v.latitude is not None and v.longitude is not None
    ]
    if chosen is None or not points:
        points += latest
    if not points:
        return None
    lons = [p[0] for p in points]
    lats = [p[1] for p in points]
    return [min(lons), min(lats), max(lons), max(lats)]


def vehicle_map(
    tracks: dict, *, alerts: list, vehicles: list, zone: tzinfo, rules: dict | None = None, chosen=None
) -> go.Figure:
    """``tracks``: {device: [TrackPoint]}; ``alerts``: [AlertOnMap]; ``rules``: {device id: the rule of its
    temperature channel}. The base map (tiles, or the offline Natural Earth map) is added in the browser
    (``static/js/app.js``), which fits the view to ``layout.meta.bounds``."""
    rules = rules or {}
    figure = go.Figure()
    classes: dict[str, dict[str, list]] = {k: {"lat": [], "lon": [], "text": []} for k in TEMPERATURE_CLASSES}
    for device, points in tracks.items():
        if not points:
            continue
        rule = rules.get(device.pk)
        figure.add_trace(
            go.Scattermap(
                lat=[p.latitude for p in points],
                lon=[p.longitude for p in points],
                mode="lines",
                name=device.name,
                legendgroup="tracks",
                line={"color": "#5f6368", "width": 2},
                hoverinfo="skip",
            )
        )
        limits = _limits_text(rule)
        for p in points:
            bucket = classes[temperature_class(p.temperature, rule)]
            bucket["lat"].append(p.latitude)
            bucket["lon"].append(p.longitude)
            bucket["text"].append(f"{_point_text(device, p, zone)}<br>{limits}")
        segments = _excursion_segments(points)
        if segments:
            lat, lon, text = [], [], []
            for segment in segments:
                lat += [p.latitude for p in segment] + [None]
                lon += [p.longitude for p in segment] + [None]
                text += [_point_text(device, p, zone) for p in segment] + [""]
            figure.add_trace(
                go.Scattermap(
                    lat=lat,
                    lon=lon,
                    mode="lines",
                    name=f"{device.name}: excursion",
                    line={"color": "#8c1d18", "width": 5},
                    text=text,
                    hovertemplate="Excursion<br>%{text}<extra></extra>",
                )
            )
    for key, (label, colour) in TEMPERATURE_CLASSES.items():
        bucket = classes[key]
        if not bucket["lat"]:
            continue
        figure.add_trace(
            go.Scattermap(
                lat=bucket["lat"],
                lon=bucket["lon"],
                mode="markers",
                name=label,
                marker={"size": 8, "color": colour},
                text=bucket["text"],
                hovertemplate="%{text}<extra>" + label + "</extra>",
            )
        )
    if alerts:
        figure.add_trace(
            go.Scattermap(
                lat=[a.alert.latitude for a in alerts],
                lon=[a.alert.longitude for a in alerts],
                mode="markers",
                name="Vendor alerts",
                marker={"size": 13, "color": "#e8710a"},
                text=[_alert_text(a, zone) for a in alerts],
                hovertemplate="%{text}<extra>Vendor alert</extra>",
            )
        )
    latest = [v for v in vehicles if v.latitude is not None and v.longitude is not None]
    if latest:
        figure.add_trace(
            go.Scattermap(
                lat=[v.latitude for v in latest],
                lon=[v.longitude for v in latest],
                mode="markers",
                name="Latest position",
                marker={"size": 15, "color": "#12355b"},
                text=[v.name for v in latest],
                customdata=[_when(v.last_heard, zone) for v in latest],
                hovertemplate="%{text}<br>last seen %{customdata}<extra>Latest position</extra>",
            )
        )
    bounds = map_bounds(tracks, vehicles, chosen)
    center, zoom = _view(bounds)
    figure.update_layout(
        template=SMALL_TEMPLATE,
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        height=560,
        legend={"orientation": "h", "y": 0, "bgcolor": "rgba(255,255,255,0.8)"},
        map={"center": center, "zoom": zoom},
        meta={"bounds": bounds},
    )
    return figure


def _excursion_segments(points: list[TrackPoint]) -> list[list[TrackPoint]]:
    segments, current = [], []
    for point in points:
        if point.in_excursion:
            current.append(point)
        elif current:
            segments.append(current)
            current = []
    if current:
        segments.append(current)
    return segments


def _when(moment, zone) -> str:
    if moment is None:
        return "never"
    local = moment.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def _point_text(device, point: TrackPoint, zone) -> str:
    temperature = f"{point.temperature:.1f} °C" if point.temperature is not None else "no reading"
    speed = f"{point.speed_kmh:.0f} km/h" if point.speed_kmh is not None else "speed unknown"
    return f"{device.name}<br>{_when(point.timestamp, zone)}<br>{temperature}, {speed}"


def _alert_text(row: AlertOnMap, zone) -> str:
    alert = row.alert
    parts = [
        alert.alert_type,
        _when(alert.started_at, zone),
        alert.device.name if alert.device else "",
        f"{row.temperature:.1f} °C" if row.temperature is not None else "",
        f"{alert.speed_kmh:.0f} km/h" if alert.speed_kmh is not None else "",
        alert.address,
        alert.message[:120],
    ]
    return "<br>".join(p for p in parts if p)


def _view(bounds: list[float] | None) -> tuple[dict, float]:
    """A first view for the bounds (the browser fits them exactly to the map's size)."""
    if not bounds:
        return {"lat": 60.17, "lon": 24.94}, 3
    west, south, east, north = bounds
    span = max(north - south, (east - west) / 2, 0.01)
    zoom = 8
    for level, degrees in ((2, 60), (3, 30), (4, 15), (5, 7), (6, 3.5), (7, 1.7)):
        if span > degrees / 2:
            zoom = level
            break
    return {"lat": (south + north) / 2, "lon": (west + east) / 2}, zoom


def figure_json(figure: go.Figure | dict) -> str:
    """JSON safe to put inside a ``<script type="application/json">`` element; a figure built as plain
    dicts (``device_chart``) is written as it is, without plotly's validation and copies."""
    if isinstance(figure, dict):
        text = plotly.io.to_json(figure, validate=False, engine="json")
    else:
        text = figure.to_json(validate=False, engine="json")
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def mark_archived(figure: dict, archives: list, *, start: datetime, end: datetime, zone: tzinfo) -> None:
    """Shade the archived months of the range and say so: their raw readings are in files now, and the
    chart draws them from the hourly rollups (minimum and maximum per hour)."""
    if not archives:
        return
    first = max(start, month_start(archives[0].month))
    last = min(end, month_start(add_months(archives[-1].month, 1)))
    months = f"{archives[0].month:%Y-%m}" + (
        f" to {archives[-1].month:%Y-%m}" if archives[-1].month != archives[0].month else ""
    )
    x0, x1 = _local([first, last], zone)
    layout = figure["layout"]
    layout.setdefault("shapes", []).append(
        _shape(
            xref="x",
            yref="y domain",
            x0=x0,
            x1=x1,
            y0=0,
            y1=1,
            fillcolor="#888888",
            opacity=0.08,
            line={"width": 0},
        )
    )
    layout.setdefault("annotations", []).append(
        dict(
            x=x0,
            xanchor="left",
            y=1,
            yref="paper",
            yanchor="bottom",
            showarrow=False,
            font={"size": 10, "color": "#555555"},
            text=f"Readings of {months} archived to {Path(archives[0].file).name}"
            + (f" and {len(archives) - 1} more file(s)" if len(archives) > 1 else "")
            + ": hourly min/max shown",
        )
    )
