"""Cholesky factors of diagonal blocks: ``Diag`` for the blocked factorisation, and batched
closed forms for stacks of tiny level blocks.

A diagonal block that is not positive definite raises ``NotPositiveDefinite``: a signal
inside the solver, which the workspace turns into ``np.inf`` or ``np.linalg.LinAlgError``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from .._util.threads import wide_blas
from .blocks import Block, FloatArray, bd_sparse, to_dense

__all__ = ["Diag", "NotPositiveDefinite", "small_back_solve", "small_cholesky_solve"]


class NotPositiveDefinite(Exception):  # noqa: N818 (a signal, caught inside the solver)
    """A diagonal block met during the factorisation is not positive definite."""


@dataclass(frozen=True)
class Diag:
    """Cholesky factor of one diagonal block: a block-diagonal stack or a dense matrix."""

    L: FloatArray
    """(m, p, p) lower factors of the level blocks, or a dense (q, q) lower factor."""
    Linv: FloatArray | None
    """(m, p, p) inverses of the level factors (block-diagonal case only)."""

    @staticmethod
    def factor(U: FloatArray) -> Diag:
        """Factor a symmetric block; raises NotPositiveDefinite on failure."""
        if U.ndim == 2:
            # U.T is U's Fortran-ordered view: its upper triangle is U's lower one (row >= col),
            # the only part read.  R'R = U with R upper, so L = R' (no copies).
            try:
                with wide_blas(U.shape[0]):
                    R = sla.cholesky(U.T, lower=False, overwrite_a=True, check_finite=False)
            except np.linalg.LinAlgError as err:
                raise NotPositiveDefinite from err
            return Diag(np.asarray(R).T, None)
        if U.shape[1] == 1:
            if not np.all(U > 0.0):
                raise NotPositiveDefinite
            L = np.sqrt(U)
            return Diag(L, 1.0 / L)
        try:
            L = np.asarray(np.linalg.cholesky(U), dtype=np.float64)
        except np.linalg.LinAlgError as err:
            raise NotPositiveDefinite from err
        return Diag(L, np.asarray(np.linalg.inv(L), dtype=np.float64))

    def logdet2(self) -> float:
        """log det(L L')."""
        return 2.0 * float(np.sum(np.log(np.diagonal(self.L, axis1=-2, axis2=-1))))

    def right_solve(self, U: Block) -> Block:
        """U L⁻ᵀ (U is consumed)."""
        Linv = self.Linv
        if Linv is None:
            X = sla.solve_triangular(self.L, to_dense(U).T, lower=True, check_finite=False)
            return np.ascontiguousarray(X.T)
        m, p, _ = Linv.shape
        if not isinstance(U, np.ndarray):
            if p == 1:
                U.data *= Linv.ravel()[U.indices]
                return U
            return sp.csr_matrix(U @ bd_sparse(Linv.transpose(0, 2, 1)))
        if p == 1:
            U *= Linv.ravel()
            return U
        r = U.shape[0]
        X = np.einsum("rla,lba->rlb", U.reshape(r, m, p), Linv)
        return np.asarray(X, dtype=np.float64).reshape(r, m * p)

    def left_solve(self, B: Block) -> Block:
        """L⁻¹ B."""
        Linv = self.Linv
        if Linv is None:
            return np.asarray(
                sla.solve_triangular(self.L, to_dense(B), lower=True, check_finite=False)
            )
        if isinstance(B, np.ndarray):
            m, p, _ = Linv.shape
            return (Linv @ B.reshape(m, p, B.shape[1])).reshape(B.shape)
        return sp.csr_matrix(bd_sparse(Linv) @ B)

    def solve_t(self, v: FloatArray) -> FloatArray:
        """L⁻ᵀ v for a vector or matrix v."""
        Linv = self.Linv
        if Linv is None:
            x = sla.solve_triangular(self.L, v, lower=True, trans="T", check_finite=False)
            return np.asarray(x)
        m, p, _ = Linv.shape
        x = np.einsum("lba,lbc->lac", Linv, v.reshape(m, p, -1))
        return np.asarray(x, dtype=np.float64).reshape(v.shape)

    def inverse(self) -> Block:
        """L⁻¹ (CSR when block diagonal)."""
        if self.Linv is None:
            eye = np.eye(self.L.shape[0])
            return np.asarray(sla.solve_triangular(self.L, eye, lower=True, check_finite=False))
        return bd_sparse(self.Linv)

    def q_blocks(self, T: FloatArray) -> FloatArray:
        """Level blocks of Q = Λ (L L')⁻¹ Λ' = (T L⁻ᵀ)(T L⁻ᵀ)', shape (m, p, p)."""
        assert self.Linv is not None
        R = T @ self.Linv.transpose(0, 2, 1)
        return np.asarray(R @ R.transpose(0, 2, 1))


def small_cholesky_solve(A: FloatArray, B: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Batched L with L L' = A[l] and C = L⁻¹ B[l], for (m, p, p) A and (m, p, k) B; closed
    forms for p = 1 and 2 (LAPACK's per-matrix overhead dominates such tiny blocks).
    Raises LinAlgError when a block is not positive definite."""
    p = A.shape[1]
    if p > 2:
        full = np.asarray(np.linalg.cholesky(A), dtype=np.float64)
        return full, np.ascontiguousarray(np.linalg.solve(full, B), dtype=np.float64)
    if not np.all(A[:, 0, 0] > 0):
        raise np.linalg.LinAlgError("not positive definite")
    L: FloatArray = np.zeros_like(A)
    L[:, 0, 0] = np.sqrt(A[:, 0, 0])
    C = np.empty(B.shape)  # C-ordered whatever B's layout: its rows are read as one matrix
    C[:, 0] = B[:, 0] / L[:, 0, 0, None]
    if p == 2:
        L[:, 1, 0] = A[:, 1, 0] / L[:, 0, 0]
        rest = A[:, 1, 1] - L[:, 1, 0] ** 2
        if not np.all(rest > 0):
            raise np.linalg.LinAlgError("not positive definite")
        L[:, 1, 1] = np.sqrt(rest)
        C[:, 1] = (B[:, 1] - L[:, 1, 0, None] * C[:, 0]) / L[:, 1, 1, None]
    return L, C


def small_back_solve(L: FloatArray, rhs: FloatArray) -> FloatArray:
    """x[l] with L[l]' x[l] = rhs[l] for lower (m, p, p) L and (m, p) rhs; closed forms for
    p = 1 and 2."""
    p = L.shape[1]
    if p == 1:
        return np.asarray(rhs / L[:, :, 0], dtype=np.float64)
    if p > 2:
        solved = np.linalg.solve(L.transpose(0, 2, 1), rhs[:, :, None])[:, :, 0]
        return np.asarray(solved, dtype=np.float64)
    x = np.empty_like(rhs)
    x[:, 1] = rhs[:, 1] / L[:, 1, 1]
    x[:, 0] = (rhs[:, 0] - L[:, 1, 0] * x[:, 1]) / L[:, 0, 0]
    return x
