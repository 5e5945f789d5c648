"""Rate control shared by every encoder: hit a target bpp (real file bytes x 8 / HR pixels) by
bisection on one monotone encoder parameter (the JPEG quality, the learned QPM table scale).

:class:`RateSearch` caches every candidate file it encodes, shrinks an interval around the target
(:meth:`RateSearch.bisect`, any number of stages: integers, then fractions) and returns the
candidate closest to the target (:meth:`RateSearch.closest`).
"""
from __future__ import annotations

from typing import Callable

#: ``--bpp`` is met within this much where the encoder can reach it (the CLI contract).
BPP_TOLERANCE = 0.01


class RateSearch:
    """``encode(x) -> bytes`` (the exact file for parameter ``x``) over ``pixels`` HR pixels."""

    def __init__(self, encode: Callable[[float], bytes], pixels: int):
        self.encode, self.pixels = encode, pixels
        self.cache: dict = {}

    def at(self, x) -> tuple[bytes, float]:
        """(file bytes, bpp) at parameter ``x`` (encoded once)."""
        if x not in self.cache:
            data = self.encode(x)
            self.cache[x] = (data, len(data) * 8.0 / self.pixels)
        return self.cache[x]

    def bpp(self, x) -> float:
        return self.at(x)[1]

    def bisect(self, lo, hi, target: float, steps: int, mid=lambda a, b: 0.5 * (a + b),
               increasing: bool = True, tol: float | None = None):
        """Shrink [lo, hi] (bpp(lo) and bpp(hi) on either side of ``target``; ``increasing``: bpp
        grows with the parameter) for at most ``steps`` midpoints ``mid(lo, hi)``; stops early when a
        midpoint is within ``tol`` of the target or the interval cannot shrink. -> (lo, hi)."""
        for _ in range(steps):
            m = mid(lo, hi)
            if m in (lo, hi):
                break
            b = self.bpp(m)
            if (b <= target) == increasing:
                lo = m
            else:
                hi = m
            if tol is not None and abs(b - target) <= tol:
                break
        return lo, hi

    def closest(self, target: float, prefer=None):
        """-> (parameter, bytes, bpp) of the candidate closest to ``target``; ties: the first
        encoded, or the smallest ``prefer(x)``."""
        key = (lambda x: abs(self.cache[x][1] - target)) if prefer is None else \
            (lambda x: (abs(self.cache[x][1] - target), prefer(x)))
        best = min(self.cache, key=key)
        return best, self.cache[best][0], self.cache[best][1]
