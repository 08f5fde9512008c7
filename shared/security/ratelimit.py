"""A small in-process rate limiter for sign-in: failed attempts per key in a sliding window."""

from __future__ import annotations

import time
from collections import defaultdict, deque


class RateLimiter:
    def __init__(self, attempts: int, window_seconds: float) -> None:
        self.attempts = attempts
        self.window = window_seconds
        self._hits: dict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str, now: float) -> deque[float]:
        hits = self._hits[key]
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        return hits

    def retry_after(self, key: str) -> int | None:
        """Seconds to wait if ``key`` has used up its allowance, else None."""
        now = time.monotonic()
        hits = self._recent(key, now)
        return int(hits[0] + self.window - now) + 1 if len(hits) >= self.attempts else None

    def record(self, key: str) -> None:
        now = time.monotonic()
        self._recent(key, now).append(now)

    def clear(self, key: str) -> None:
        self._hits.pop(key, None)
