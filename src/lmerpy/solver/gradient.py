"""The exact gradient of the criterion when every term is scalar (Λ_k = θ_k I).

With M = Λ'Z'WZΛ + I, u the spherical modes, r² the pwrss, R_X and W = M⁻¹Λ'Z'WX, the
partial derivative in θ_k is

    (2 / θ_k) [q_k - tr_k(M⁻¹) - d ||u_k||² / r² - ||W_k R_X⁻¹||²]

(d = n - p for REML, n for ML; the last term only for REML; 0 where θ_k = 0, the criterion
being even in θ_k).  tr_k(M⁻¹) comes from a dense inverse of the trailing terms' factor and
the first term's diagonal block.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np
import scipy.linalg as sla

from .._util.threads import wide_blas
from .blocked import BlockedFactor, factorise_blocked
from .blocks import FloatArray, gram, scale_columns, to_dense
from .dense import factorise_one_term
from .diagonal import NotPositiveDefinite
from .factor import criterion, decompose, fixed_effects
from .plan import Plan

__all__ = ["GRADIENT_MAX_REST", "has_gradient", "objective_gradient"]

GRADIENT_MAX_REST = 4000
"""Most levels the terms after the first may have together for the analytic gradient (it
inverts their factor densely)."""


class _Parts(NamedTuple):
    """What the gradient reads from a factor."""

    value: float
    traces: FloatArray
    """tr_k(M⁻¹) for each term."""
    u: list[FloatArray]
    W: list[FloatArray]
    RX: FloatArray
    pwrss: float


def has_gradient(plan: Plan) -> bool:
    """Whether `objective_gradient` is available: every term is scalar and the terms after
    the first have at most GRADIENT_MAX_REST levels together."""
    return all(p == 1 for p in plan.dims) and sum(plan.levels[1:]) <= GRADIENT_MAX_REST


def objective_gradient(
    plan: Plan, theta: FloatArray, reml: bool, n: int, sum_log_w: float
) -> tuple[float, FloatArray]:
    """The criterion at Λ_k = θ_k I and its gradient in θ (np.inf and NaNs where the system
    is not positive definite)."""
    nan = np.full(theta.size, np.nan)
    try:
        parts = _parts(plan, theta, reml, n, sum_log_w)
    except NotPositiveDefinite:
        return np.inf, nan
    u_sq = np.array([float(uk @ uk) for uk in parts.u])
    w_sq = np.zeros(theta.size)
    if reml and plan.p:
        RX = parts.RX
        w_sq = np.array([np.sum(sla.solve_triangular(RX, Wk.T, trans="T") ** 2) for Wk in parts.W])
    dof = n - plan.p if reml else n
    q = np.asarray(plan.levels, dtype=np.float64)
    slope = 2.0 * (q - parts.traces - dof * u_sq / parts.pwrss - w_sq)
    grad = np.divide(slope, theta, out=np.zeros_like(theta), where=theta > 0)
    return (parts.value, grad) if np.isfinite(parts.value) else (np.inf, nan)


def _parts(plan: Plan, theta: FloatArray, reml: bool, n: int, sum_log_w: float) -> _Parts:
    """A single term's parts from its level factors, whatever its route.  Several terms' from
    the blocked factor, whatever their route: the traces read the first term's diagonal factor
    as level blocks and the precomputed fill-in maps, which the small dense route does not
    keep."""
    if plan.n_terms == 1:
        return _one_term_parts(plan, float(theta[0]), reml, n, sum_log_w)
    f = factorise_blocked(plan, [t.reshape(1, 1) for t in theta])
    traces = _inverse_traces(plan, f, theta)
    head = decompose(f, n, sum_log_w, reml)
    u = f.modes(head.beta)
    p, K = plan.p, plan.n_terms
    W = f.back_substitute([to_dense(f.off[(K, k)])[:p, :].T for k in range(K)])
    return _Parts(head.objective, traces, u, W, head.RX, head.pwrss)


def _one_term_parts(plan: Plan, theta: float, reml: bool, n: int, sum_log_w: float) -> _Parts:
    """(criterion, tr(M⁻¹), u, W, R_X, r²) of a one-term scalar model."""
    f = factorise_one_term(plan, np.array([[theta]]))
    C, Lxy, p = f.C, f.Lxy, plan.p
    Ld = f.L[:, 0, 0]
    RX, beta = fixed_effects(Lxy)
    u = (C[:, 0, p] - C[:, 0, :p] @ beta) / Ld
    W = C[:, 0, :p] / Ld[:, None]
    traces = np.array([float(np.sum(1.0 / Ld**2))])
    value = criterion(f.ldL2, Lxy, n, sum_log_w, reml)
    return _Parts(value, traces, [u], [W], RX, float(Lxy[p, p]) ** 2)


def _inverse_traces(plan: Plan, f: BlockedFactor, theta: FloatArray) -> FloatArray:
    """tr_k(M⁻¹) for each scalar term k.  With M's trailing terms R (all but the first,
    whose factor L_00 is diagonal), (M⁻¹)_RR = (L_RR L_RR')⁻¹ =: Z and
    diag (M⁻¹)_00 = (1 + diag(L_R0' Z L_R0)) / L_00²."""
    K = plan.n_terms
    edges = np.cumsum([0, *plan.levels[1:]])
    blocks = [slice(int(a), int(b)) for a, b in itertools.pairwise(edges)]
    Z = _trailing_inverse(f, blocks)
    diag = np.diagonal(Z)
    traces = np.array([0.0, *(float(np.sum(diag[b])) for b in blocks)])
    inv_sq = 1.0 / f.diag[0].L.ravel() ** 2  # L_00⁻², the first term's diagonal factor
    traces[0] = float(np.sum(inv_sq))
    for j in range(1, K):
        for i in range(1, j + 1):
            if 0 not in plan.structure.contributors[(j, i)]:
                continue
            weight = 1.0 if i == j else 2.0  # Z_ji and its mirror Z_ij
            Z_ji = Z[blocks[j - 1], blocks[i - 1]]  # only row >= col is set when i == j
            traces[0] += weight * _first_term_gram_dot(plan, f, j, i, Z_ji, theta, inv_sq)
    return traces


def _trailing_inverse(f: BlockedFactor, blocks: list[slice]) -> FloatArray:
    """(L_RR L_RR')⁻¹ for the terms after the first, its lower triangle (row >= col) set;
    raises NotPositiveDefinite."""
    L_RR = np.zeros((blocks[-1].stop,) * 2)
    for k in range(1, len(blocks) + 1):
        Lkk = f.diag[k].L
        if Lkk.ndim == 3:
            np.fill_diagonal(L_RR[blocks[k - 1], blocks[k - 1]], Lkk.ravel())
        else:
            L_RR[blocks[k - 1], blocks[k - 1]] = Lkk
        for i in range(1, k):
            if (k, i) in f.off:
                L_RR[blocks[k - 1], blocks[i - 1]] = to_dense(f.off[(k, i)])
    # L_RR' is L_RR's Fortran-ordered view: LAPACK inverts U'U = L_RR L_RR' in place and
    # leaves the upper triangle of the view, Z's lower triangle (row >= col) here.
    with wide_blas(L_RR.shape[0]):
        Zt, info = sla.lapack.dpotri(L_RR.T, lower=0, overwrite_c=1)
    if info != 0:
        raise NotPositiveDefinite
    return np.asarray(Zt.T)


def _first_term_gram_dot(
    plan: Plan,
    f: BlockedFactor,
    j: int,
    i: int,
    Z_ji: FloatArray,
    theta: FloatArray,
    inv_sq: FloatArray,
) -> float:
    """⟨Z_ji, L_j0 L_00⁻² L_i0'⟩: through the precomputed fill-in map of (j, i) where
    there is one (L_k0 = θ_k θ_0 S_k0 L_00⁻¹), else a product of the factor blocks."""
    pp = plan.products.get((j, i, 0))
    if pp is None:
        if i == j:
            Z_ji = np.tril(Z_ji) + np.tril(Z_ji, -1).T
        Lj = scale_columns(f.off[(j, 0)], inv_sq)
        return float(np.sum(Z_ji * to_dense(gram(Lj, f.off[(i, 0)]))))
    G = pp.matrix @ (inv_sq * inv_sq)
    z = Z_ji[pp.rows, pp.cols]
    if pp.symmetric:  # only row >= col kept: the rest are mirror images
        z = np.where(pp.rows == pp.cols, z, 2.0 * z)
    return float(theta[j] * theta[i] * theta[0] ** 2 * (G @ z))
