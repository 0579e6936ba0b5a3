"""Data checks before a fit, each a small named function with a configurable severity,
as lme4's ``lmerControl(check.* = ...)`` has them.

A check returns nothing when all is well. Otherwise, by its severity, it raises a
``DataError`` (``"error"``), warns and keeps the message for the result (``"warning"``),
or says nothing (``"ignore"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from ..errors import ArgumentError, DataError, DataWarning, warn
from ..solver import Moments

if TYPE_CHECKING:
    from . import RandomEffectsTerm

__all__ = [
    "Checks",
    "DataSums",
    "DataWarning",
    "MomentSums",
    "Rows",
    "apply_severities",
    "run_checks",
]

Severity = Literal["error", "warning", "ignore"]
SCALE_RATIO = 1e3  # lme4's checkScaleX threshold on the ratio of column standard deviations
PERFECT_FIT = 1e-10
"""From sums: a residual sum of squares below this fraction of y's spread is an exact fit."""


@dataclass(frozen=True)
class Checks:
    """Severities of the data checks (lme4: ``lmerControl(check.* = ...)``).

    Attributes:
        nlev_gt_1: a grouping factor with fewer than 2 levels (``check.nlev.gtr.1``).
        nlev_gteq_5: one with fewer than 5 levels (``check.nlev.gtreq.5``).
        nobs_vs_nlev: as many levels as observations (``check.nobs.vs.nlev``).
        nobs_vs_nre: a term with at least as many random effects as observations
            (``check.nobs.vs.nRE``).
        response_constant: a response with no variation.
        perfect_fit: a response that the fixed effects fit exactly.
        scale_x: predictors on very different scales (``check.scaleX``).
    """

    nlev_gt_1: Severity = "error"
    nlev_gteq_5: Severity = "ignore"
    nobs_vs_nlev: Severity = "error"
    nobs_vs_nre: Severity = "error"
    response_constant: Severity = "error"
    perfect_fit: Severity = "error"
    scale_x: Severity = "warning"

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value not in ("error", "warning", "ignore"):
                raise ArgumentError(f"Checks.{name} must be 'error', 'warning' or 'ignore'")


class DataSums(Protocol):
    """What the data-dependent checks read: the rows in memory (``Rows``) or the sums of rows
    read in chunks (``MomentSums``); each answers with the numerics its data allow."""

    @property
    def nobs(self) -> int: ...
    def response_range(self) -> tuple[float, float]: ...
    def fits_exactly(self) -> bool: ...
    def column_sd(self) -> NDArray[np.float64]: ...


@dataclass(frozen=True)
class Rows:
    """y and X in memory."""

    y: NDArray[np.float64]
    X: NDArray[np.float64]

    @property
    def nobs(self) -> int:
        return len(self.y)

    def response_range(self) -> tuple[float, float]:
        return (float(self.y.min()), float(self.y.max())) if len(self.y) else (0.0, 1.0)

    def fits_exactly(self) -> bool:
        """A least-squares residual norm below 1e-10 of ‖y‖."""
        beta = np.linalg.lstsq(self.X, self.y, rcond=None)[0]
        return bool(np.linalg.norm(self.y - self.X @ beta) <= 1e-10 * np.linalg.norm(self.y))

    def column_sd(self) -> NDArray[np.float64]:
        return np.asarray(self.X.std(axis=0), dtype=np.float64)


@dataclass(frozen=True)
class MomentSums:
    """X'X, the column sums and the range of y, for rows that were never in memory."""

    moments: Moments
    n: int

    @property
    def nobs(self) -> int:
        return self.n

    def response_range(self) -> tuple[float, float]:
        return self.moments.y_min, self.moments.y_max

    def fits_exactly(self) -> bool:
        """A residual sum of squares below ``PERFECT_FIT`` of y's sum of squares about its
        mean (from X'X, cancellation leaves the residual uncertain to about 1e-16 y'y, so
        the test is made against the variation of y instead of ‖y‖)."""
        m, p = self.moments, self.moments.gram.shape[0] - 1
        G, g, yy = m.gram[:p, :p], m.gram[:p, p], m.gram[p, p]
        spread = yy - m.sums[p] ** 2 / self.n
        beta = np.linalg.lstsq(G, g, rcond=None)[0]
        return bool(yy - g @ beta <= PERFECT_FIT * spread)

    def column_sd(self) -> NDArray[np.float64]:
        m, p = self.moments, self.moments.gram.shape[0] - 1
        mean_square = np.diag(m.gram)[:p] / self.n
        var = np.maximum(mean_square - (m.sums[:p] / self.n) ** 2, 0.0)
        sd = np.sqrt(var)
        sd[var <= 1e-14 * np.maximum(mean_square, 1e-300)] = 0.0  # constant columns
        return sd


