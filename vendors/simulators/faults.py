"""Fault injection shared by every vendor simulator.

Faults are set at start-up (``--faults latency=0.2,error_rate=0.1``) and can be changed while the
simulator runs, from Python (``simulator.faults.update(...)``) or over HTTP
(``POST /_control/<vendor>/faults`` with a JSON object of the same names).
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, fields

CREDENTIAL_STATES = ("valid", "expired", "revoked")


@dataclass
class Faults:
    latency: float = 0.0  # seconds added to every answer
    error_rate: float = 0.0  # share of answers replaced by a 500 or 503
    hang_rate: float = 0.0  # share of requests that hang (no answer for hang_seconds)
    hang_seconds: float = 30.0
    burst_429: int = 0  # the next N requests are refused with 429
    malformed_rate: float = 0.0  # share of answers whose body is not valid JSON/XML/CSV
    truncated_rate: float = 0.0  # share of answers cut off halfway
    # "expired": every token or session issued so far is stale (one new login fixes it);
    # "revoked": every credential is refused until the fault is cleared.
    credentials: str = "valid"

    def __post_init__(self):
        self._lock = threading.Lock()
        self._random = random.Random(0)

    @classmethod
    def parse(cls, text: str | None) -> Faults:
        """``"latency=0.2,error_rate=0.1,credentials=revoked"`` -> Faults."""
        faults = cls()
        if text:
            values = {}
            for item in text.split(","):
                if not item.strip():
                    continue
                if "=" not in item:
                    raise ValueError(f"fault {item!r}: expected name=value")
                name, value = (part.strip() for part in item.split("=", 1))
                values[name] = value
            faults.update(**values)
        return faults

    def update(self, **values) -> None:
        known = {f.name: f.type for f in fields(self)}
        with self._lock:
            for name, value in values.items():
                if name not in known:
                    raise ValueError(f"unknown fault {name!r}; known: {', '.join(known)}")
                if name == "credentials":
                    if value not in CREDENTIAL_STATES:
                        raise ValueError(f"credentials must be one of {CREDENTIAL_STATES}")
                elif name == "burst_429":
                    value = int(value)
                else:
                    value = float(value)
                    if name.endswith("_rate") and not 0.0 <= value <= 1.0:
                        raise ValueError(f"{name} must be between 0 and 1")
                setattr(self, name, value)

    def reset(self) -> None:
        self.update(**{f.name: f.default for f in fields(self)})

    def as_dict(self) -> dict:
        return asdict(self)

    def draw(self, rate: float) -> bool:
        """True with probability ``rate`` (seeded, so a run of requests is repeatable)."""
        if rate <= 0:
            return False
        with self._lock:
            return self._random.random() < rate

    def take_429(self) -> bool:
        with self._lock:
            if self.burst_429 > 0:
                self.burst_429 -= 1
                return True
            return False
