"""A rate limiter shared by every worker, kept in Django's cache (Redis in production and CI, the
database cache on the embedded default), so N workers together stay under a vendor's limit."""

from __future__ import annotations

import math
import time

from django.core.cache import caches

from vendors.clients.errors import RateLimited


class RateLimiter:
    """Fixed windows counted in the shared cache.

    ``wait_turn("trackunit:42", limit=45, period=1)`` returns when this caller may send a request,
    sleeping if the window is full; ``block_for(name, seconds)`` makes every caller wait (after a 429 or
    when the vendor's headers say the budget is spent). A wait longer than ``max_wait`` raises
    ``RateLimited`` instead, so a task gives its worker back and retries later.
    """

    def __init__(
        self, cache_alias: str = "default", max_wait: float = 90.0, sleep=time.sleep, clock=time.time
    ):
        self.cache = caches[cache_alias]
        self.max_wait = max_wait
        self.sleep = sleep
        self.clock = clock

    def _wait(self, seconds: float, name: str) -> None:
        if seconds > self.max_wait:
            raise RateLimited(f"rate limit of {name.split(':')[0]} reached", retry_after=seconds)
        self.sleep(seconds)

    def blocked_for(self, name: str) -> float:
        until = self.cache.get(f"ratelimit-block:{name}")
        return max(0.0, until - self.clock()) if until else 0.0

    def block_for(self, name: str, seconds: float) -> None:
        until = self.clock() + seconds
        current = self.cache.get(f"ratelimit-block:{name}") or 0
        if until > current:
            self.cache.set(f"ratelimit-block:{name}", until, timeout=math.ceil(seconds) + 1)

    def wait_turn(self, name: str, limit: int, period: float) -> None:
        while True:
            blocked = self.blocked_for(name)
            if blocked:
                self._wait(blocked, name)
                continue
            now = self.clock()
            window = int(now // period)
            key = f"ratelimit:{name}:{period}:{window}"
            self.cache.add(key, 0, timeout=math.ceil(period) * 2 + 1)
            try:
                count = self.cache.incr(key)
            except ValueError:  # expired between add and incr
                continue
            if count <= limit:
                return
            self._wait((window + 1) * period - now + 0.01, name)
