"""When a failed attempt is tried again.

The schedule is geometric from `initial` to `maximum` over the retries: with `max_attempts` = n
there are n - 1 retries, the first `initial` seconds after attempt 1 and the last `maximum` seconds
after attempt n - 1, each delay the previous one times (maximum / initial) ** (1 / (n - 2)).
Defaults (10 attempts, 30 s, 43200 s = 12 h): 30 s, 74 s, 3.1 min, 7.6 min, 19 min, 47 min,
1.9 h, 4.8 h, 12 h; the last attempt comes about 20 h after the first. Each delay is jittered by
±10 % so retries of many deliveries spread out. A `Retry-After` answer replaces the scheduled
delay, capped at `maximum`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime
from email.utils import parsedate_to_datetime

JITTER = 0.10


def schedule(max_attempts: int, initial: float, maximum: float) -> list[float]:
    """Delays (seconds, before jitter) before attempts 2..max_attempts."""
    retries = max_attempts - 1
    if retries <= 0:
        return []
    maximum = max(maximum, initial)
    if retries == 1:
        return [initial]
    ratio = (maximum / initial) ** (1 / (retries - 1))
    delays = [min(maximum, initial * ratio**k) for k in range(retries)]
    delays[-1] = maximum
    return delays


def delay_after(attempt: int, max_attempts: int, initial: float, maximum: float,
                rand: Callable[[], float] = random.random, retry_after: float | None = None) -> float | None:
    """Seconds to wait after failed attempt number `attempt` (1-based); None when it was the last."""
    delays = schedule(max_attempts, initial, maximum)
    if attempt > len(delays):
        return None
    if retry_after is not None:
        return min(max(retry_after, 0.0), max(maximum, initial))
    return delays[attempt - 1] * (1 - JITTER + 2 * JITTER * rand())


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """`Retry-After` as seconds: a number of seconds or an HTTP date; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())
