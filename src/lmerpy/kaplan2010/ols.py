"""Ordinary least squares with R's ``lm()`` numbers: the complete-pooling model that
Kaplan (2010, ch. 1) sets beside the multilevel ones.

The formula language, missing-value handling and column names are lmerpy's, so an
``lm`` fit and an ``lmer`` fit of the same data line up column for column. Columns that
are linear combinations of earlier ones get ``NaN`` coefficients, as R's ``NA``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.linalg
from numpy.typing import NDArray
from scipy import stats

from ..design import check_columns, checked, complete_cases, offset_vector, response_vector
from ..design import independent_columns as _independent_columns
from ..design.matrices import model_matrix
from ..errors import DataError, FormulaSemanticError, RankDeficiencyWarning, warn
from ..formula import ModelSpec, parse_formula

__all__ = ["OlsResult", "lm"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, repr=False)
class OlsResult:
    """A linear model fitted by least squares (R's ``lm`` object).

    Attributes:
        formula: the formula text.
        coefficients: estimates named as lme4 names columns, ``NaN`` where a column is
            aliased (``coef(m)``); ``coef`` is the same Series.
        se: standard errors of the estimable coefficients (``sqrt(diag(vcov(m)))``).
        vcov: their covariance (``vcov(m)``).
        sigma: residual standard error, ``sqrt(RSS / df_residual)`` (``sigma(m)``).
        residuals, fitted: Series indexed by the data rows used (``resid(m)``, ``fitted(m)``).
        df_residual: ``n - rank`` (``df.residual(m)``).
        X, x_columns, y: the model matrix, its column names and the response.
        dropped_rows: rows left out for missing values.
    """

    formula: str
    coefficients: pd.Series
    vcov: pd.DataFrame
    residuals: pd.Series
    fitted: pd.Series
    X: FloatArray
    x_columns: list[str]
    y: FloatArray
    dropped_rows: int

    def __repr__(self) -> str:
        return f"<OlsResult {self.formula!r}: sigma {self.sigma:.5g}, {self.nobs} obs>"

    @property
    def coef(self) -> pd.Series:
        """``coef(m)``: the same Series as ``coefficients``."""
        return self.coefficients

    @property
    def se(self) -> pd.Series:
        """Standard errors of the estimable coefficients."""
        return pd.Series(np.sqrt(np.diag(self.vcov.to_numpy())), index=self.vcov.index, name="se")

    @property
    def nobs(self) -> int:
        return len(self.y)

    @property
    def rank(self) -> int:
        return len(self.vcov)

    @property
    def df_residual(self) -> int:
        return self.nobs - self.rank

    @property
    def npar(self) -> int:
        """Parameters counted by ``logLik``'s df: the coefficients and σ."""
        return self.rank + 1

    @property
    def sigma(self) -> float:
        rss = float(np.sum(self.residuals.to_numpy() ** 2))
        return math.sqrt(rss / self.df_residual) if self.df_residual > 0 else math.nan

    @property
    def loglik(self) -> float:
        """``logLik(m)``: the Gaussian log-likelihood at the ML variance ``RSS / n``."""
        n = self.nobs
        rss = float(np.sum(self.residuals.to_numpy() ** 2))
        return -n / 2 * (math.log(2 * math.pi) + math.log(rss / n) + 1)

    @property
    def aic(self) -> float:
        return -2 * self.loglik + 2 * self.npar

    @property
    def bic(self) -> float:
        return -2 * self.loglik + math.log(self.nobs) * self.npar

    def coef_table(self) -> pd.DataFrame:
        """Estimate, Std. Error, t value, Pr(>|t|) of the estimable coefficients
        (R: ``summary(m)$coefficients``)."""
        estimate = self.coefficients[self.vcov.index]
        se = self.se
        t = estimate / se
        p = 2 * stats.t.sf(np.abs(t.to_numpy()), self.df_residual)
        return pd.DataFrame(
            {"Estimate": estimate, "Std. Error": se, "t value": t, "Pr(>|t|)": p},
            index=self.vcov.index,
        )


def lm(formula: str | ModelSpec, data: pd.DataFrame) -> OlsResult:
    """Fit a linear model by ordinary least squares (R: ``lm(formula, data)``).

    Rows with a missing value in a used variable are dropped with a
    ``RowsDroppedWarning``, as ``lmer`` drops them. A formula with random-effect terms
    is refused: fit it with ``lmerpy.lmer``.

    Example:
        >>> import lmerpy
        >>> from lmerpy import lm
        >>> m0 = lm("normexam ~ standLRT", lmerpy.datasets.load("exam"))
        >>> m0.coef.round(4).to_dict()
        {'(Intercept)': -0.0012, 'standLRT': 0.5951}
    """
    spec = formula if isinstance(formula, ModelSpec) else parse_formula(formula)
    _check_spec(spec)
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    return _least_squares(spec.formula or str(spec), _model_frame(spec, data))


def _check_spec(spec: ModelSpec) -> None:
    if spec.response is None:
        raise FormulaSemanticError(
            "the formula has no response: write 'response ~ ...'", spec.formula, 0
        )
    if spec.random:
        first = spec.random[0]
        raise FormulaSemanticError(
            "lm fits no random-effect terms such as this one: use lmerpy.lmer for a mixed "
            "model, or drop the term",
            spec.formula,
            first.start,
            first.end,
        )


def _model_frame(
    spec: ModelSpec, data: pd.DataFrame
) -> tuple[FloatArray, FloatArray, FloatArray, list[str], pd.Index, int]:
    """Complete cases (warning as lmerpy does): response, offset, model matrix."""
    check_columns(spec, data)
    frame, _, dropped = complete_cases(spec, data, None, [])
    y = response_vector(spec, frame)
    offset = offset_vector(spec, frame)
    fixed = checked(lambda: model_matrix(spec.fixed, frame), spec, "the fixed effects")
    if not np.all(np.isfinite(fixed.values)):
        raise DataError("the fixed effects have non-finite values (inf or NaN)")
    offset = np.zeros(len(y)) if offset is None else offset
    return y, offset, fixed.values, list(fixed.columns), frame.index, dropped


def _least_squares(
    formula: str,
    frame: tuple[FloatArray, FloatArray, FloatArray, list[str], pd.Index, int],
) -> OlsResult:
    y, offset, X, columns, rows, dropped = frame
    keep = _independent_columns(X)
    aliased = [c for j, c in enumerate(columns) if j not in keep]
    if aliased:
        warn(
            "coefficients not defined because of singularities (NaN, R's NA): "
            + ", ".join(aliased),
            RankDeficiencyWarning,
        )
    beta, r_inv = _qr_solve(X[:, keep], y - offset)
    fitted = X[:, keep] @ beta + offset
    resid = y - fitted
    df = len(y) - len(keep)
    s2 = float(resid @ resid) / df if df > 0 else math.nan
    kept = [columns[j] for j in keep]
    coefficients = pd.Series(np.nan, index=columns, name="coef")
    coefficients[kept] = beta
    vcov = pd.DataFrame(s2 * r_inv @ r_inv.T, index=kept, columns=kept)
    return OlsResult(
        formula, coefficients, vcov, pd.Series(resid, index=rows, name="resid"),
        pd.Series(fitted, index=rows, name="fitted"), X, columns, y, dropped,
    )  # fmt: skip


def _qr_solve(X: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Least-squares coefficients and R⁻¹ from the QR decomposition of a full-rank X."""
    if X.shape[1] == 0:
        return np.zeros(0), np.zeros((0, 0))
    q, r = scipy.linalg.qr(X, mode="economic")
    beta = scipy.linalg.solve_triangular(r, q.T @ y)
    return beta, scipy.linalg.solve_triangular(r, np.eye(X.shape[1]))
