"""t and F tests of fixed effects with Satterthwaite or Kenward-Roger denominator df.

The R equivalents are lmerTest's ``summary(m)$coefficients``, ``contestMD``/``contest1D``
and ``anova(m)`` (type III), with pbkrtest's ``vcovAdj`` and ``get_Lb_ddf`` for the
Kenward-Roger method. Everything here is computed from the published methods:

* Satterthwaite (Kuznetsova, Brockhoff & Christensen 2017, *J. Stat. Softw.* 82(13)): the
  variance parameters are φ = (θ, σ); their asymptotic covariance is A = 2 H⁻¹ with H the
  Hessian of the criterion that was minimised (REML criterion or ML deviance) in φ, and for a
  contrast l the df are ν = 2 (lᵀCl)² / (gᵀ A g), g = ∇_φ lᵀ C(φ) l, C(φ) = vcov(β̂).
  Multi-df contrasts combine the df of the eigen-directions of L C Lᵀ (Fai & Cornelius 1996).
  H and ∇C come from central differences with Richardson extrapolation (see `_richardson`).
* Kenward-Roger (Kenward & Roger 1997, *Biometrics* 53; Halekoh & Højsgaard 2014,
  *J. Stat. Softw.* 59(9)): Σ = Σ_t Z_t (I ⊗ G_t) Z_tᵀ + σ² W⁻¹ is linear in the variance
  components (the elements of each G_t and σ²), the small-sample adjusted covariance of β̂ is
  Φ_A = Φ + 2 Φ [Σ_ij W_ij (Q_ij − P_i Φ P_j)] Φ with W the inverse expected REML information,
  and F tests are scaled with the moment-matched denominator df m and scale λ.

The Kenward-Roger adjustment is ``kenward_roger``'s; the type III hypotheses ``type3``'s.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar, cast

import numpy as np
import pandas as pd
import scipy.linalg as sla
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from .._util.threads import single_blas_thread
from ..errors import ArgumentError, FitError
from ..fitted.base import LinearFit
from .kenward_roger import ContrastTest, f_test, kenward_roger, symmetric_inverse

__all__ = [
    "ANOVA_COLUMNS",
    "DDF_METHODS",
    "ContrastTest",
    "adjusted_vcov",
    "check_ddf",
    "coef_table",
    "contrast_df",
    "linear_estimates",
]

FloatArray = NDArray[np.float64]
T = TypeVar("T")

DDF_METHODS = ("satterthwaite", "kenward-roger", "residual", "asymptotic")
"""Accepted ``ddf`` values (case-insensitive)."""

COEF_COLUMNS = ["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"]
ANOVA_COLUMNS = ["Sum Sq", "Mean Sq", "NumDF", "DenDF", "F value", "Pr(>F)"]

RICHARDSON_STEP = 3e-2
"""First finite-difference step for φ = (θ, σ), relative to max(|φ_i|, RICHARDSON_FLOOR)."""
RICHARDSON_FLOOR = 5e-2
"""Scale below which the step is absolute (θ at or near 0 on a boundary fit)."""
RICHARDSON_LEVELS = 3
"""Central differences at steps h, h/2, h/4, extrapolated to h → 0."""
RANK_TOL = math.sqrt(np.finfo(float).eps)
"""Eigenvalues of L C Lᵀ below this (relative to the largest) do not count towards NumDF."""


# ---------------------------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------------------------


@single_blas_thread
def coef_table(fit: LinearFit, ddf: str = "satterthwaite") -> pd.DataFrame:
    """Coefficient table with df and p-values (lmerTest: ``summary(m, ddf = ...)$coefficients``).

    Args:
        fit: a fitted model.
        ddf: ``"satterthwaite"`` (lmerTest's default), ``"kenward-roger"`` (pbkrtest's adjusted
            standard errors ``sqrt(diag(vcovAdj(m)))`` and df; REML fits only) or
            ``"residual"`` (df = n - p with the usual standard errors).

    Returns:
        One row per fixed effect, columns ``Estimate``, ``Std. Error``, ``df``, ``t value``,
        ``Pr(>|t|)``.
    """
    beta = fit.fixef.to_numpy()
    _, se, df = linear_estimates(fit, np.eye(len(beta)), ddf)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = beta / se
    p = 2.0 * stats.t.sf(np.abs(t), df)
    table = np.column_stack([beta, se, df, t, p])
    return pd.DataFrame(table, index=fit.fixef.index, columns=COEF_COLUMNS)


@single_blas_thread
def linear_estimates(
    fit: LinearFit, L: ArrayLike, ddf: str = "satterthwaite"
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Estimates, standard errors and df of the linear functions Lβ, one per row of L
    (emmeans' and lmerTest's ``contest1D`` per row).

    ``"kenward-roger"``: standard errors from pbkrtest's adjusted covariance ``vcovAdj(m)``,
    df ``Lb_ddf(l, vcov(m), vcovAdj(m))``; ``"satterthwaite"``: ``vcov(m)`` and lmerTest's
    df; ``"residual"``: n - p; ``"asymptotic"``: ``vcov(m)`` and infinite df (z tests).
    """
    method = check_ddf(ddf)
    Lm = np.atleast_2d(np.asarray(L, dtype=np.float64))
    beta = fit.fixef.to_numpy()
    estimates = Lm @ beta
    if method == "kenward-roger":
        kr = _cached(fit, "kenward-roger", kenward_roger)
        se = np.sqrt(np.einsum("ij,jk,ik->i", Lm, kr.phi_adj, Lm))
        df = np.array([kr.test(row[None, :], beta).den_df if row.any() else np.nan for row in Lm])
        return estimates, se, df
    se = np.sqrt(np.einsum("ij,jk,ik->i", Lm, fit.vcov.to_numpy(), Lm))
    if method == "residual":
        return estimates, se, np.full(len(Lm), float(fit.nobs - len(beta)))
    if method == "asymptotic":
        return estimates, se, np.full(len(Lm), np.inf)
    satt = _cached(fit, "satterthwaite", _satterthwaite)
    return estimates, se, np.array([satt.df(row) if row.any() else np.nan for row in Lm])


