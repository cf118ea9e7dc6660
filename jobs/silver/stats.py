"""Interval estimates for the evolution verdicts and pattern success rates.

Proportions: Wilson score intervals, and Newcombe's hybrid score interval for a difference of
two proportions (good coverage at small counts and rates near 0 or 1, unlike the Wald
interval). Means: Welch's interval from counts, sums and sums of squares, so the inputs can be
added up across runs.
"""

from __future__ import annotations

import math
from statistics import NormalDist


def z_value(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float] | None:
    if n <= 0:
        return None
    z = z_value(confidence)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def diff_of_proportions(
    x1: int, n1: int, x2: int, n2: int, confidence: float = 0.95
) -> tuple[float, float, float] | None:
    """p2 - p1 with Newcombe's interval; None when a side has no trials."""
    a, b = wilson(x1, n1, confidence), wilson(x2, n2, confidence)
    if a is None or b is None:
        return None
    p1, p2 = x1 / n1, x2 / n2
    d = p2 - p1
    low = d - math.sqrt((p2 - b[0]) ** 2 + (a[1] - p1) ** 2)
    high = d + math.sqrt((b[1] - p2) ** 2 + (p1 - a[0]) ** 2)
    return d, low, high


def diff_of_means(
    n1: int, s1: float, ss1: float, n2: int, s2: float, ss2: float, confidence: float = 0.95
) -> tuple[float, float, float, float, float] | None:
    """(mean1, mean2, mean2 - mean1, low, high), normal approximation of Welch's interval;
    None when a side has fewer than two values."""
    if n1 < 2 or n2 < 2:
        return None
    m1, m2 = s1 / n1, s2 / n2
    v1 = max(0.0, (ss1 - n1 * m1 * m1) / (n1 - 1))
    v2 = max(0.0, (ss2 - n2 * m2 * m2) / (n2 - 1))
    half = z_value(confidence) * math.sqrt(v1 / n1 + v2 / n2)
    d = m2 - m1
    return m1, m2, d, d - half, d + half
