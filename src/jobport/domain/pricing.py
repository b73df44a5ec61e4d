"""Pricing: how records are billed. Every started group of `records_per_group` records costs
`units_per_group` units ($0.001 each)."""

from __future__ import annotations

import math


def billing(records: int, records_per_group: int, units_per_group: int) -> tuple[int, int]:
    """(record groups, billed units) for `records` records."""
    groups = math.ceil(records / records_per_group) if records else 0
    return groups, groups * units_per_group
