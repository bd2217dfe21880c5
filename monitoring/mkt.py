"""Mean kinetic temperature (USP <1079> / <1160>).

    MKT = (ΔH / R) / -ln( Σ wᵢ·exp(-ΔH / (R·Tᵢ)) / Σ wᵢ )      with T in kelvin

ΔH is the activation energy (83.144 kJ/mol by default, settable per alarm rule) and R the gas constant.
Readings are time-weighted: each sample stands for the time until the next one, and the last sample for
the interval before it. So regular readings weigh the same, and a value held for five hours counts five
times as much as a value held for one, whatever the logger's interval.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime

from monitoring.models.excursions import DEFAULT_ACTIVATION_ENERGY

GAS_CONSTANT = 8.314462618e-3  # kJ/(mol·K)
ZERO_CELSIUS = 273.15


def mean_kinetic_temperature_weighted(
    values: Iterable[float], weights: Iterable[float], activation_energy: float = DEFAULT_ACTIVATION_ENERGY
) -> float:
    """MKT in °C of temperatures (°C) with their weights (e.g. hours held)."""
    ratio = activation_energy / GAS_CONSTANT
    total_weight = 0.0
    total = 0.0
    for value, weight in zip(values, weights, strict=True):
        total += weight * math.exp(-ratio / (value + ZERO_CELSIUS))
        total_weight += weight
    if total_weight <= 0:
        raise ValueError("MKT needs at least one sample with a positive weight")
    return ratio / -math.log(total / total_weight) - ZERO_CELSIUS


def sample_weights(timestamps: Sequence[datetime]) -> list[float]:
    """Seconds each sample stands for: until the next sample; the last one, the interval before it."""
    if len(timestamps) == 1:
        return [1.0]
    weights = [(b - a).total_seconds() for a, b in zip(timestamps, timestamps[1:], strict=False)]
    weights.append(weights[-1])
    return weights


def mean_kinetic_temperature(
    samples: Iterable[tuple[datetime, float]], activation_energy: float = DEFAULT_ACTIVATION_ENERGY
) -> float:
    """MKT in °C of (timestamp, °C) samples, time-weighted (see the module docstring).

    Samples are sorted by time first; samples without a value (None) are left out."""
    points = sorted((t, v) for t, v in samples if v is not None)
    if not points:
        raise ValueError("MKT needs at least one sample")
    weights = sample_weights([t for t, _ in points])
    return mean_kinetic_temperature_weighted([v for _, v in points], weights, activation_energy)