def run_checks(
    checks: Checks,
    data: DataSums,
    x_columns: Sequence[str],
    terms: Sequence[RandomEffectsTerm],
    *,
    generalized: bool = False,
) -> list[str]:
    """Run every check on rows or on their sums; return the messages of those that warned.

    For a generalized model (lme4's ``glmerControl``) a grouping factor may have one level
    per observation (an observation-level random effect), and there is no perfect-fit
    check: a generalized model has no residual variance to vanish."""
    nobs = data.nobs
    found = [
        (checks.nlev_gt_1, check_nlev_gt_1(terms)),
        (checks.nlev_gteq_5, check_nlev_gteq_5(terms)),
        (checks.nobs_vs_nlev, check_nobs_vs_nlev(terms, nobs, allow_n=generalized)),
        (checks.nobs_vs_nre, check_nobs_vs_nre(terms, nobs, allow_n=generalized)),
        (checks.response_constant, check_response_constant(data)),
        (checks.perfect_fit, None if generalized else check_perfect_fit(data)),
        (checks.scale_x, scale_message(data.column_sd(), x_columns)),
    ]
    return apply_severities(found)


def apply_severities(found: Sequence[tuple[Severity, str | None]]) -> list[str]:
    """Raise, warn (keeping the message) or ignore each check's finding by its severity."""
    messages = []
    for severity, message in found:
        if message is None or severity == "ignore":
            continue
        if severity == "error":
            raise DataError(message)
        warn(message, DataWarning)
        messages.append(message)
    return messages


def check_nlev_gt_1(terms: Sequence[RandomEffectsTerm]) -> str | None:
    bad = [t.group for t in terms if t.factor.n_levels < 2]
    if not bad:
        return None
    return (
        f"grouping factor {_names(bad)} has only one level in the data; a random effect needs "
        "at least 2 levels (lme4: grouping factors must have > 1 sampled level)"
    )


def check_nlev_gteq_5(terms: Sequence[RandomEffectsTerm]) -> str | None:
    bad = [t.group for t in terms if t.factor.n_levels < 5]
    if not bad:
        return None
    return (
        f"grouping factor {_names(bad)} has fewer than 5 levels: its variance is poorly estimated"
    )


def check_nobs_vs_nlev(
    terms: Sequence[RandomEffectsTerm], nobs: int, *, allow_n: bool = False
) -> str | None:
    limit = nobs + 1 if allow_n else nobs
    bad = [t.group for t in terms if t.factor.n_levels >= limit]
    if not bad:
        return None
    return (
        f"grouping factor {_names(bad)} has as many levels as there are observations ({nobs}), "
        "so its variance cannot be told from the residual variance; drop that term"
    )


def check_nobs_vs_nre(
    terms: Sequence[RandomEffectsTerm], nobs: int, *, allow_n: bool = False
) -> str | None:
    """Unstructured and diagonal terms only: there each random effect has a variance of its
    own, which one observation per effect cannot tell from the residual variance; the
    correlations of ``cs`` and ``ar1`` tie the variances down."""
    for term in terms:
        if term.term_type.name not in {"us", "diag"}:
            continue
        n_re = term.factor.n_levels * len(term.columns)
        if n_re > nobs or (n_re == nobs and not allow_n):
            return (
                f"the term {term.spec} has {n_re} random effects for {nobs} observations; "
                "its variance parameters and the residual variance are probably "
                "unidentifiable: simplify the term"
            )
    return None


def check_response_constant(data: DataSums) -> str | None:
    low, high = data.response_range()
    if data.nobs and low == high:
        return f"the response is constant ({low:g} in every row): there is nothing to model"
    return None


def check_perfect_fit(data: DataSums) -> str | None:
    low, high = data.response_range()
    if not data.nobs or low == high or not data.fits_exactly():
        return None  # (the constant-response check speaks for a constant response)
    return (
        "the fixed effects fit the response exactly: no variation is left for the random "
        "effects or the residual"
    )


def scale_message(sd: NDArray[np.float64], columns: Sequence[str]) -> str | None:
    """lme4's warning when the standard deviations of the varying fixed-effect columns differ
    by more than SCALE_RATIO (None when they do not)."""
    varying = sd > 0
    if varying.sum() < 2 or sd[varying].max() / sd[varying].min() <= SCALE_RATIO:
        return None
    names = [c for c, keep in zip(columns, varying, strict=True) if keep]
    big, small = names[int(np.argmax(sd[varying]))], names[int(np.argmin(sd[varying]))]
    return (
        f"some predictors are on very different scales ({big} varies over "
        f"{sd[varying].max() / sd[varying].min():.3g} times as much as {small}): "
        "consider rescaling them"
    )


def _names(groups: list[str]) -> str:
    return ", ".join(f"'{g}'" for g in groups)
