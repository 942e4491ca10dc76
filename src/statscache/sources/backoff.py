"""Exponential backoff with jitter, for reconnecting and retrying commits."""

from __future__ import annotations

import random
import time


class Backoff:
    """When to try again: ``base`` seconds after a failure, doubling up to ``cap``, with jitter."""

    def __init__(self, base: float = 0.5, cap: float = 30.0) -> None:
        self.base, self.cap = base, cap
        self.failures = 0
        self.next_try = 0.0

    def due(self) -> bool:
        """Whether the next attempt may start now."""
        return time.monotonic() >= self.next_try

    def failed(self) -> float:
        """Record a failure; return the delay until the next attempt."""
        delay = float(min(self.cap, self.base * 2**self.failures)) * random.uniform(0.5, 1.0)
        self.failures += 1
        self.next_try = time.monotonic() + delay
        return delay

    def succeeded(self) -> None:
        """Record a success: the next failure starts from ``base`` again."""
        self.failures = 0
        self.next_try = 0.0
