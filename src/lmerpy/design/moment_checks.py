"""lme4's data checks and rank check from cross-products, for data that were never in memory.

In memory, the rank of X comes from a QR decomposition of X and the checks look at y and X
row by row. Read in chunks, only sums over the rows are at hand: X'X, the column sums, the
range of y. The same tests are made from them (the diagonal of a Cholesky factor of X'X is
that of R in X = QR, up to rounding).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from ..solver import Moments
from . import RANK_TOLERANCE, RandomEffectsTerm
from .checks import (
    Checks,
    apply_severities,
    check_nlev_gt_1,
    check_nlev_gteq_5,
    check_nobs_vs_nlev,
    check_nobs_vs_nre,
    scale_message,
)

__all__ = ["independent_columns", "run_checks"]

PERFECT_FIT = 1e-10
"""A residual sum of squares below this fraction of the response's sum of squares about its
mean counts as an exact fit. (In memory the test is a residual norm below 1e-10 of ‖y‖; from
X'X, cancellation leaves the residual sum of squares uncertain to about 1e-16 y'y, so the
test is made against the variation of y instead.)"""


def independent_columns(gram: NDArray[np.float64]) -> list[int]:
    """Columns, in order, each not a linear combination of those kept before it, from
    their Gram matrix (R's QR rank test: a residual norm below 1e-7 of the column's norm)."""
    keep: list[int] = []
    for j in range(gram.shape[0]):
        norm2 = gram[j, j]
        if norm2 <= 0:
            continue
        residual2 = norm2
        if keep:
            G = gram[np.ix_(keep, keep)]
            g = gram[keep, j]
            residual2 = norm2 - g @ np.linalg.solve(G, g)
        if residual2 > (RANK_TOLERANCE**2) * norm2:
            keep.append(j)
    return keep


def run_checks(
    checks: Checks,
    m: Moments,
    n: int,
    x_columns: Sequence[str],
    terms: Sequence[RandomEffectsTerm],
) -> list[str]:
    """lme4's checks (``run_checks``) from the sums of the rows."""
    found = [
        (checks.nlev_gt_1, check_nlev_gt_1(terms)),
        (checks.nlev_gteq_5, check_nlev_gteq_5(terms)),
        (checks.nobs_vs_nlev, check_nobs_vs_nlev(terms, n)),
        (checks.nobs_vs_nre, check_nobs_vs_nre(terms, n)),
        (checks.response_constant, _response_constant(m)),
        (checks.perfect_fit, _perfect_fit(m)),
        (checks.scale_x, _scale_x(m, n, x_columns)),
    ]
    return apply_severities(found)


def _response_constant(m: Moments) -> str | None:
    if m.y_min == m.y_max:
        return f"the response is constant ({m.y_min:g} in every row): there is nothing to model"
    return None


def _perfect_fit(m: Moments) -> str | None:
    if m.y_min == m.y_max:
        return None
    p = m.gram.shape[0] - 1
    G, g, yy = m.gram[:p, :p], m.gram[:p, p], m.gram[p, p]
    n = m.level_counts[0].sum() if m.level_counts else 0.0
    spread = yy - m.sums[p] ** 2 / n if n else yy
    beta = np.linalg.lstsq(G, g, rcond=None)[0]
    if yy - g @ beta > PERFECT_FIT * spread:
        return None
    return (
        "the fixed effects fit the response exactly: no variation is left for the random "
        "effects or the residual"
    )


def _scale_x(m: Moments, n: int, columns: Sequence[str]) -> str | None:
    p = m.gram.shape[0] - 1
    means = m.sums[:p] / n
    var = np.maximum(np.diag(m.gram)[:p] / n - means**2, 0.0)
    sd = np.sqrt(var)
    sd[var <= 1e-14 * np.maximum(np.diag(m.gram)[:p] / n, 1e-300)] = 0.0  # constant columns
    return scale_message(sd, columns)
