"""The retry schedule of callback deliveries: derived from the settings, jittered ±10 %, ends at
the maximum, and Retry-After answers replace a scheduled delay (capped)."""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from jobport.callbacks.backoff import delay_after, parse_retry_after, schedule
from jobport.config import Settings


def test_default_schedule_spans_about_twenty_hours():
    s = Settings()
    delays = schedule(s.callbacks.max_attempts, s.callbacks.initial_backoff_seconds, s.callbacks.max_backoff_seconds)
    assert len(delays) == 9  # 10 attempts: the first at once, then 9 retries
    assert [round(d) for d in delays] == [30, 74, 185, 459, 1138, 2826, 7013, 17406, 43200]
    assert all(b > a for a, b in zip(delays, delays[1:], strict=False))
    assert 19.5 * 3600 < sum(delays) < 20.5 * 3600  # documented: the last attempt ~20 h after the first


@pytest.mark.parametrize("attempts,expected", [(1, []), (2, [5.0]), (3, [5.0, 80.0]), (4, [5.0, 20.0, 80.0])])
def test_schedule_edges(attempts, expected):
    assert schedule(attempts, 5.0, 80.0) == pytest.approx(expected)


def test_maximum_below_initial_is_flat():
    assert schedule(4, 10.0, 1.0) == [10.0, 10.0, 10.0]


def test_jitter_is_within_ten_percent():
    base = schedule(10, 30, 43200)
    for attempt in range(1, 10):
        low = delay_after(attempt, 10, 30, 43200, rand=lambda: 0.0)
        high = delay_after(attempt, 10, 30, 43200, rand=lambda: 1.0)
        mid = delay_after(attempt, 10, 30, 43200, rand=lambda: 0.5)
        assert low == pytest.approx(base[attempt - 1] * 0.9)
        assert high == pytest.approx(base[attempt - 1] * 1.1)
        assert mid == pytest.approx(base[attempt - 1])


def test_no_delay_after_the_last_attempt():
    assert delay_after(10, 10, 30, 43200) is None
    assert delay_after(1, 1, 30, 43200) is None


def test_retry_after_replaces_the_delay_within_the_maximum():
    assert delay_after(1, 10, 30, 43200, retry_after=120) == 120
    assert delay_after(1, 10, 30, 600, retry_after=10_000) == 600
    assert delay_after(1, 10, 30, 600, retry_after=0) == 0
    assert delay_after(10, 10, 30, 600, retry_after=5) is None  # no attempts left: Retry-After changes nothing


def test_parse_retry_after():
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120
    assert parse_retry_after(" 1.5 ", now) == 1.5
    assert parse_retry_after("-3", now) == 0
    assert parse_retry_after(format_datetime(now + timedelta(minutes=2), usegmt=True), now) == 120
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("soon", now) is None
