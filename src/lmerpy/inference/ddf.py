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
* Type III hypotheses (lmerTest's default ``anova``): a term's hypothesis is that its
  coefficients vanish once every categorical factor's coding columns are centred over the
  factor's levels (for treatment contrasts: the sum-to-zero parametrisation), numeric
  covariates kept at 0. For treatment, sum, Helmert and polynomial contrasts in a formula
  that respects marginality this is SAS's type III, as lmerTest reports it.
"""

from __future__ import annotations

import itertools
import math
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, cast

import numpy as np
import pandas as pd
import scipy.linalg as sla
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from .._util.threads import single_blas_thread
from ..errors import ArgumentError, FitError, LmerpyError

if TYPE_CHECKING:
    from ..lmm.result import LmerResult

__all__ = [
    "DDF_METHODS",
    "ContrastTest",
    "anova_type3",
    "coef_table",
    "contrast_df",
    "type3_hypotheses",
]

FloatArray = NDArray[np.float64]
T = TypeVar("T")

DDF_METHODS = ("satterthwaite", "kenward-roger", "residual")
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
KR_MAX_ELEMENTS = 30_000_000
"""Largest dense n × (q + p) or q × q array the Kenward-Roger computation may form."""


class ContrastTest(NamedTuple):
    """The F test of Lβ = 0 (lmerTest ``contestMD``; one row of ``anova``).

    Attributes:
        den_df: denominator df (Satterthwaite, Kenward-Roger or residual).
        f_value: F statistic (Kenward-Roger: the scaled statistic λF).
        num_df: numerator df, the rank of L (0 when nothing in L is estimable).
        p_value: P(F(num_df, den_df) > f_value).
        mean_sq: F σ̂² before any Kenward-Roger scaling (``Mean Sq``); ``Sum Sq`` is
            ``mean_sq * num_df``.
    """

    den_df: float
    f_value: float
    num_df: int
    p_value: float
    mean_sq: float


# ---------------------------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------------------------


@single_blas_thread
def coef_table(fit: LmerResult, ddf: str = "satterthwaite") -> pd.DataFrame:
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
    method = _method(ddf)
    beta = fit.fixef.to_numpy()
    vcov = fit.vcov.to_numpy()
    if method == "kenward-roger":
        kr = _cached(fit, "kenward-roger", _kenward_roger)
        se = np.sqrt(np.diag(kr.phi_adj))
        df = np.array([kr.test(row[None, :], beta).den_df for row in np.eye(len(beta))])
    else:
        se = np.sqrt(np.diag(vcov))
        if method == "residual":
            df = np.full(len(beta), float(fit.nobs - len(beta)))
        else:
            satt = _cached(fit, "satterthwaite", _satterthwaite)
            df = np.array([satt.df(row) for row in np.eye(len(beta))])
    with np.errstate(divide="ignore", invalid="ignore"):
        t = beta / se
    p = 2.0 * stats.t.sf(np.abs(t), df)
    table = np.column_stack([beta, se, df, t, p])
    return pd.DataFrame(table, index=fit.fixef.index, columns=COEF_COLUMNS)


@single_blas_thread
def contrast_df(fit: LmerResult, L: ArrayLike, ddf: str = "satterthwaite") -> ContrastTest:
    """F test of Lβ = 0 with its denominator df (lmerTest: ``contestMD(m, L, ddf = ...)``).

    Rows of L that are linearly dependent given vcov(β̂) do not count (NumDF is the number of
    eigenvalues of L vcov(β̂) Lᵀ above ``RANK_TOL`` times the largest). For one row, F = t².

    Args:
        fit: a fitted model.
        L: contrast matrix (rows × number of fixed effects), or one contrast vector.
        ddf: one of ``DDF_METHODS``.
    """
    method = _method(ddf)
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
        return _cached(fit, "kenward-roger", _kenward_roger).test(directions, beta, sigma2)
    estimates = directions @ beta
    f_value = float(np.sum(estimates**2 / variances)) / len(variances)
    if method == "residual":
        den_df = float(fit.nobs - len(beta))
    else:
        satt = _cached(fit, "satterthwaite", _satterthwaite)
        den_df = _combine_df(np.array([satt.df(d) for d in directions]))
    return _f_test(f_value, len(variances), den_df, f_value * sigma2)


@single_blas_thread
def anova_type3(fit: LmerResult, ddf: str = "satterthwaite") -> pd.DataFrame:
    """Type III ANOVA table of the fixed-effect terms (lmerTest: ``anova(m, ddf = ...)``).

    One row per fixed term (R's term labels; the intercept has none) with columns
    ``Sum Sq``, ``Mean Sq``, ``NumDF``, ``DenDF``, ``F value``, ``Pr(>F)``. ``Mean Sq`` is
    F σ̂² (Kenward-Roger: before scaling F by λ). The hypotheses are `type3_hypotheses`; a
    term whose columns were all dropped for rank deficiency gets a row of NaN (R: NA).
    """
    _method(ddf)
    rows: dict[str, list[float]] = {}
    for label, L in type3_hypotheses(fit).items():
        test = contrast_df(fit, L.to_numpy(), ddf)
        num_df = test.num_df if test.num_df else float("nan")  # nothing estimable: R's NA
        rows[label] = [
            test.mean_sq * num_df,
            test.mean_sq,
            num_df,
            test.den_df,
            test.f_value,
            test.p_value,
        ]
    return pd.DataFrame.from_dict(rows, orient="index", columns=ANOVA_COLUMNS)


def type3_hypotheses(fit: LmerResult) -> dict[str, pd.DataFrame]:
    """The type III hypothesis matrix of each fixed term (lmerTest: ``show_tests(anova(m))``).

    Each categorical coding column c is replaced by c minus its mean over the factor's levels
    (treatment coding becomes the sum-to-zero parametrisation; sum, Helmert and polynomial
    codings are already centred), expanding products in interactions into the columns of the
    lower-order terms. The term's hypothesis is that its coefficients in that
    parametrisation vanish: the term's rows of T⁻¹ where X T is the centred matrix. A
    lower-order column the formula lacks (a formula that breaks marginality) is left out of
    the centring. Columns dropped for rank deficiency are left out of the rows and columns.

    Returns:
        Term label -> DataFrame (one row per column of the term, one column per fixed effect).
    """
    fixed = fit.design.fixed
    columns = list(fixed.columns)
    structure, blocks = _column_structure(fit)
    transform = _centring_transform(structure)
    inverse = np.linalg.solve(transform, np.eye(len(columns)))
    position = {name: j for j, name in enumerate(columns)}
    kept = [position[name] for name in fit.design.x_columns]
    out = {}
    for label, idx in blocks.items():
        rows = [j for j in idx if j in kept]
        frame = inverse[np.ix_(rows, kept)]
        out[label] = pd.DataFrame(
            frame, index=[columns[j] for j in rows], columns=fit.design.x_columns
        )
    return out


# ---------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------


def _method(ddf: str) -> str:
    method = ddf.strip().lower()
    if method not in DDF_METHODS:
        raise ArgumentError(f"ddf must be one of {', '.join(DDF_METHODS)}; got {ddf!r}")
    return method


_CACHE: dict[int, dict[str, object]] = {}


def _cached(fit: LmerResult, key: str, build: Callable[[LmerResult], T]) -> T:
    """``build(fit)``, computed once per fit (the fit is immutable)."""
    store = _CACHE.get(id(fit))
    if store is None:
        store = _CACHE[id(fit)] = {}
        weakref.finalize(fit, _CACHE.pop, id(fit), None)
    if key not in store:
        store[key] = build(fit)
    return cast(T, store[key])


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


def _f_test(f_value: float, num_df: int, den_df: float, mean_sq: float) -> ContrastTest:
    if np.isposinf(den_df):  # F(q, ∞) is χ²_q / q
        p = float(stats.chi2.sf(f_value * num_df, num_df))
    else:
        p = float(stats.f.sf(f_value, num_df, den_df)) if den_df > 0 else float("nan")
    return ContrastTest(float(den_df), float(f_value), num_df, p, float(mean_sq))


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

    def __init__(self, fit: LmerResult) -> None:
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


def _satterthwaite(fit: LmerResult) -> _Satterthwaite:
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
        vcov_varpar=2.0 * _symmetric_inverse(hess[0]),
        jacobian=jac[1:].T.reshape(k, p, p),
    )


def _symmetric_inverse(H: FloatArray) -> FloatArray:
    """H⁻¹ for a symmetric H; the pseudo-inverse when H is singular (a flat direction of the
    criterion, e.g. at a boundary, contributes nothing to the df)."""
    H = (H + H.T) / 2
    values, vectors = np.linalg.eigh(H)
    big = np.abs(values) > RANK_TOL * np.max(np.abs(values))
    return np.asarray((vectors[:, big] / values[big]) @ vectors[:, big].T)


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


# ---------------------------------------------------------------------------------------------
# Kenward-Roger
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _KenwardRoger:
    """What the Kenward-Roger tests need (pbkrtest's ``vcovAdj`` and its attributes)."""

    phi: FloatArray
    """(p, p) Φ = (XᵀΣ⁻¹X)⁻¹, the plain vcov(β̂)."""
    phi_adj: FloatArray
    """(p, p) Φ_A, the adjusted covariance (pbkrtest's ``vcovAdj``)."""
    P: FloatArray
    """(k, p, p) P_i = XᵀΣ⁻¹ Σ_i Σ⁻¹X, Σ_i = ∂Σ/∂φ_i (the sign of KR's P_i cancels)."""
    W: FloatArray
    """(k, k) inverse expected REML information of the variance components φ."""

    def test(self, L: FloatArray, beta: FloatArray, sigma2: float = 1.0) -> ContrastTest:
        """Scaled F test of Lβ = 0 for an L of full row rank ℓ (Kenward & Roger 1997, eq. 3-5)."""
        ell = L.shape[0]
        theta = L.T @ np.linalg.solve(L @ self.phi @ L.T, L)
        M = np.einsum("ab,bc,kcd,de->kae", theta, self.phi, self.P, self.phi)
        traces = np.einsum("kaa->k", M)
        a1 = float(traces @ self.W @ traces)
        a2 = float(np.einsum("ij,iab,jba->", self.W, M, M))
        den_df, scale = _kr_df(ell, a1, a2)
        estimate = L @ beta
        f_value = float(estimate @ np.linalg.solve(L @ self.phi_adj @ L.T, estimate)) / ell
        return _f_test(scale * f_value, ell, den_df, f_value * sigma2)


def _kr_df(ell: int, a1: float, a2: float) -> tuple[float, float]:
    """Denominator df m and scale λ of Kenward & Roger (1997), from A1 and A2."""
    if a2 <= 0:
        return float("inf"), 1.0
    b = (a1 + 6 * a2) / (2 * ell)
    g = ((ell + 1) * a1 - (ell + 4) * a2) / ((ell + 2) * a2)
    d = 3 * ell + 2 * (1 - g)
    c1, c2, c3 = g / d, (ell - g) / d, (ell + 2 - g) / d
    e_star = 1 / (1 - a2 / ell)
    v_star = (2 / ell) * (1 + c1 * b) / ((1 - c2 * b) ** 2 * (1 - c3 * b))
    rho = v_star / (2 * e_star**2)
    m = 4 + (ell + 2) / (ell * rho - 1)
    return m, m / (e_star * (m - 2))


class _SigmaInverse:
    """Σ⁻¹ = σ⁻²(W − W ZΛ M⁻¹ ΛᵀZᵀ W), M = I + ΛᵀZᵀWZΛ (Woodbury), never formed."""

    def __init__(self, fit: LmerResult) -> None:
        design = fit.design
        n = design.nobs
        self.w = np.ones(n) if design.weights is None else np.asarray(design.weights, np.float64)
        self.sigma2 = fit.sigma**2
        self.ZL = sp.csr_matrix(design.Z @ _relative_factor(fit))
        self.WZL = sp.csr_matrix(sp.diags(self.w) @ self.ZL)
        self.M = np.eye(self.ZL.shape[1]) + np.asarray((self.ZL.T @ self.WZL).toarray())
        self.chol = sla.cho_factor(self.M, lower=True)

    def __call__(self, U: FloatArray) -> FloatArray:
        WU = self.w[:, None] * U
        inner = sla.cho_solve(self.chol, np.asarray(self.ZL.T @ WU))
        return np.asarray((WU - self.WZL @ inner) / self.sigma2)

    def trace_residual_square(self) -> float:
        """tr(Σ⁻¹W⁻¹Σ⁻¹W⁻¹) = σ⁻⁴ (n − 2 tr(M⁻¹G) + tr((M⁻¹G)²)), G = M − I."""
        MG = sla.cho_solve(self.chol, self.M - np.eye(self.M.shape[0]))
        n = len(self.w)
        return float(n - 2 * np.trace(MG) + np.sum(MG * MG.T)) / self.sigma2**2


def _relative_factor(fit: LmerResult) -> sp.csr_matrix:
    """Λθ̂ (q × q), block diagonal with each term's Tᵢ repeated per level, in Z's order."""
    lambdas = fit.devfun.lambdas(fit.record.final)
    blocks = [
        sp.kron(sp.eye(t.factor.n_levels), sp.csr_matrix(lam))
        for t, lam in zip(fit.design.terms, lambdas, strict=True)
    ]
    return sp.csr_matrix(sp.block_diag(blocks))


def _covariance_derivatives(fit: LmerResult) -> list[sp.csr_matrix]:
    """∂(Var b)/∂φ_i (q × q) for each covariance element φ_i of each term's G_t (lower
    triangle, column by column, as lme4 orders θ); ∂Σ/∂φ_i = Z (∂Var b/∂φ_i) Zᵀ."""
    q = sum(t.factor.n_levels * len(t.columns) for t in fit.design.terms)
    out, offset = [], 0
    for term in fit.design.terms:
        size, levels = len(term.columns), term.factor.n_levels
        base = offset + np.arange(levels) * size
        cols, rows = np.triu_indices(size)
        for a, b in zip(rows.tolist(), cols.tolist(), strict=True):
            pairs = {(a, b), (b, a)}
            r = np.concatenate([base + i for i, _ in pairs])
            c = np.concatenate([base + j for _, j in pairs])
            out.append(sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(q, q)))
        offset += levels * size
    return out


def _kenward_roger(fit: LmerResult) -> _KenwardRoger:
    """Φ, Φ_A, P_i and W of Kenward & Roger (1997) at the REML estimates."""
    if not fit.reml:
        raise ArgumentError(
            "Kenward-Roger's method is only available for REML fits (as in lmerTest and "
            "pbkrtest); refit with reml=True or use ddf='satterthwaite'"
        )
    design = fit.design
    X = np.asarray(design.X, dtype=np.float64)
    Z = sp.csr_matrix(design.Z)
    (n, p), q = X.shape, Z.shape[1]
    if max(n * (q + p), q * q) > KR_MAX_ELEMENTS:
        raise FitError(
            f"Kenward-Roger is too costly for this model (n = {n} observations, q = {q} random "
            f"effects: it needs dense n x (q + p) and q x q matrices); use ddf='satterthwaite'"
        )
    sigma_inv = _SigmaInverse(fit)
    V = sigma_inv(np.hstack([Z.toarray(), X]))
    VZ, VX = V[:, :q], V[:, q:]
    A = np.asarray(Z.T @ VZ)  # ZᵀΣ⁻¹Z
    B = np.asarray(Z.T @ VX)  # ZᵀΣ⁻¹X
    phi = _symmetric_inverse(X.T @ VX)
    P, Q, traces = _kr_derivative_products(_covariance_derivatives(fit), A, B, VZ, VX, sigma_inv)
    k = len(P)
    info = np.empty((k, k))
    for i, j in itertools.product(range(k), range(k)):
        info[i, j] = 0.5 * (
            traces[i, j] - 2 * np.sum(phi * Q[i, j]) + np.sum((phi @ P[i]) * (phi @ P[j]).T)
        )
    W = _symmetric_inverse(info)
    middle = sum(
        (W[i, j] * (Q[i, j] - P[i] @ phi @ P[j]) for i, j in itertools.product(range(k), range(k))),
        start=np.zeros((p, p)),
    )
    phi_adj = phi + 2 * phi @ middle @ phi
    return _KenwardRoger(phi=phi, phi_adj=(phi_adj + phi_adj.T) / 2, P=P, W=W)


def _kr_derivative_products(
    E: Sequence[sp.csr_matrix],
    A: FloatArray,
    B: FloatArray,
    VZ: FloatArray,
    VX: FloatArray,
    sigma_inv: _SigmaInverse,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """P_i = XᵀΣ⁻¹Σ_iΣ⁻¹X, Q_ij = XᵀΣ⁻¹Σ_iΣ⁻¹Σ_jΣ⁻¹X and tr(Σ⁻¹Σ_iΣ⁻¹Σ_j) for the
    random-effect components (Σ_i = Z E_i Zᵀ) followed by σ² (Σ_σ² = W⁻¹), from q × q and
    q × p products only."""
    p, kg = B.shape[1], len(E)
    k = kg + 1
    r0 = 1.0 / sigma_inv.w  # the diagonal of ∂Σ/∂σ² = W⁻¹
    EB = [np.asarray(e @ B) for e in E]
    AEB = [A @ eb for eb in EB]
    AE = [np.asarray(e @ A).T for e in E]  # A E_i (A and E_i symmetric)
    R0VX = r0[:, None] * VX
    S = VZ.T @ R0VX  # ZᵀΣ⁻¹W⁻¹Σ⁻¹X
    Y = VZ.T @ (r0[:, None] * VZ)  # ZᵀΣ⁻¹W⁻¹Σ⁻¹Z
    P = np.empty((k, p, p))
    Q = np.empty((k, k, p, p))
    traces = np.empty((k, k))
    for i in range(kg):
        P[i] = B.T @ EB[i]
        for j in range(kg):
            Q[i, j] = EB[i].T @ AEB[j]
            traces[i, j] = np.sum(AE[i] * AE[j].T)
        Q[i, kg] = EB[i].T @ S
        Q[kg, i] = Q[i, kg].T
        traces[i, kg] = traces[kg, i] = float(E[i].multiply(Y).sum())
    P[kg] = VX.T @ R0VX
    Q[kg, kg] = R0VX.T @ sigma_inv(R0VX)
    traces[kg, kg] = sigma_inv.trace_residual_square()
    return P, Q, traces


# ---------------------------------------------------------------------------------------------
# Type III hypotheses
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Coding:
    """One factor's share of a model-matrix column: which coding column of which factor."""

    key: tuple[str, bool, int]
    """(factor expression, reduced rank?, coding column)."""
    mean: float
    """Mean of the coding column over the factor's levels (0 for numeric factors)."""


def _column_structure(
    fit: LmerResult,
) -> tuple[list[tuple[_Coding, ...]], dict[str, list[int]]]:
    """For each column of the fixed-effects matrix (before rank-deficient columns are
    dropped) its factors' codings, and the columns of each term (R's labels, no intercept).

    Within a term, formulaic lays out the Kronecker product of its factors' codings with the
    first factor varying fastest, as R does."""
    fixed, linear = fit.design.fixed, fit.design.spec.fixed
    if fixed.spec is None:  # the intercept and numeric variables: a column a term
        codings: list[tuple[_Coding, ...]] = [
            () if c == "(Intercept)" else (_Coding((c, False, 0), 0.0),) for c in fixed.columns
        ]
        numeric = [c for c in fixed.columns if c != "(Intercept)"]
        return codings, {c: [fixed.columns.index(c)] for c in numeric}
    entries = [e for e in fixed.spec.structure if e.columns]
    labels = (["(Intercept)"] if linear.intercept else []) + linear.labels
    if len(entries) != len(labels):
        raise LmerpyError("cannot match the fixed-effects columns to the formula's terms")
    columns: list[tuple[_Coding, ...]] = []
    blocks: dict[str, list[int]] = {}
    for label, entry in zip(labels, entries, strict=True):
        start = len(columns)
        for scoped in entry.scoped_terms:
            per_factor = _factor_codings(fixed.spec, entries, scoped.factors, len(entry.columns))
            for combo in itertools.product(*reversed(per_factor)):
                columns.append(tuple(reversed(combo)))
        if len(columns) - start != len(entry.columns):
            raise LmerpyError(f"cannot work out the column layout of the term {label}")
        blocks[label] = list(range(start, len(columns)))
    blocks.pop("(Intercept)", None)
    return columns, blocks


def _factor_codings(
    spec: Any, entries: Sequence[Any], factors: Sequence[Any], n_columns: int
) -> list[list[_Coding]]:
    """Each factor's coding columns within one (scoped) term."""
    out: list[list[_Coding] | None] = []
    for sf in factors:
        expr = str(sf.factor.expr)
        kind, state = spec.encoder_state.get(expr, (None, {}))
        if str(getattr(kind, "value", kind)) == "categorical":
            means = _coding_means(state, bool(sf.reduced))
            out.append([_Coding((expr, bool(sf.reduced), a), m) for a, m in enumerate(means)])
        else:
            width = _numeric_width(expr, entries)
            out.append(
                None if width is None else [_Coding((expr, False, a), 0.0) for a in range(width)]
            )
    known = math.prod(len(c) for c in out if c is not None)
    unknown = [i for i, c in enumerate(out) if c is None]
    for i in unknown:  # a multi-column numeric factor seen only in interactions
        width = n_columns // known if len(unknown) == 1 else 1
        expr = str(factors[i].factor.expr)
        out[i] = [_Coding((expr, False, a), 0.0) for a in range(width)]
    return [c for c in out if c is not None]


def _coding_means(state: Any, reduced: bool) -> list[float]:
    """Means over the levels of a categorical factor's coding columns (treatment: 1/k)."""
    contrasts = state.get("contrasts") if isinstance(state, dict) else None
    if contrasts is None:
        levels = list(state.get("categories", [])) if isinstance(state, dict) else []
        k = len(levels)
        return [1.0 / k] * (k - 1 if reduced else k) if k else []
    coding = contrasts.contrasts.get_coding_matrix(contrasts.levels, reduced_rank=reduced)
    means = np.asarray(coding, dtype=np.float64).mean(axis=0)
    return [0.0 if abs(m) < 1e-12 else float(m) for m in means]


def _numeric_width(expr: str, entries: Sequence[Any]) -> int | None:
    """Columns of a numeric factor, from the term that is that factor alone (if any)."""
    for entry in entries:
        if len(entry.scoped_terms) == 1:
            factors = entry.scoped_terms[0].factors
            if len(factors) == 1 and str(factors[0].factor.expr) == expr:
                return len(entry.columns)
    return None


def _centring_transform(columns: Sequence[tuple[_Coding, ...]]) -> FloatArray:
    """T with X T = X with every categorical coding column centred over its levels.

    A column Π_f c_f · h becomes Π_f (c_f − μ_f) · h = Σ_S Π_{f∈S}(−μ_f) · (column without
    the factors in S); those columns are found among X's by their codings."""
    index = {frozenset(c.key for c in col): j for j, col in enumerate(columns)}
    T = np.eye(len(columns))
    for j, col in enumerate(columns):
        centred = [c for c in col if c.mean != 0.0]
        for r in range(1, len(centred) + 1):
            for subset in itertools.combinations(centred, r):
                rest = frozenset(c.key for c in col if c not in subset)
                i = index.get(rest)
                if i is not None:
                    T[i, j] += math.prod(-c.mean for c in subset)
    return T
