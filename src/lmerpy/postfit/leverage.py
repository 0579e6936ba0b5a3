"""The penalised least-squares system at θ̂, read once and shared: lme4's hat values and
Cook's distances, and standard errors of predictions that keep the random effects.

With M = [ZΛ, X] (rows scaled by √w) and A = MᵀM + diag(1_q, 0_p), the fitted values are
H y with H = M A⁻¹ Mᵀ, and σ²A⁻¹ is the joint covariance of (û − u, β̂ − β) given θ̂
(Henderson's mixed-model equations): a prediction xᵀβ̂ + zᵀΛû has prediction-error variance
σ² aᵀA⁻¹a, a = (Λᵀz, x), which counts the covariance of β̂ and the random effects' modes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.linalg as sla
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy import stats

from ..design import RandomEffectsTerm
from ..errors import ArgumentError, ModelTooLargeError
from ..fitted.base import MixedModelResult
from ..fitted.predict import chosen_terms, fixed_rows, predict, random_rows
from ..inference.kenward_roger import relative_factor

__all__ = ["MAX_JOINT_SIZE", "cooks_distance", "hatvalues", "predict_with_se", "relative_factor"]

FloatArray = NDArray[np.float64]

MAX_JOINT_SIZE = 20_000
"""Largest q + p for which the dense (q + p)² inverse of the mixed-model equations is formed."""
_CHUNK = 4096


def hatvalues(fit: MixedModelResult) -> pd.Series:
    """Diagonal of the hat matrix of the penalised least-squares fit, fitted = H y (lme4:
    ``hatvalues(m)``), in the data's row order."""
    _linear(fit, "hat values")
    M, Ainv = _system(fit)
    h = np.concatenate([
        np.einsum("ij,ij->i", M[s : s + _CHUNK] @ Ainv, M[s : s + _CHUNK].toarray())
        for s in range(0, M.shape[0], _CHUNK)
    ])  # fmt: skip
    return pd.Series(h, index=fit.design.rows, name="hat")


def cooks_distance(fit: MixedModelResult) -> pd.Series:
    """lme4's ``cooks.distance(m)``: (r / (1 − h))² h / (σ² p), r the conditional residuals,
    h the hat values, p the rank of X."""
    h = hatvalues(fit).to_numpy()
    r = fit.residuals.to_numpy()
    if fit.design.weights is not None:
        r = r * np.sqrt(fit.design.weights)
    p = fit.design.X.shape[1]
    return pd.Series((r / (1 - h)) ** 2 * h / (fit.sigma**2 * p), index=fit.design.rows,
                     name="cooks")  # fmt: skip


def predict_with_se(
    fit: MixedModelResult,
    newdata: pd.DataFrame | None,
    re_form: str | bool | None,
    interval: str | None,
    level: float,
    allow_new_levels: bool,
) -> pd.DataFrame:
    """Predictions on the link scale with ``fit``, ``se_fit`` and, with an ``interval``,
    ``lower`` and ``upper`` (normal quantiles). The SE is that of xᵀβ̂ when ``re_form``
    drops the random effects, and the prediction-error SE of xᵀβ̂ + zᵀb̂ (joint with the
    modes, given θ̂) when it keeps them. A prediction interval adds σ² and, for the random
    terms ``re_form`` drops, their variance zᵀΣz."""
    if interval not in (None, "confidence", "prediction"):
        raise ArgumentError(f"interval must be 'confidence' or 'prediction'; got {interval!r}")
    if not 0 < level < 1:
        raise ArgumentError(f"level must be between 0 and 1; got {level!r}")
    if newdata is None:
        fit._require_rows("predictions on the data")
    eta = predict(fit, newdata, re_form, allow_new_levels)
    chosen = chosen_terms(fit, re_form)
    X = fit.design.X if newdata is None else fixed_rows(fit, newdata)
    if chosen:
        _linear(fit, "standard errors of predictions that keep the random effects")
        _M, Ainv = _system(fit, weighted=False)
        Zl = sp.csr_matrix(random_rows(fit, newdata, chosen) @ relative_factor(fit))  # type: ignore[arg-type]
        a = sp.hstack([Zl, sp.csr_matrix(X)]).tocsr()
        variance = fit.sigma**2 * np.einsum("ij,ij->i", a @ Ainv, a.toarray())
    else:
        variance = np.einsum("ij,jk,ik->i", X, fit.vcov.to_numpy(), X)
    se = np.sqrt(np.maximum(variance, 0.0))
    out = pd.DataFrame({"fit": eta.to_numpy(), "se_fit": se}, index=eta.index)
    if interval is not None:
        spread = variance
        if interval == "prediction":
            _linear(fit, "prediction intervals")
            kept = {id(t) for t, c in chosen if len(c) == len(t.columns)}
            dropped = [t for t in fit.design.terms if id(t) not in kept]
            spread = variance + fit.sigma**2 + _random_variance(fit, newdata, dropped)
        z = stats.norm.ppf(0.5 + level / 2)
        out["lower"] = out["fit"] - z * np.sqrt(spread)
        out["upper"] = out["fit"] + z * np.sqrt(spread)
    return out


def _random_variance(
    fit: MixedModelResult, newdata: pd.DataFrame | None, terms: list[RandomEffectsTerm]
) -> FloatArray:
    """zᵀΣz per row for the given terms (the spread of a new group's effects)."""
    n = fit.design.nobs if newdata is None else len(newdata)
    total = np.zeros(n)
    covariances = {id(term): cov for _, term, cov in fit.term_covariances}
    for term in terms:
        lhs = term.lhs.values if newdata is None else _lhs(term, newdata)
        total += np.einsum("ij,jk,ik->i", lhs, covariances[id(term)], lhs)
    return total


def _lhs(term: RandomEffectsTerm, frame: pd.DataFrame) -> FloatArray:
    return np.asarray(term.lhs.on(frame), dtype=np.float64)


def _linear(fit: MixedModelResult, what: str) -> None:
    if fit.generalized:
        raise ArgumentError(
            f"{what} are for linear fits (lme4 warns they may not make sense for GLMMs)"
        )
    fit._require_rows(what)


def _system(fit: MixedModelResult, weighted: bool = True) -> tuple[sp.csr_matrix, FloatArray]:
    """M = [ZΛ, X] (rows scaled by √w when ``weighted``) and A⁻¹, A = MᵀWM + diag(1_q, 0_p),
    kept on the fit."""
    key = "pls-system"
    if key not in fit.memo:
        design = fit.design
        ZL = sp.csr_matrix(design.Z @ relative_factor(fit))  # type: ignore[arg-type]
        q, p = ZL.shape[1], design.X.shape[1]
        if q + p > MAX_JOINT_SIZE:
            raise ModelTooLargeError(
                f"this needs the dense inverse of the {q + p} x {q + p} mixed-model equations; "
                f"more than {MAX_JOINT_SIZE} random and fixed effects is not supported"
            )
        M = sp.hstack([ZL, sp.csr_matrix(design.X)]).tocsr()
        w = np.ones(design.nobs) if design.weights is None else design.weights
        Mw = sp.csr_matrix(sp.diags(np.sqrt(w)) @ M)
        A = np.asarray((Mw.T @ Mw).toarray())
        A[np.arange(q), np.arange(q)] += 1.0
        Ainv = sla.cho_solve(sla.cho_factor(A), np.eye(q + p))
        fit.memo[key] = (M, Mw, (Ainv + Ainv.T) / 2)
    M, Mw, Ainv = fit.memo[key]
    return (Mw if weighted else M), Ainv
