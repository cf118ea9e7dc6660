"""Simulated time: when runs start, and timestamps as canonical ISO-8601 text.

Time is integer microseconds since the Unix epoch; nothing reads the wall clock.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

# A Monday. Every simulation starts here, so the same seed gives the same bytes.
EPOCH_START = datetime(2026, 1, 5, 8, 0, 0, tzinfo=UTC)
_EPOCH_START_US = int(EPOCH_START.timestamp()) * 1_000_000
_DAY_US = 86_400_000_000

# Usage grows over time: run i starts SPAN * ln(1 + i / RAMP) after the start. A few hundred runs
# span two weeks; 100k runs about seven weeks, so date partitions vary without exploding.
SPAN_US = 7 * _DAY_US
RAMP_RUNS = 100.0


def run_start_us(index: int, jitter: float) -> int:
    """Start of run `index`; jitter in [0, 1) spreads runs over the gap to the next one."""
    base = SPAN_US * math.log1p(index / RAMP_RUNS)
    gap = SPAN_US / (RAMP_RUNS + index)
    return _EPOCH_START_US + int(base + jitter * gap)


class IsoFormatter:
    """Formats microsecond timestamps as `2026-01-05T08:00:00.000000Z`, caching the date part
    (formatting through datetime for every event would dominate the simulator's profile)."""

    def __init__(self) -> None:
        self._days: dict[int, str] = {}

    def __call__(self, us: int) -> str:
        day, rest = divmod(us, _DAY_US)
        prefix = self._days.get(day)
        if prefix is None:
            date = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day)
            prefix = self._days[day] = date.strftime("%Y-%m-%dT")
        secs, micros = divmod(rest, 1_000_000)
        hours, secs = divmod(secs, 3600)
        minutes, secs = divmod(secs, 60)
        return f"{prefix}{hours:02d}:{minutes:02d}:{secs:02d}.{micros:06d}Z"
