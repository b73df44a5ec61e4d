"""Quota usage bounds on a fake clock: creates far below a quota are admitted without a count,
one that does not fit under the bound is decided on a fresh count, a stale or forgotten bound
counts again."""

from __future__ import annotations

from jobport.services.quota_usage import QuotaUsage


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Counter:
    """The database count: what it answers, and how often it was asked."""

    def __init__(self, value: int) -> None:
        self.value, self.asked = value, 0

    def __call__(self) -> int:
        self.asked += 1
        return self.value


def test_creates_far_below_the_quota_are_admitted_on_the_bound():
    usage, count = QuotaUsage(Clock()), Counter(0)
    assert [usage.admit("org", "jobs", 10, 3, 2.0, count) for _ in range(3)] == [None, None, None]
    assert count.asked == 1  # the first create counted; the next two fitted under 0 + 3 + 3 (+ 3)


def test_a_create_past_the_bound_is_decided_on_a_fresh_count():
    usage, count = QuotaUsage(Clock()), Counter(0)
    assert usage.admit("org", "jobs", 10, 6, 2.0, count) is None  # bound 6
    count.value = 1  # most of those jobs ended meanwhile
    assert usage.admit("org", "jobs", 10, 6, 2.0, count) is None  # 12 > 10 on the bound: counted 1 + 6
    assert count.asked == 2
    count.value = 7
    assert usage.admit("org", "jobs", 10, 6, 2.0, count) == 7  # refused: 7 + 6 > 10, the usage it found
    assert usage.admit("org", "jobs", 10, 3, 2.0, count) is None  # 7 + 3 fits the bound it kept
    assert count.asked == 3


def test_an_old_or_forgotten_bound_counts_again():
    clock = Clock()
    usage, count = QuotaUsage(clock), Counter(0)
    usage.admit("org", "jobs", 10, 1, 2.0, count)
    clock.now += 2.5
    usage.admit("org", "jobs", 10, 1, 2.0, count)
    assert count.asked == 2
    usage.forget("org")
    usage.admit("org", "jobs", 10, 1, 2.0, count)
    assert count.asked == 3
    usage.admit("other", "jobs", 10, 1, 2.0, count)  # each org has its own bound
    assert count.asked == 4


def test_max_age_zero_counts_every_create():
    usage, count = QuotaUsage(Clock()), Counter(0)
    for _ in range(3):
        usage.admit("org", "jobs", 10, 1, 0.0, count)
    assert count.asked == 3
