"""Multiplicity adjustments of a family of t or z tests (emmeans' ``adjust =``).

``tukey`` uses the studentized range (R's ``ptukey``); ``dunnettx`` the two-sided Dunnett
distribution with every correlation 1/2, the many-to-one comparisons of equally precise means
(emmeans' ``dunnettx`` approximates the same distribution in closed form); ``sidak``,
``bonferroni``, ``holm``, ``fdr`` and ``none`` act on the unadjusted p-values as R's
``p.adjust`` does; ``scheffe`` refers t²/r to F(r, df), r the rank of the family.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import special, stats

from ..errors import ArgumentError

__all__ = ["ADJUSTMENTS", "adjust_p", "dunnett_sf"]

FloatArray = NDArray[np.float64]

ADJUSTMENTS = ("tukey", "dunnettx", "sidak", "bonferroni", "holm", "fdr", "scheffe", "none")
"""Accepted ``adjust`` values."""

_HERMITE = np.polynomial.hermite_e.hermegauss(96)  # nodes and weights for ∫ φ(z) f(z) dz
_LEGENDRE = np.polynomial.legendre.leggauss(128)  # nodes on (-1, 1) for the χ quantiles


def adjust_p(t: FloatArray, df: FloatArray, method: str, *, n_means: int, rank: int) -> FloatArray:
    """Adjusted two-sided p-values of one family of tests.

    Args:
        t: the t (or z, when df is infinite) ratios of the family.
        df: their df (``np.inf`` for z tests).
        method: one of ``ADJUSTMENTS``.
        n_means: the number of means compared (``tukey``'s range).
        rank: the rank of the family's contrasts (``scheffe``).
    """
    t, df = np.abs(np.asarray(t, np.float64)), np.asarray(df, np.float64)
    raw = np.asarray(2.0 * stats.t.sf(t, df), dtype=np.float64)
    m = len(t)
    if method == "none" or m == 0:
        return raw
    if method == "tukey":
        return np.array(
            [_tukey_sf(np.sqrt(2.0) * a, n_means, d) for a, d in zip(t, df, strict=True)]
        )
    if method == "dunnettx":
        return np.array([dunnett_sf(a, m, d) for a, d in zip(t, df, strict=True)])
    if method == "sidak":
        return np.asarray(-np.expm1(m * np.log1p(-np.minimum(raw, 1.0))))
    if method == "bonferroni":
        return np.minimum(1.0, m * raw)
    if method == "holm":
        return _step(raw, lambda k: m - k, down=True)
    if method == "fdr":
        return _step(raw, lambda k: m / (k + 1.0), down=False)
    if method == "scheffe":
        return np.asarray(stats.f.sf(t**2 / rank, rank, df))
    raise ArgumentError(f"adjust must be one of {', '.join(ADJUSTMENTS)}; got {method!r}")


def _step(raw: FloatArray, factor: object, *, down: bool) -> FloatArray:
    """Holm's step-down (cumulative maximum from the smallest p) or Benjamini-Hochberg's
    step-up (cumulative minimum from the largest), as ``p.adjust``."""
    order = np.argsort(raw) if down else np.argsort(raw)[::-1]
    k = np.arange(len(raw)) if down else np.arange(len(raw))[::-1]
    scaled = raw[order] * np.array([factor(float(i)) for i in k])  # type: ignore[operator]
    accumulated = np.maximum.accumulate(scaled) if down else np.minimum.accumulate(scaled)
    out = np.empty_like(raw)
    out[order] = np.minimum(1.0, accumulated)
    return out


def _tukey_sf(q: float, n_means: int, df: float) -> float:
    if n_means < 2 or not np.isfinite(q):
        return float("nan") if not np.isfinite(q) else 1.0
    return float(stats.studentized_range.sf(q, n_means, df))


def dunnett_sf(t: float, k: int, df: float) -> float:
    """P(max_i |T_i| > t) for k t statistics with correlations 1/2 and ``df`` df.

    With T_i = (U_i − U_0)/(√2 S), U iid normal and S ~ χ_df/√df,
    P(max |T_i| ≤ t | U_0 = z, S = s) = [Φ(z + √2 t s) − Φ(z − √2 t s)]^k; z is integrated by
    Gauss–Hermite quadrature, s over its quantiles by Gauss–Legendre.
    """
    if k < 1 or not np.isfinite(t):
        return float("nan")
    z, wz = _HERMITE
    wz = wz / np.sqrt(2.0 * np.pi)
    if np.isfinite(df):
        u, wu = _LEGENDRE
        s = np.sqrt(stats.chi2.ppf((u + 1.0) / 2.0, df) / df)
        ws = wu / 2.0
    else:
        s, ws = np.ones(1), np.ones(1)
    width = np.sqrt(2.0) * t * s[:, None]
    inside = special.ndtr(z[None, :] + width) - special.ndtr(z[None, :] - width)
    coverage = float(ws @ (inside**k) @ wz)
    return min(1.0, max(0.0, 1.0 - coverage))