@single_blas_thread
def contrast_df(fit: LinearFit, L: ArrayLike, ddf: str = "satterthwaite") -> ContrastTest:
    """F test of Lβ = 0 with its denominator df (lmerTest: ``contestMD(m, L, ddf = ...)``).

    Rows of L that are linearly dependent given vcov(β̂) do not count (NumDF is the number of
    eigenvalues of L vcov(β̂) Lᵀ above ``RANK_TOL`` times the largest). For one row, F = t².

    Args:
        fit: a fitted model.
        L: contrast matrix (rows × number of fixed effects), or one contrast vector.
        ddf: one of ``DDF_METHODS``.
    """
    method = check_ddf(ddf)
    beta = fit.fixef.to_numpy()
    vcov = fit.vcov.to_numpy()
    Lm = np.atleast_2d(np.asarray(L, dtype=np.float64))
    if Lm.shape[1] != len(beta):
        raise ArgumentError(
            f"L must have {len(beta)} columns (one per fixed effect), not {Lm.shape[1]}"
        )
    directions, variances = _independent_directions(Lm, vcov)
    if len(variances) == 0:
        nan = float("nan")
        return ContrastTest(nan, nan, 0, nan, nan)
    sigma2 = fit.sigma**2
    if method == "kenward-roger":
        return _cached(fit, "kenward-roger", kenward_roger).test(directions, beta, sigma2)
    estimates = directions @ beta
    f_value = float(np.sum(estimates**2 / variances)) / len(variances)
    if method == "residual":
        den_df = float(fit.nobs - len(beta))
    elif method == "asymptotic":
        den_df = float("inf")
    else:
        satt = _cached(fit, "satterthwaite", _satterthwaite)
        den_df = _combine_df(np.array([satt.df(d) for d in directions]))
    return f_test(f_value, len(variances), den_df, f_value * sigma2)


# ---------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------


def check_ddf(ddf: str) -> str:
    method = ddf.strip().lower()
    if method not in DDF_METHODS:
        raise ArgumentError(f"ddf must be one of {', '.join(DDF_METHODS)}; got {ddf!r}")
    return method


