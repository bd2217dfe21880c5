"""Mean kinetic temperature: the USP golden case and its properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitoring.mkt import mean_kinetic_temperature, mean_kinetic_temperature_weighted

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def hourly(*blocks: tuple[float, int]) -> list[tuple[datetime, float]]:
    samples, hour = [], 0
    for value, hours in blocks:
        for _ in range(hours):
            samples.append((T0 + timedelta(hours=hour), value))
            hour += 1
    return samples


def test_it_gives_the_usp_golden_case():
    assert mean_kinetic_temperature_weighted([24, 26, 28, 21], [16, 5, 3, 24]) == pytest.approx(
        23.23, abs=0.005
    )


def test_it_gives_the_golden_case_from_hourly_readings():
    samples = hourly((24.0, 16), (26.0, 5), (28.0, 3), (21.0, 24))
    assert round(mean_kinetic_temperature(samples), 2) == 23.23


def test_it_weighs_readings_by_the_time_they_stand_for():
    # The same day logged every 5 minutes for the warm hour and hourly otherwise gives the same MKT.
    dense = [(T0 + timedelta(minutes=5 * i), 30.0) for i in range(12)]
    sparse = [(T0 + timedelta(hours=h), 20.0) for h in range(1, 24)]
    even = hourly((30.0, 1), (20.0, 23))
    assert mean_kinetic_temperature(dense + sparse) == pytest.approx(mean_kinetic_temperature(even), abs=0.01)


def test_it_takes_the_activation_energy_of_the_rule():
    samples = hourly((24.0, 16), (26.0, 5), (28.0, 3), (21.0, 24))
    assert mean_kinetic_temperature(samples, activation_energy=60.0) < mean_kinetic_temperature(samples)


def test_it_refuses_an_empty_series():
    with pytest.raises(ValueError):
        mean_kinetic_temperature([])


@settings(max_examples=200, deadline=None)
@given(value=st.floats(-40, 60), count=st.integers(1, 50))
def test_a_constant_series_gives_that_constant(value, count):
    samples = [(T0 + timedelta(minutes=10 * i), value) for i in range(count)]
    assert mean_kinetic_temperature(samples) == pytest.approx(value, abs=1e-6)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.floats(-40, 60), min_size=1, max_size=60))
def test_the_result_lies_between_min_and_max(values):
    samples = [(T0 + timedelta(minutes=10 * i), v) for i, v in enumerate(values)]
    result = mean_kinetic_temperature(samples)
    assert min(values) - 1e-6 <= result <= max(values) + 1e-6
    # MKT weighs the warm side: never below the arithmetic (time-weighted) mean.
    assert result >= sum(values) / len(values) - 1e-6
