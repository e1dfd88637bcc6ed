"""The exact sign-test interval for a median: the report's paired per-seed differences and the
benchmark's per-group time ratios both use it (see ``harness.report.paired`` for why).

For n values the interval ``[d_(k), d_(n+1-k)]`` of the order statistics covers the median with
probability ``1 - 2 P(B <= k - 1)``, ``B ~ Binomial(n, 1/2)``, whatever their distribution
(Conover, *Practical Nonparametric Statistics*, section 3.2).
"""
from __future__ import annotations

import math


def sign_coverage(n: int, k: int) -> float:
    """Coverage of ``[d_(k), d_(n+1-k)]`` for the median of n paired differences."""
    tail = sum(math.comb(n, i) for i in range(k)) / 2 ** n
    return 1 - 2 * tail


def median_interval(values, level: float = 0.95) -> tuple[int, float, float, float, float]:
    """(n, median, low, high, coverage): the median of ``values`` with its sign-test interval,
    the narrowest whose coverage still reaches ``level``, else ``[min, max]``: the report's paired
    differences and the bench's per-group ratios (``harness.bench.interleave.summary``)."""
    d = sorted(values)
    n = len(d)
    if n == 0:
        return 0, math.nan, math.nan, math.nan, math.nan
    median = (d[(n - 1) // 2] + d[n // 2]) / 2
    k = 1
    while k + 1 <= (n + 1) // 2 and sign_coverage(n, k + 1) >= level:
        k += 1
    return n, median, d[k - 1], d[n - k], sign_coverage(n, k)