def adjusted_vcov(fit: LinearFit) -> FloatArray:
    """pbkrtest's ``vcovAdj(m)``, the Kenward-Roger adjusted covariance of β̂ (computed once
    per fit, with the df that use it)."""
    return np.asarray(_cached(fit, "kenward-roger", kenward_roger).phi_adj, dtype=np.float64)


def _cached(fit: LinearFit, key: str, build: Callable[[LinearFit], T]) -> T:
    """``build(fit)``, computed once per fit (the fit is immutable) and kept on it."""
    if key not in fit.memo:
        fit.memo[key] = build(fit)
    return cast(T, fit.memo[key])


def _independent_directions(L: FloatArray, vcov: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Rows Pᵀ L along the eigenvectors of L vcov Lᵀ with positive eigenvalues, and those
    eigenvalues: an F test of Lβ = 0 with full-rank, uncorrelated rows."""
    values, vectors = np.linalg.eigh(L @ vcov @ L.T)
    if values.size == 0 or values[-1] <= 0:
        return np.zeros((0, L.shape[1])), np.zeros(0)
    keep = values > RANK_TOL * values[-1]
    return vectors[:, keep].T @ L, values[keep]


def _combine_df(nu: FloatArray) -> float:
    """Denominator df of a multi-df F test from the df of its independent directions
    (Fai & Cornelius 1996, as lmerTest): 2E/(E - q) with E = Σ ν/(ν - 2) over ν > 2."""
    q = len(nu)
    if q == 1:
        return float(nu[0])
    big = nu[nu > 2]
    e = float(np.sum(big / (big - 2)))
    return 2 * e / (e - q) if e > q else float("nan")


# ---------------------------------------------------------------------------------------------
# Satterthwaite
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Satterthwaite:
    """What Satterthwaite's df need (lmerTest's ``vcov_varpar``, ``Jac_list``, ``vcov_beta``)."""

    vcov_beta: FloatArray
    """(p, p) C = vcov(β̂)."""
    vcov_varpar: FloatArray
    """(k, k) A = 2 H⁻¹, the asymptotic covariance of φ̂ = (θ̂, σ̂)."""
    jacobian: FloatArray
    """(k, p, p) ∂C/∂φ_i."""

    def df(self, contrast: FloatArray) -> float:
        """ν = 2 (lᵀCl)² / (gᵀ A g), g_i = lᵀ (∂C/∂φ_i) l."""
        variance = float(contrast @ self.vcov_beta @ contrast)
        grad = np.einsum("a,kab,b->k", contrast, self.jacobian, contrast)
        denominator = float(grad @ self.vcov_varpar @ grad)
        if denominator <= 0 or not np.isfinite(denominator):
            return float("inf") if denominator == 0 else float("nan")
        return 2.0 * variance**2 / denominator


class _PlsParts:
    """The pieces of the criterion at θ, memoised: (log-determinant terms, pwrss, unscaled
    vcov(β) = (R_XᵀR_X)⁻¹).

    The log-determinants are ldL2 + ldRX2 for REML and ldL2 for ML, so that the criterion in
    (θ, σ) is, up to a constant, logdet + dof·log(2πσ²) + pwrss/σ² with dof = n - p (REML)
    or n (ML).

    The derivatives need dozens of evaluations, so this uses ``DevianceFunction.decompose``
    (the factorisation alone, without the conditional modes and variances of ``solve``).
    """

    def __init__(self, fit: LinearFit) -> None:
        self._devfun = fit.devfun
        self._memo: dict[bytes, tuple[float, float, FloatArray]] = {}

    def __call__(self, theta: FloatArray) -> tuple[float, float, FloatArray]:
        key = theta.tobytes()
        if key not in self._memo:
            parts = self._devfun.decompose(theta)
            if parts is None:
                raise FitError("the variance parameters moved where the model is not estimable")
            ld_l, ld_rx, pwrss, rx = parts.ldL2, parts.ldRX2, parts.pwrss, parts.RX
            rx_inv = sla.solve_triangular(rx, np.eye(rx.shape[0]))
            logdet = ld_l + ld_rx if self._devfun.reml else ld_l
            self._memo[key] = (logdet, pwrss, rx_inv @ rx_inv.T)
        return self._memo[key]


def _satterthwaite(fit: LinearFit) -> _Satterthwaite:
    """Hessian of the criterion in φ = (θ, σ) and Jacobian of vcov(β̂) at the optimum."""
    parts = _PlsParts(fit)
    n, p = fit.nobs, len(fit.fixef)
    dof = n - p if fit.reml else n

    def criterion_and_vcov(phi: FloatArray) -> FloatArray:
        logdet, pwrss, unscaled = parts(phi[:-1])
        sigma2 = phi[-1] ** 2
        value = logdet + dof * math.log(2 * math.pi * sigma2) + pwrss / sigma2
        return np.concatenate([[value], (sigma2 * unscaled).ravel()])

    phi = np.append(np.asarray(fit.record.final, dtype=np.float64), fit.sigma)
    steps = RICHARDSON_STEP * np.maximum(np.abs(phi), RICHARDSON_FLOOR)
    jac, hess = _richardson(criterion_and_vcov, phi, steps)
    k = len(phi)
    return _Satterthwaite(
        vcov_beta=criterion_and_vcov(phi)[1:].reshape(p, p),
        vcov_varpar=2.0 * symmetric_inverse(hess[0]),
        jacobian=jac[1:].T.reshape(k, p, p),
    )


def _richardson(
    fun: Callable[[FloatArray], FloatArray], x: FloatArray, steps: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Jacobian (m, k) and Hessians (m, k, k) of a vector function by central differences
    with Richardson extrapolation (numDeriv's ``jacobian``/``hessian`` scheme).

    Differences at steps h/2^l (l < ``RICHARDSON_LEVELS``) have errors in even powers of h;
    repeated extrapolation removes the h² and h⁴ terms. Off-diagonal second derivatives use
    f(x ± h_i e_i ± h_j e_j) with the diagonal ones, so a level costs k(k + 1) evaluations
    (points that only move σ reuse the factorisation at θ).

    Step choice: h_i = ``RICHARDSON_STEP`` · max(|x_i|, ``RICHARDSON_FLOOR``), down to h/4.
    At lme4's θ̂ this reproduces lmerTest's (numDeriv's) df on every reference model to 4e-7
    relative or better; steps ten times smaller lose digits to round-off (second differences
    of criteria of up to ~2e5 divided by h²), and larger ones to truncation.
    """
    f0 = fun(x)
    estimates = [
        _central_differences(fun, x, f0, steps / 2.0**level) for level in range(RICHARDSON_LEVELS)
    ]
    jacs = [e[0] for e in estimates]
    hesses = [e[1] for e in estimates]
    for order in range(1, RICHARDSON_LEVELS):
        factor = 4.0**order
        jacs = [(factor * jacs[i + 1] - jacs[i]) / (factor - 1) for i in range(len(jacs) - 1)]
        hesses = [
            (factor * hesses[i + 1] - hesses[i]) / (factor - 1) for i in range(len(hesses) - 1)
        ]
    return jacs[0], hesses[0]


def _central_differences(
    fun: Callable[[FloatArray], FloatArray], x: FloatArray, f0: FloatArray, h: FloatArray
) -> tuple[FloatArray, FloatArray]:
    k = len(x)
    eye = np.eye(k) * h
    plus = [fun(x + eye[i]) for i in range(k)]
    minus = [fun(x - eye[i]) for i in range(k)]
    jac = np.stack([(plus[i] - minus[i]) / (2 * h[i]) for i in range(k)], axis=-1)
    hess = np.empty((len(f0), k, k))
    for i in range(k):
        hess[:, i, i] = (plus[i] - 2 * f0 + minus[i]) / h[i] ** 2
    for i, j in itertools.combinations(range(k), 2):
        both = fun(x + eye[i] + eye[j]) - 2 * f0 + fun(x - eye[i] - eye[j])
        mixed = both - h[i] ** 2 * hess[:, i, i] - h[j] ** 2 * hess[:, j, j]
        hess[:, i, j] = hess[:, j, i] = mixed / (2 * h[i] * h[j])
    return jac, hess
