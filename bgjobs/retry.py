"""Retry backoff policies: pure functions of the attempt number."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta

#: A backoff policy: the number of runs so far -> delay before the next run.
Backoff = Callable[[int], timedelta]

#: The default backoff caps at five minutes.
MAX_DEFAULT_DELAY_SECONDS = 300


def default_backoff(attempts: int, *, rng: Callable[[], float] = random.random) -> timedelta:
    """min(2 ** attempts, 300) seconds times a random factor in [0.5, 1].

    The jitter spreads out retries of jobs that failed together (a database
    or an upstream API that was down), so they do not all come back at once.
    """
    base = min(2 ** min(attempts, 16), MAX_DEFAULT_DELAY_SECONDS)
    return timedelta(seconds=base * (0.5 + 0.5 * rng()))


def constant_backoff(delay: timedelta) -> Backoff:
    """The same delay after every failure (`timedelta(0)`: retry at once)."""
    if delay < timedelta(0):
        raise ValueError(f"retry backoff must not be negative (got {delay})")

    def backoff(attempts: int) -> timedelta:
        return delay

    return backoff


def as_backoff(value: timedelta | Backoff) -> Backoff:
    """Accept a constant timedelta or a callable `attempts -> timedelta`."""
    if isinstance(value, timedelta):
        return constant_backoff(value)
    if callable(value):
        return value
    raise TypeError(
        f"retry backoff must be a timedelta or a callable attempts -> timedelta (got {value!r})"
    )
