"""Side-by-side comparison of fitted models (Kaplan 2010, ch. 4): fit criteria and the
residual spread of each (Table 4.2), and each model's coefficients for every group set
against the Bryk & Raudenbush level-1 intervals of a hierarchical model (Table 4.1).

OLS fits from ``lmerpy.lm`` and mixed fits from ``lmerpy.lmer`` mix freely. Note that
a REML fit's log-likelihood, AIC and BIC are REML values: they compare with those of
other REML fits of the same fixed effects only, not with ML or OLS values.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..errors import DataError, LmerpyError
from ..lmm.result import LmerResult
from .level1 import Level1Intervals, level1_intervals
from .ols import OlsResult

__all__ = ["ModelComparison", "compare"]

Fit = LmerResult | OlsResult
FloatArray = NDArray[np.float64]
_INTERVAL_COLUMNS = {"group", "term", "lower", "upper"}


@dataclass(frozen=True, repr=False)
class ModelComparison:
    """Models side by side.

    Attributes:
        table: a row per model: formula, method (``lm``, ``REML`` or ``ML``), nobs, npar
            (``logLik``'s df), sigma (σ̂), resid_sd (``sd(resid(m))``), loglik, aic, bic.
        coefficients: Table 4.1: a row per (term, group) with the level-1 interval's
            ``lower`` and ``upper`` and a column per model holding that model's coefficient
            for the group (lm: the pooled coefficient; lmer: β*_j = W_j γ̂ + û_j, which is
            lme4's ``coef()`` when there are no level-2 predictors).
        outside: True where a model's coefficient falls outside the interval.
        intervals: the level-1 intervals used, when computed here or given as such.
    """

    table: pd.DataFrame
    coefficients: pd.DataFrame
    outside: pd.DataFrame
    intervals: Level1Intervals | None

    def __repr__(self) -> str:
        return f"<ModelComparison of {', '.join(map(str, self.table.index))}>"

    def __str__(self) -> str:
        return self.table.drop(columns="formula").to_string()


def compare(
    *fits: Fit,
    names: Sequence[str] | None = None,
    intervals: Level1Intervals | pd.DataFrame | None = None,
    level: float = 0.95,
) -> ModelComparison:
    """Compare fitted models (R: ``sapply(list(m0, m1), function(m) c(sd(resid(m)),
    logLik(m), AIC(m), BIC(m)))`` with the report's ``ci.mer.ak`` table).

    Args:
        fits: ``lm`` and ``lmer`` fits.
        names: a label per fit; by default each fit's formula.
        intervals: the level-1 intervals the group coefficients are checked against:
            a ``Level1Intervals``, or a frame with columns group, term, lower, upper. By
            default those of the lmer fit with the most random-effect columns (the last
            such) whose model has one grouping factor; none if there is no such fit.
        level: confidence level of the default intervals.

    Example:
        >>> import lmerpy
        >>> from lmerpy import compare
        >>> from lmerpy import lm
        >>> exam = lmerpy.datasets.load("exam")
        >>> m0 = lm("normexam ~ standLRT", exam)
        >>> m3 = lmerpy.lmer("normexam ~ standLRT + (standLRT | school)", exam)
        >>> compare(m0, m3, names=["OLS", "HLM"]).table["resid_sd"].round(5).to_dict()
        {'OLS': 0.80534, 'HLM': 0.73585}
    """
    labels = _labels(fits, names)
    if intervals is None:
        intervals = _default_intervals(fits, level)
    frame = _interval_frame(intervals)
    coefficients = _coefficients(fits, labels, frame, _group_name(fits, intervals))
    values = coefficients[labels]
    outside = (values.lt(coefficients["lower"], axis=0)) | (
        values.gt(coefficients["upper"], axis=0)
    )
    return ModelComparison(
        table=pd.DataFrame([_summary(f) for f in fits], index=pd.Index(labels, name="model")),
        coefficients=coefficients,
        outside=outside,
        intervals=intervals if isinstance(intervals, Level1Intervals) else None,
    )


def _labels(fits: Sequence[Fit], names: Sequence[str] | None) -> list[str]:
    if not fits:
        raise DataError("compare needs at least one fitted model")
    for fit in fits:
        if not isinstance(fit, LmerResult | OlsResult):
            raise DataError(f"compare takes lm and lmer fits, not {type(fit).__name__}")
    if names is None:
        names = [_formula(f) for f in fits]
    labels = [str(n) for n in names]
    if len(labels) != len(fits):
        raise DataError(f"{len(labels)} names for {len(fits)} fits")
    if len(set(labels)) != len(labels):
        raise DataError("the names of the models must differ; pass names=[...]")
    return labels


def _formula(fit: Fit) -> str:
    return fit.formula if isinstance(fit, OlsResult) else fit.design.spec.formula


def _summary(fit: Fit) -> dict[str, object]:
    method = "lm" if isinstance(fit, OlsResult) else ("REML" if fit.reml else "ML")
    residuals = fit.residuals.to_numpy()
    return {
        "formula": _formula(fit),
        "method": method,
        "nobs": fit.nobs,
        "npar": fit.npar,
        "sigma": fit.sigma,
        "resid_sd": float(np.std(residuals, ddof=1)) if len(residuals) > 1 else math.nan,
        "loglik": fit.loglik,
        "aic": fit.aic,
        "bic": fit.bic,
    }


def _default_intervals(fits: Sequence[Fit], level: float) -> Level1Intervals | None:
    candidates = [
        f for f in fits if isinstance(f, LmerResult) and len({t.group for t in f.design.terms}) == 1
    ]
    if not candidates:
        return None
    widest = max(reversed(candidates), key=lambda f: sum(len(t.columns) for t in f.design.terms))
    return level1_intervals(widest, level)


def _interval_frame(intervals: Level1Intervals | pd.DataFrame | None) -> pd.DataFrame:
    if intervals is None:
        return pd.DataFrame(columns=["group", "term", "lower", "upper"])
    frame = intervals.table if isinstance(intervals, Level1Intervals) else intervals
    missing = _INTERVAL_COLUMNS - set(frame.columns)
    if missing:
        raise DataError(f"the intervals need columns {', '.join(sorted(missing))}")
    return frame[["group", "term", "lower", "upper"]].astype({"group": str, "term": str})


def _coefficients(
    fits: Sequence[Fit], labels: list[str], frame: pd.DataFrame, group: str | None
) -> pd.DataFrame:
    """Table 4.1's layout: rows by term, then group; interval bounds, then each model."""
    order = list(dict.fromkeys(frame["term"]))
    rank = frame["term"].map({t: i for i, t in enumerate(order)})
    frame = frame.assign(rank=rank).sort_values("rank", kind="stable")
    out = frame.set_index(["term", "group"])[["lower", "upper"]].astype(float)
    index = pd.MultiIndex.from_frame(frame[["term", "group"]])
    for fit, label in zip(fits, labels, strict=True):
        out[label] = _group_coefficients(fit, group, index)
    return out


def _group_name(
    fits: Sequence[Fit], intervals: Level1Intervals | pd.DataFrame | None
) -> str | None:
    if isinstance(intervals, Level1Intervals):
        return intervals.group
    groups = [t.group for f in fits if isinstance(f, LmerResult) for t in f.design.terms]
    return groups[0] if groups else None


def _group_coefficients(fit: Fit, group: str | None, index: pd.MultiIndex) -> FloatArray:
    """The fit's coefficient for each (term, group) of ``index``; NaN where it has none.

    lm, and lmer fits without the grouping factor: the fixed coefficients for every group.
    An lmer fit whose only grouping factor it is: β*_j; with other factors too: ``coef()``."""
    terms = index.get_level_values("term")
    if isinstance(fit, OlsResult):
        return fit.coefficients.reindex(terms).to_numpy(dtype=np.float64)
    if group is None or group not in fit.coef:
        return fit.fixef.reindex(terms).to_numpy(dtype=np.float64)
    wide = fit.coef[group]
    if {t.group for t in fit.design.terms} == {group}:
        with contextlib.suppress(LmerpyError):  # W_j unreadable: keep lme4's coef()
            wide = level1_intervals(fit).beta_star
    long = wide.rename_axis(index="group", columns="term").stack()
    long.index = pd.MultiIndex.from_arrays(
        [long.index.get_level_values("term").astype(str),
         long.index.get_level_values("group").astype(str)],
        names=["term", "group"],
    )  # fmt: skip
    return long.reindex(index).to_numpy(dtype=np.float64)
