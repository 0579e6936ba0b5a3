"""Two shortcuts to L where the blocked machinery's bookkeeping would dominate: a model with
one term (the commonest) in batched numpy calls over its level blocks, and a small model of
several terms in one dense Cholesky factorisation of the whole matrix.

Each gives what the blocked factor gives (`factor.Factor`): log|L|², the [X y] block's
factor, the spherical modes and the conditional variances.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
from scipy.linalg.lapack import dpotrf, dtrtrs

from .blocks import FloatArray, dense_from_blocks, to_dense
from .diagonal import Diag, NotPositiveDefinite, small_back_solve, small_cholesky_solve
from .plan import Plan

__all__ = ["DenseFactor", "LevelFactor", "factorise_dense", "factorise_one_term"]


@dataclass(frozen=True)
class LevelFactor:
    """L of a one-term model, level by level."""

    L: FloatArray
    """(m, p, p) lower factors: L_l L_l' = T'Z_l'WZ_l T + I."""
    C: FloatArray
    """(m, p, p + 1): C_l = L_l⁻¹T'Z_l'W[X y], the [X y] row of L."""
    Lxy: FloatArray
    """The factor of the [X y] block, [R_X' 0; c_β' r]."""
    ldL2: float  # noqa: N815 (lme4's name)

    def modes(self, beta: FloatArray) -> list[FloatArray]:
        """Spherical modes u from L_l' u_l = c_l - C_l,X β."""
        p = self.Lxy.shape[0] - 1
        u = small_back_solve(self.L, self.C[:, :, p] - self.C[:, :, :p] @ beta)
        return [np.ascontiguousarray(u).ravel()]

    def relative_condvar(self, T: Sequence[FloatArray]) -> list[FloatArray]:
        """The level blocks of Λ(L L')⁻¹Λ' = (T L_l⁻ᵀ)(T L_l⁻ᵀ)'."""
        L = self.L
        Linv = 1.0 / L if L.shape[1] == 1 else np.asarray(np.linalg.inv(L), dtype=np.float64)
        return [Diag(L, Linv).q_blocks(T[0])]


def factorise_one_term(plan: Plan, T: FloatArray) -> LevelFactor:
    """L of a one-term model at template T in a handful of batched numpy calls; raises
    NotPositiveDefinite. The products with T are single BLAS calls over all levels at
    once ((levels · rows) × p times p × p), not per-level stacks."""
    D = plan.templates[(0, 0)]  # (levels, p, p) block diagonal of Z'WZ
    assert isinstance(D, np.ndarray) and D.ndim == 3
    m, p = D.shape[0], D.shape[1]
    xy_t = _level_xy_t(plan)  # (levels, p + 1, p): (Z_l'W[X y])'
    k = xy_t.shape[1]
    DT = (D.reshape(-1, p) @ T).reshape(m, p, p)  # D_l T
    A = (DT.transpose(0, 2, 1).reshape(-1, p) @ T).reshape(m, p, p)  # (D_l T)'T = T'D_l T
    A += np.eye(p)
    B = (xy_t.reshape(-1, p) @ T).reshape(m, k, p).transpose(0, 2, 1)  # T'Z_l'W[X y]
    try:
        L, C = small_cholesky_solve(A, B)
        rows = C.reshape(-1, k)
        Lxy = np.linalg.cholesky(plan.templates[(1, 1)] - rows.T @ rows)
    except np.linalg.LinAlgError as err:
        raise NotPositiveDefinite from err
    ldL2 = 2.0 * float(np.sum(np.log(np.diagonal(L, axis1=1, axis2=2))))
    return LevelFactor(L, C, np.asarray(Lxy, dtype=np.float64), ldL2)


def _level_xy_t(plan: Plan) -> FloatArray:
    """(Z_l'W[X y])' per level, (levels, p + 1, p) (kept on the plan until it is refilled)."""
    if plan.level_xy is None:
        D = plan.templates[(0, 0)]
        m, p = D.shape[0], D.shape[1]
        xy = to_dense(plan.templates[(1, 0)])
        plan.level_xy = np.ascontiguousarray(xy.reshape(-1, m, p).transpose(1, 0, 2))
    return plan.level_xy


