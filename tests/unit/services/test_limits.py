"""Token buckets of the request-rate limits, on a fake clock: bursts, refill, one token from every
bucket or from none."""

from __future__ import annotations

import pytest

from jobport.services.limits import TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_refills_at_its_rate():
    clock = Clock()
    buckets = TokenBuckets(clock)
    key = [("key:a", 2.0, 3)]
    assert [buckets.take(key) for _ in range(3)] == [None, None, None]
    index, wait = buckets.take(key)
    assert index == 0 and wait == pytest.approx(0.5)  # one token at 2/s
    clock.now += 0.5
    assert buckets.take(key) is None
    clock.now += 100
    assert buckets.tokens("key:a", 2.0, 3) == 3  # never more than its size


def test_a_refusal_takes_no_token_from_the_other_bucket():
    clock = Clock()
    buckets = TokenBuckets(clock)
    both = [("key:a", 1.0, 5), ("org:o", 1.0, 2)]
    assert buckets.take(both) is None and buckets.take(both) is None
    refused = buckets.take(both)
    assert refused is not None and refused[0] == 1  # the org bucket is the empty one
    assert buckets.tokens("key:a", 1.0, 5) == 3  # the key bucket kept the refused request's token
    assert buckets.take([("key:b", 1.0, 5)]) is None  # another key of another org is untouched
