"""The excursion engine (being written): rules -> excursions, on event time, for new readings only."""

from __future__ import annotations

from monitoring.ingest import NewReadings


def evaluate_new_readings(new: NewReadings) -> None:
    """Evaluate the alarm rules over the spans of new readings, per channel (see ``NewReadings.spans``)."""
    return None
