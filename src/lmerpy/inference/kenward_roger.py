"""Kenward-Roger's small-sample adjustment (Kenward & Roger 1997, *Biometrics* 53; Halekoh &
Højsgaard 2014, *J. Stat. Softw.* 59(9)), as pbkrtest's ``vcovAdj`` and ``get_Lb_ddf`` give it.

Σ = Σ_t Z_t (I ⊗ G_t) Z_tᵀ + σ² W⁻¹ is linear in the variance components (the elements of
each G_t and σ²); the adjusted covariance of β̂ is Φ_A = Φ + 2 Φ [Σ_ij W_ij (Q_ij − P_i Φ P_j)] Φ
with W the inverse expected REML information, and F tests are scaled with the moment-matched
denominator df m and scale λ.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy import stats

from ..errors import ArgumentError, FitError
from ..fitted.base import LinearFit

__all__ = [
    "KR_MAX_ELEMENTS",
    "ContrastTest",
    "f_test",
    "kenward_roger",
    "relative_factor",
    "symmetric_inverse",
]

FloatArray = NDArray[np.float64]

KR_MAX_ELEMENTS = 30_000_000
"""Largest dense n × (q + p) or q × q array the Kenward-Roger computation may form."""
RANK_TOL = math.sqrt(np.finfo(float).eps)
"""Eigenvalues below this (relative to the largest) count as 0."""


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


def f_test(f_value: float, num_df: int, den_df: float, mean_sq: float) -> ContrastTest:
    if np.isposinf(den_df):  # F(q, ∞) is χ²_q / q
        p = float(stats.chi2.sf(f_value * num_df, num_df))
    else:
        p = float(stats.f.sf(f_value, num_df, den_df)) if den_df > 0 else float("nan")
    return ContrastTest(float(den_df), float(f_value), num_df, p, float(mean_sq))


def symmetric_inverse(H: FloatArray) -> FloatArray:
    """H⁻¹ for a symmetric H; the pseudo-inverse when H is singular (a flat direction of the
    criterion, e.g. at a boundary, contributes nothing to the df)."""
    H = (H + H.T) / 2
    values, vectors = np.linalg.eigh(H)
    big = np.abs(values) > RANK_TOL * np.max(np.abs(values))
    return np.asarray((vectors[:, big] / values[big]) @ vectors[:, big].T)


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
        return f_test(scale * f_value, ell, den_df, f_value * sigma2)


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

    def __init__(self, fit: LinearFit) -> None:
        design = fit.design
        n = design.nobs
        self.w = np.ones(n) if design.weights is None else np.asarray(design.weights, np.float64)
        self.sigma2 = fit.sigma**2
        self.ZL = sp.csr_matrix(design.Z @ relative_factor(fit))
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


def relative_factor(fit: LinearFit) -> sp.csr_matrix:
    """Λθ̂ (q × q), block diagonal with each term's Tᵢ repeated per level, in Z's order."""
    lambdas = fit.devfun.lambdas(fit.record.final)
    blocks = [
        sp.kron(sp.eye(t.factor.n_levels), sp.csr_matrix(lam))
        for t, lam in zip(fit.design.terms, lambdas, strict=True)
    ]
    return sp.csr_matrix(sp.block_diag(blocks))


def _covariance_derivatives(fit: LinearFit) -> list[sp.csr_matrix]:
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


def kenward_roger(fit: LinearFit) -> _KenwardRoger:
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
    phi = symmetric_inverse(X.T @ VX)
    P, Q, traces = _kr_derivative_products(_covariance_derivatives(fit), A, B, VZ, VX, sigma_inv)
    k = len(P)
    info = np.empty((k, k))
    for i, j in itertools.product(range(k), range(k)):
        info[i, j] = 0.5 * (
            traces[i, j] - 2 * np.sum(phi * Q[i, j]) + np.sum((phi @ P[i]) * (phi @ P[j]).T)
        )
    W = symmetric_inverse(info)
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
