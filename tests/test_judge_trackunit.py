"""An independent judge: the public ``pytrackunit`` library (kmodexc/TrackUnitPython, written by people
who used the real Trackunit API) reads our Trackunit simulator over real HTTP and gets its truth back.

pytrackunit has no setting for its host: every request is ``pytrackunit.tucache.URL_BASE`` + path, a
module constant. The least intrusive way to point it at the simulator is to set that one constant (with
pytest's ``monkeypatch``, undone after each test); nothing else of the library is touched. Its file cache
is switched off (``dont_cache_data``) and its cache folder put in a temporary directory.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import pytrackunit.tucache
from pytrackunit.helper import SecureString, get_datetime
from pytrackunit.trackunit import TrackUnit

from tests.conftest import FIXED_NOW
from vendors.simulators.trackunit import SENSOR_ERROR_VALUE, TrackunitSimulator

# pytrackunit 2.4 uses aiohttp's BasicAuth, which aiohttp now warns about: the library's affair, not ours.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pytrackunit")

# pytrackunit asks whole days ending at midnight before ``tdelta_end``: here 2026-11-18 to 2026-11-20.
DAYS = 2
END = datetime(2026, 11, 20)  # naive, as pytrackunit takes it (it writes it with a "Z")


@pytest.fixture
def judged(world, serve, tmp_path, monkeypatch):
    """(simulator, pytrackunit.TrackUnit pointed at it)."""
    simulator = TrackunitSimulator(world=world)
    server = serve(simulator)
    monkeypatch.setattr(pytrackunit.tucache, "URL_BASE", server.base_url("trackunit") + "/")
    judge = TrackUnit(
        api_key=SecureString(simulator.token),  # pytrackunit insists on a 32-character key
        config_path=str(tmp_path / "no-config.json"),
        webcache_dir=str(tmp_path / "web-cache"),
        dont_cache_data=True,
        tdelta_end=END,
        verbose=False,
        use_progress_bar=False,
    )
    return simulator, judge


def test_pytrackunit_gets_the_simulators_unit_list(judged):
    simulator, judge = judged
    units = judge.get_unitlist(sort_by_hours=False)
    assert sorted((u["id"], u["name"], u["serialNumber"]) for u in units) == sorted(
        (d.vendor_id, d.name, d.extra["serialNumber"]) for d in simulator.devices
    )
    assert all(isinstance(u["id"], str) for u in units)  # [C] unit ids are strings
    # pytrackunit sorts by run hours (``run1``), which the units carry
    assert [u["id"] for u in judge.get_unitlist()] == [
        u["id"] for u in sorted(units, key=lambda u: u["run1"], reverse=True)
    ]


@pytest.mark.parametrize("unit_id", ["34333", "39670", "46208", "46209"])
def test_pytrackunit_gets_a_units_history_as_the_simulators_truth(judged, unit_id):
    simulator, judge = judged
    rows = judge.get_history(unit_id, DAYS)  # pytrackunit builds the URL with the id as a string
    start = (END - timedelta(days=DAYS)).replace(tzinfo=FIXED_NOW.tzinfo)
    end = END.replace(tzinfo=FIXED_NOW.tzinfo)
    # pytrackunit asks from=...T00:00:00.0000001Z: one tick after midnight, so a reading at midnight is out.
    first = start + timedelta(microseconds=1)

    temperatures = {}
    for row in rows:
        at = get_datetime(row["time"])
        for probe in ("temperature1", "temperature2"):
            if row[probe] is not None:
                value = row[probe]
                temperatures[(probe, at)] = (None, value) if value == SENSOR_ERROR_VALUE else (value, "")
    truth = {
        (r.channel, r.timestamp): (r.value, r.error) for r in simulator.truth_readings(unit_id, first, end)
    }
    assert len(truth) > 500 and temperatures == truth

    positions = [
        (get_datetime(r["time"]), r["location"]["latitude"], r["location"]["longitude"], r["speed"])
        for r in rows
    ]
    assert positions == [
        (p.timestamp, p.latitude, p.longitude, p.speed_kmh)
        for p in simulator.truth_positions(unit_id, first, end)
    ]
    assert all({"event", "keyId", "heading", "km", "run1"} <= set(r) for r in rows)


def test_a_failed_probe_reaches_pytrackunit_as_the_simulators_error_value(judged):
    simulator, judge = judged
    rows = judge.get_history("39670", DAYS)  # the truck whose probe fails now and then
    failed = [
        (r["time"], p) for r in rows for p in ("temperature1", "temperature2") if r[p] == SENSOR_ERROR_VALUE
    ]
    start = (END - timedelta(days=DAYS)).replace(tzinfo=FIXED_NOW.tzinfo) + timedelta(microseconds=1)
    errors = [
        r for r in simulator.truth_readings("39670", start, END.replace(tzinfo=FIXED_NOW.tzinfo)) if r.error
    ]
    assert failed and len(failed) == len(errors)
