"""Likelihood-ratio tests between nested fits (lme4's ``anova(m0, m1, ...)``)."""

from __future__ import annotations

import itertools
from typing import Any, Protocol

import numpy as np
import pandas as pd
from scipy import stats

from ..design import Design
from ..errors import ArgumentError, DataError, LmerpyWarning, warn

__all__ = ["anova"]


class Fit(Protocol):
    """What a likelihood-ratio test reads of a fit: a mixed model, or ``lmerpy.glm``'s."""

    @property
    def design(self) -> Design: ...
    @property
    def npar(self) -> int: ...
    @property
    def loglik(self) -> float: ...
    @property
    def aic(self) -> float: ...
    @property
    def bic(self) -> float: ...
    @property
    def reml(self) -> bool: ...
    def refit_ml(self) -> Any: ...


BOUNDARY_NOTE = (
    "the test of a variance at zero lies on the boundary of its range: the chi-square "
    "p-value is conservative (for one variance, about twice the exact one; Self & Liang 1987)"
)

COLUMNS = ["npar", "AIC", "BIC", "logLik", "deviance", "Chisq", "Df", "Pr(>Chisq)"]


def anova(*fits: Fit, names: list[str] | None = None, refit: bool = True) -> pd.DataFrame:
    """lme4's likelihood-ratio table for nested models fitted to the same data (linear,
    or generalized with the same family; ``deviance`` is -2 logLik, as lme4 prints it). A
    ``lmerpy.glm`` fit may be one of them, to test a glmer fit's random effects; a test of
    variances at zero warns that its p-value is conservative (``table.attrs["notes"]``).

    REML fits are refitted by maximum likelihood first (lme4's "refitting model(s) with
    ML (instead of REML)"), unless ``refit=False``. Rows are sorted by the number of
    parameters and named ``names`` (default ``m0``, ``m1``, ... in the order given).
    Each row after the first tests it against the row above.

    Example:
        >>> import lmerpy
        >>> exam = lmerpy.datasets.load("exam")
        >>> m0 = lmerpy.lmer("normexam ~ standLRT + (1 | school)", exam)
        >>> m1 = lmerpy.lmer("normexam ~ standLRT + (standLRT | school)", exam)
        >>> round(float(lmerpy.anova(m0, m1)["Chisq"].iloc[1]), 3)
        40.372
    """
    if len(fits) < 2:
        raise ArgumentError("anova needs at least two fits to compare")
    labels = names or [f"m{i}" for i in range(len(fits))]
    if len(labels) != len(fits):
        raise ArgumentError(f"{len(labels)} names for {len(fits)} fits")
    _check_same_data(fits)
    if refit and any(f.reml for f in fits):
        warn("refitting model(s) with ML (instead of REML)", LmerpyWarning)
        fits = tuple(f.refit_ml() for f in fits)
    order = sorted(range(len(fits)), key=lambda i: fits[i].npar)
    ranked = [fits[i] for i in order]
    _check_nested(ranked)
    rows = [[f.npar, f.aic, f.bic, f.loglik, -2 * f.loglik] for f in ranked]
    table = pd.DataFrame(rows, columns=COLUMNS[:5], index=[labels[i] for i in order])
    chisq = 2 * np.diff([f.loglik for f in ranked])
    df = np.diff([f.npar for f in ranked])
    table["Chisq"] = np.r_[np.nan, chisq]
    table["Df"] = np.r_[np.nan, df]
    table["Pr(>Chisq)"] = np.r_[np.nan, stats.chi2.sf(chisq, df)]
    if any(_tests_a_variance(a, b) for a, b in itertools.pairwise(ranked)):
        warn(BOUNDARY_NOTE, LmerpyWarning)
        table.attrs["notes"] = [BOUNDARY_NOTE]
    return table


def _tests_a_variance(small: Fit, large: Fit) -> bool:
    """Whether the larger model has random effects the smaller lacks."""
    have = {(t.group, c) for t in small.design.terms for c in t.columns}
    return any((t.group, c) not in have for t in large.design.terms for c in t.columns)


NESTED_FAMILIES = {"nbinom1": "poisson", "nbinom2": "poisson", "betabinomial": "binomial"}
"""Families that contain another as a limit (φ -> 0 or ∞): a likelihood-ratio test between
them tests the dispersion, on the boundary of its range."""


def _check_same_data(fits: tuple[Fit, ...]) -> None:
    kinds = {_base_family(str(getattr(f, "family", "gaussian"))) for f in fits}
    if len(kinds) > 1:
        raise DataError(
            f"the fits have different response families ({', '.join(sorted(kinds))}): their "
            "likelihoods cannot be compared"
        )
    first = fits[0].design
    for fit in fits[1:]:
        same = fit.design.nobs == first.nobs and np.array_equal(fit.design.y, first.y)
        if not same:
            raise DataError(
                "the fits were not made on the same data (different rows or response); "
                "a likelihood-ratio test needs the same observations"
            )


def _base_family(text: str) -> str:
    """'nbinom2  ( log )' -> 'poisson  ( log )': the family it nests."""
    name, _, link = text.partition(" ")
    return f"{NESTED_FAMILIES.get(name, name)} {link}"


def _check_nested(ranked: list[Fit]) -> None:
    for small, large in itertools.pairwise(ranked):
        fixed = set(small.design.x_columns) <= set(large.design.x_columns)
        random = all(
            any(t.group == u.group and set(t.columns) <= set(u.columns) for u in large.design.terms)
            for t in small.design.terms
        )
        if not (fixed and random):
            warn(
                "the models do not look nested (fixed-effect columns or random terms of the "
                "smaller are not all in the larger); the likelihood-ratio test may not be valid",
                LmerpyWarning,
            )
