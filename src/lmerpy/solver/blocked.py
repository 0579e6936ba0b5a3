"""The blocked Cholesky factorisation (after MixedModels.jl's), and what reads it: the
spherical modes by back-substitution and the conditional variances.

The factorisation is left-looking.  Each block of L is its template scaled by Λ, minus the
fill-in from the columns to its left: through a precomputed map of Q_k (`fillin`), through
the [X y] row's products with Q_k, or from the factor blocks directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .blocks import (
    Block,
    FloatArray,
    Pair,
    add,
    bd_sparse,
    col_gram_blocks,
    copy_block,
    gram,
    matmul,
    row_gram_blocks,
    scalar_factor,
    scale,
    subtract,
    to_dense,
    transposed_times,
)
from .diagonal import Diag
from .plan import Plan

__all__ = ["BlockedFactor", "factorise_blocked"]

_MAX_SOLVE_BYTES = 2**29
"""Largest dense block the conditional variances of one term may allocate at once."""


@dataclass(frozen=True)
class BlockedFactor:
    """L in blocks: one block row and column per term, and a last one for [X y]."""

    diag: list[Diag]
    """Factored diagonal blocks; the last one is the [X y] block [R_X' 0; c_β' r]."""
    off: dict[Pair, Block]
    """Non-zero blocks L[j, i], j > i (j = K is the [X y] block row, (p + 1) × q_i)."""
    levels: Sequence[int]
    dims: Sequence[int]
    ldL2: float  # noqa: N815 (lme4's name)
    """log det(Λ'Z'WZΛ + I)."""

    @property
    def Lxy(self) -> FloatArray:
        """The factor of the [X y] block, [R_X' 0; c_β' r]."""
        return self.diag[-1].L

    def modes(self, beta: FloatArray) -> list[FloatArray]:
        """Spherical modes u, term by term, from L_Z' u = c_u - L_XZ' β."""
        K, p = len(self.dims), self.Lxy.shape[0] - 1
        rhs = []
        for k in range(K):
            LK = to_dense(self.off[(K, k)])
            rhs.append(LK[p, :] - LK[:p, :].T @ beta)
        return self.back_substitute(rhs)

    def back_substitute(self, rhs: list[FloatArray]) -> list[FloatArray]:
        """x with L_Z' x = rhs, term by term from the last (rhs[k]: vector or matrix)."""
        K = len(self.dims)
        x: list[FloatArray] = [np.zeros(0)] * K
        for k in reversed(range(K)):
            r = rhs[k]
            for j in range(k + 1, K):
                if (j, k) in self.off:
                    r = r - transposed_times(self.off[(j, k)], x[j])
            x[k] = self.diag[k].solve_t(r)
        return x

    def relative_condvar(self, T: Sequence[FloatArray]) -> list[FloatArray]:
        """Per term, the level blocks of Λ(L_Z L_Z')⁻¹Λ'."""
        return [Tk @ self._inverse_col_gram(k) @ Tk.T for k, Tk in enumerate(T)]

    def _inverse_col_gram(self, k: int) -> FloatArray:
        """Level blocks of (L_Z L_Z')⁻¹ for term k: the blocks of M' M, M = L_Z⁻¹[:, term k].

        A block-diagonal term whose columns of M below it would make a dense block larger
        than _MAX_SOLVE_BYTES (a term with many levels crossed with another) is done a slice
        of its levels at a time, so memory stays bounded; the numbers are the same."""
        p, m = self.dims[k], self.levels[k]
        below = sum(q * d for q, d in zip(self.levels[k + 1 :], self.dims[k + 1 :], strict=True))
        per_level = 8 * p * max(below, 1)
        Linv = self.diag[k].Linv
        if Linv is None or per_level * m <= _MAX_SOLVE_BYTES:
            return self._col_gram_of(k, self.diag[k].inverse())
        step = max(1, _MAX_SOLVE_BYTES // per_level)
        parts = []
        for start in range(0, m, step):
            end = min(m, start + step)
            Mk = bd_sparse(Linv[start:end])  # columns of L_kk⁻¹ for levels start..end
            above = sp.csr_matrix((start * p, Mk.shape[1]))
            below_rows = sp.csr_matrix(((m - end) * p, Mk.shape[1]))
            columns = sp.csr_matrix(sp.vstack([above, Mk, below_rows]))
            parts.append(self._col_gram_of(k, columns))
        return np.concatenate(parts)

    def _col_gram_of(self, k: int, Mk: Block) -> FloatArray:
        """The level blocks of M' M for the columns Mk of L_kk⁻¹ (and what they give below)."""
        K, p = len(self.dims), self.dims[k]
        M: dict[int, Block] = {k: Mk}
        G = col_gram_blocks(M[k], p)
        for i in range(k + 1, K):
            acc: Block | None = None
            for t in range(k, i):
                if (i, t) in self.off and t in M:
                    term = matmul(self.off[(i, t)], M[t])
                    acc = term if acc is None else add(acc, term)
            if acc is None:
                continue
            Mi = -self.diag[i].left_solve(acc)
            M[i] = Mi
            G = G + col_gram_blocks(Mi, p)
        return G


def factorise_blocked(plan: Plan, T: Sequence[FloatArray]) -> BlockedFactor:
    """Blocked, left-looking Cholesky factorisation at the templates T of Λ's blocks;
    raises NotPositiveDefinite."""
    K = plan.n_terms
    Ts: list[FloatArray | None] = [*T, None]  # the [X y] block is not scaled
    diag: list[Diag] = []
    off: dict[Pair, Block] = {}
    q_flat: dict[int, FloatArray] = {}
    xy_q: dict[int, FloatArray] = {}
    for i in range(K + 1):
        Dii = _assemble(plan, i, i, Ts, q_flat, xy_q, off)
        D = Diag.factor(np.ascontiguousarray(to_dense(Dii)))
        diag.append(D)
        for j in plan.structure.rows_below(i):
            off[(j, i)] = D.right_solve(_assemble(plan, j, i, Ts, q_flat, xy_q, off))
        if i in plan.q_needed:
            Ti = Ts[i]
            assert Ti is not None
            Q = D.q_blocks(Ti)
            q_flat[i] = Q.ravel()
            xy = to_dense(plan.templates[(K, i)])
            m, p = Q.shape[0], Q.shape[1]
            xy_q[i] = np.einsum("rla,lab->rlb", xy.reshape(-1, m, p), Q).reshape(xy.shape)
    ldL2 = float(sum(d.logdet2() for d in diag[:-1]))
    return BlockedFactor(diag, off, plan.levels, plan.dims, ldL2)


def _assemble(
    plan: Plan,
    j: int,
    i: int,
    T: list[FloatArray | None],
    q_flat: dict[int, FloatArray],
    xy_q: dict[int, FloatArray],
    off: dict[Pair, Block],
) -> Block:
    """Block (j, i) of the matrix to factor, minus the fill-in from columns k < i."""
    K = plan.n_terms
    s = scalar_factor(T[j], T[i])
    template = plan.templates[(j, i)]
    work = plan.scratch.get((j, i))  # one scratch block per block: no allocations
    if work is None or work.shape != template.shape:
        work = plan.scratch[(j, i)] = template.copy()
    U, buffer = copy_block(template, 1.0 if s is None else s, work)
    inflow = plan.inflow[(j, i)]
    for k, gmap in inflow.maps:
        gmap.apply(buffer, q_flat[k], 1.0 if s is None else s)
    for k, Sik in inflow.xy:
        assert isinstance(U, np.ndarray)
        G = gram(xy_q[k], Sik) if i == K else np.asarray(Sik @ xy_q[k].T).T
        U -= to_dense(G) if s is None else s * to_dense(G)
    if s is None:
        U = scale(U, T[j], T[i])
    if j == i < K:
        assert isinstance(U, np.ndarray)
        if U.ndim == 3:
            U += np.eye(U.shape[1])
        else:
            U.flat[:: U.shape[0] + 1] += 1.0
    for k in inflow.generic:
        if j == i and U.ndim == 3:
            assert isinstance(U, np.ndarray)
            U -= row_gram_blocks(off[(i, k)], plan.dims[i])
        else:
            U = subtract(U, gram(off[(j, k)], off[(i, k)]))
    return U