@dataclass(frozen=True)
class DenseFactor:
    """L of a small model as one dense lower-triangular matrix, random effects first."""

    L: FloatArray
    Lxy: FloatArray
    """The factor of the [X y] block, [R_X' 0; c_β' r] (L's trailing block)."""
    levels: Sequence[int]
    dims: Sequence[int]
    ldL2: float  # noqa: N815 (lme4's name)

    def modes(self, beta: FloatArray) -> list[FloatArray]:
        """Spherical modes u, term by term, from L_Z' u = c_u - L_XZ' β."""
        p = self.Lxy.shape[0] - 1
        q = self.L.shape[0] - p - 1
        LXZ = self.L[q:, :q]
        rhs = LXZ[p] - LXZ[:p].T @ beta
        # LAPACK directly: scipy's solve_triangular costs 12 µs more a call, PIRLS's modes
        # on a model as small as cbpp call it ~260 times a fit
        u, info = dtrtrs(self.L[:q, :q], rhs, lower=1, trans=1)
        if info != 0:  # a zero on the diagonal, which a factor from dpotrf does not have
            raise np.linalg.LinAlgError("the random effects' factor is singular")
        sizes = (m * d for m, d in zip(self.levels, self.dims, strict=True))
        edges = [0, *itertools.accumulate(sizes)]
        return [u[a:b] for a, b in itertools.pairwise(edges)]

    def relative_condvar(self, T: Sequence[FloatArray]) -> list[FloatArray]:
        """Per term, the level blocks of Λ(L_Z L_Z')⁻¹Λ'."""
        q = self.L.shape[0] - self.Lxy.shape[0]
        Linv = sla.solve_triangular(self.L[:q, :q], np.eye(q), lower=True, check_finite=False)
        G = Linv.T @ Linv
        out, start = [], 0
        for Tk, m, p in zip(T, self.levels, self.dims, strict=True):
            idx = start + np.arange(m * p).reshape(m, p)
            out.append(Tk @ G[idx[:, :, None], idx[:, None, :]] @ Tk.T)
            start += m * p
        return out


def factorise_dense(plan: Plan, T: Sequence[FloatArray]) -> DenseFactor:
    """L of the whole matrix [Λ'Z'WZΛ + I, Λ'Z'W[X y]; ., [X y]'W[X y]] from one dense
    Cholesky factorisation; raises NotPositiveDefinite.

    With Λ̃ = diag(Λ, I) that matrix is Λ̃'AΛ̃ plus I on the random effects' diagonal, A the
    unscaled cross-products. Λ is block diagonal, so each term scales its columns, then its
    rows, of A by its template alone (O(N² p) for N = q + p + 1, not the O(N³) of dense
    products), and one LAPACK call factors the result."""
    A = dense_cross_products(plan)
    size, q = A.shape[0], plan.q
    full = A.copy()
    start = 0
    for Tk, m, p in zip(T, plan.levels, plan.dims, strict=True):
        block = slice(start, start + m * p)
        if p == 1:
            full[:, block] *= Tk[0, 0]
            full[block, :] *= Tk[0, 0]
        else:
            full[:, block] = (full[:, block].reshape(size, m, p) @ Tk).reshape(size, m * p)
            full[block, :] = (Tk.T @ full[block, :].reshape(m, p, size)).reshape(m * p, size)
        start += m * p
    full.flat[: q * (size + 1) : size + 1] += 1.0  # the random effects' diagonal
    L, info = dpotrf(full, lower=1, clean=1, overwrite_a=1)
    if info != 0:
        raise NotPositiveDefinite
    ldL2 = 2.0 * float(np.log(L.diagonal()[:q]).sum())
    return DenseFactor(L, L[q:, q:], plan.levels, plan.dims, ldL2)


def dense_cross_products(plan: Plan) -> FloatArray:
    """[Z X y]'W[Z X y] as one dense matrix (kept on the plan until it is refilled)."""
    if plan.dense is None:
        sizes = [m * p for m, p in zip(plan.levels, plan.dims, strict=True)]
        edges = [0, *itertools.accumulate([*sizes, plan.p + 1])]
        A = np.zeros((edges[-1], edges[-1]))
        for (j, i), block in plan.templates.items():
            if isinstance(block, np.ndarray) and block.ndim == 3:
                dense = dense_from_blocks(block)
            else:
                dense = to_dense(block)
            A[edges[j] : edges[j + 1], edges[i] : edges[i + 1]] = dense
            A[edges[i] : edges[i + 1], edges[j] : edges[j + 1]] = dense.T
        plan.dense = A
    return plan.dense
