"""Penalized least squares (PLS) workspace for linear mixed models.

Implements the profiled deviance and REML criterion of Bates, Mächler, Bolker & Walker
(2015, *J. Stat. Softw.* 67(1), sections 3.2-3.6).  For a relative covariance factor Λθ the
symmetric matrix

    [ Λ'Z'WZΛ + I     Λ'Z'W[X y]   ]
    [ [X y]'WZΛ       [X y]'W[X y] ]

is factored as L L' with L lower triangular and partitioned into blocks: one block row and
column per random-effects term (in the caller's order) and a last one for [X y].  The last
diagonal block of L is [R_X' 0; c_β' r] with r² the penalized weighted residual sum of squares.

Design (after MixedModels.jl's blocked Cholesky):

* All data-sized work happens once, in the constructor: the blocks of [Z X y]'W[Z X y] are
  formed from the grouping codes.  An evaluation only scales these blocks by Λ and factors them.
* A diagonal block of term i is stored as an (n_levels, p, p) stack of its level blocks while
  nothing above it fills it in (always true for the first term, and for nested terms);
  otherwise as a dense matrix.  Off-diagonal term blocks are CSR while sparse, dense once a
  dense diagonal block to their left makes them so.  Blocks of the [X y] row are dense.
* The factorisation is left-looking.  When L[j,k] and L[i,k] have received no fill-in and the
  diagonal block k is block diagonal, L[j,k] L[i,k]' = Λ_j' S_jk Q_k S_ik' Λ_i with
  Q_k = Λ_k (L_kk L_kk')⁻¹ Λ_k' block diagonal and S the unscaled cross products.  The entries of
  S_jk Q_k S_ik' are a fixed sparse linear map of the entries of Q_k, precomputed once
  (`_GramMap`), so this fill-in costs one sparse mat-vec per evaluation instead of a
  sparse-sparse product.  All other fill-in is computed from the factor blocks directly.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from numpy.typing import NDArray

from ..errors import ModelTooLargeError
from .crossprod import (
    BlockProducts,
    ReBlock,
    diag_cross,
    level_pairs,
    lhs_products,
    weighted,
    z_matrix,
)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
__all__ = ["PlsCriterion", "PlsSolution", "PlsWorkspace", "ReBlock"]
Block = FloatArray | sp.csr_matrix
"""A matrix block: dense 2-D, block-diagonal (n_levels, p, p) stack, or CSR."""

MAX_DENSE_BYTES = 2**30
"""Largest total size of the dense diagonal blocks of L a workspace may allocate (a 1 GiB
block, 11,585 effects square, already takes tens of seconds per Cholesky factorisation)."""

DENSE_FILL = 0.25
"""An off-diagonal block filled more than this is stored dense (BLAS beats sparse there)."""

_MAX_SOLVE_BYTES = 2**29
"""Largest dense block the conditional variances of one term may allocate at once."""

GRADIENT_MAX_REST = 4000
"""Most levels the terms after the first may have together for the analytic gradient (it
inverts their factor densely)."""

SMALL_DENSE = 100
"""Models of several terms with at most this many random effects evaluate the objective from
one dense factorisation (Penicillin, 30: 105 µs against the blocked path's 257 µs; Pastes,
40: 126 against 238; a single term's batched path is as fast or faster: Exam's 130, 146 µs
against 592)."""

_MAX_MAP_ENTRIES = 20_000_000
"""Largest precomputed fill-in map (stored non-zeros); larger fill-ins use sparse products."""


@dataclass(frozen=True)
class PlsSolution:
    """The PLS solution at a given Λθ (see `PlsWorkspace.solve`)."""

    beta: FloatArray
    """(p,) fixed-effects estimates."""
    u: FloatArray
    """(q,) spherical conditional modes."""
    b: FloatArray
    """(q,) conditional modes Λu (terms in order, each level-major)."""
    pwrss: float
    """Penalized weighted residual sum of squares."""
    ldL2: float  # noqa: N815 (lme4 name)
    """log det(Λ'Z'WZΛ + I)."""
    ldRX2: float  # noqa: N815 (lme4 name)
    """log det(R_X'R_X)."""
    sigma: float
    """Residual standard deviation (divisor n - p for REML, n for ML)."""
    RX: FloatArray
    """(p, p) upper triangular; vcov(β) = σ² RX⁻¹ RX⁻ᵀ."""
    objective: float
    """REML criterion or ML deviance (as `PlsWorkspace.objective`)."""
    condvar: list[FloatArray] | None
    """Per term, (n_levels, p_i, p_i) conditional covariances of b for each level (None when
    not asked for: they can cost more than the fit, see `PlsWorkspace.conditional_variances`)."""
    fitted: FloatArray
    """(n,) Xβ + Zb + offset (empty for a workspace built from cross-products)."""


@dataclass(frozen=True)
class PlsCriterion:
    """The criterion at Λθ with its parts, R_X and β̂: everything but the conditional modes
    and variances (see `PlsWorkspace.decompose`)."""

    objective: float
    ldL2: float  # noqa: N815 (lme4's name)
    ldRX2: float  # noqa: N815 (lme4's name)
    pwrss: float
    beta: FloatArray
    RX: FloatArray


class _NotPositiveDefiniteError(Exception):
    """A diagonal block met during the factorisation is not positive definite."""


# ---------------------------------------------------------------------------------------------
# Small block-algebra helpers
# ---------------------------------------------------------------------------------------------


def _to_dense(A: Block) -> FloatArray:
    if isinstance(A, np.ndarray):
        return A
    return np.asarray(A.toarray(), dtype=np.float64)


def _size(A: Block) -> int:
    return int(A.shape[0]) * int(A.shape[1])


def _bd_sparse(D: FloatArray) -> sp.csr_matrix:
    """Block-diagonal matrix with diagonal blocks D[l] (D has shape (m, p, p)) as CSR."""
    m, p, _ = D.shape
    bsr = sp.bsr_matrix(
        (np.ascontiguousarray(D), np.arange(m), np.arange(m + 1)), shape=(m * p, m * p)
    )
    return sp.csr_matrix(bsr)


def _gram(A: Block, B: Block) -> Block:
    """A @ B.T for dense or CSR operands."""
    if isinstance(A, np.ndarray):
        if isinstance(B, np.ndarray):
            return A @ B.T
        return np.asarray((B @ A.T).T)
    if isinstance(B, np.ndarray):
        return np.asarray(A @ B.T)
    return sp.csr_matrix(A @ B.T)


def _matmul(A: Block, B: Block) -> Block:
    """A @ B for dense or CSR operands."""
    if isinstance(A, np.ndarray):
        if isinstance(B, np.ndarray):
            return A @ B
        return np.asarray((B.T @ A.T).T)
    if isinstance(B, np.ndarray):
        return np.asarray(A @ B)
    return sp.csr_matrix(A @ B)


def _subtract(U: Block, G: Block) -> Block:
    """U - G, in place when U is dense (U must be owned by the caller)."""
    if isinstance(U, np.ndarray):
        U -= _to_dense(G)
        return U
    if isinstance(G, np.ndarray):
        return _to_dense(U) - G
    return sp.csr_matrix(U - G)


def _add(U: Block, G: Block) -> Block:
    """U + G for dense or CSR operands (a new block)."""
    if isinstance(U, np.ndarray) or isinstance(G, np.ndarray):
        return _to_dense(U) + _to_dense(G)
    return sp.csr_matrix(U + G)


def _small_cholesky_solve(A: FloatArray, B: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Batched L with L L' = A[l] and C = L⁻¹ B[l], for (m, p, p) A and (m, p, k) B; closed
    forms for p = 1 and 2 (LAPACK's per-matrix overhead dominates such tiny blocks).
    Raises LinAlgError when a block is not positive definite."""
    p = A.shape[1]
    if p > 2:
        full = np.asarray(np.linalg.cholesky(A), dtype=np.float64)
        return full, np.asarray(np.linalg.solve(full, B), dtype=np.float64)
    if not np.all(A[:, 0, 0] > 0):
        raise np.linalg.LinAlgError("not positive definite")
    L: FloatArray = np.zeros_like(A)
    L[:, 0, 0] = np.sqrt(A[:, 0, 0])
    C = np.empty_like(B)
    C[:, 0] = B[:, 0] / L[:, 0, 0, None]
    if p == 2:
        L[:, 1, 0] = A[:, 1, 0] / L[:, 0, 0]
        rest = A[:, 1, 1] - L[:, 1, 0] ** 2
        if not np.all(rest > 0):
            raise np.linalg.LinAlgError("not positive definite")
        L[:, 1, 1] = np.sqrt(rest)
        C[:, 1] = (B[:, 1] - L[:, 1, 0, None] * C[:, 0]) / L[:, 1, 1, None]
    return L, C


def _small_back_solve(L: FloatArray, rhs: FloatArray) -> FloatArray:
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


def _transposed_times(A: Block, v: FloatArray) -> FloatArray:
    """A' v for a vector or matrix v, without forming A' for a vector (scipy would build a
    new matrix object for it)."""
    if isinstance(A, np.ndarray):
        return np.asarray(A.T @ v)
    if v.ndim == 2:
        return np.asarray(A.T @ v)
    A = A if A.format == "csr" else sp.csr_matrix(A)  # scipy may hand back another format
    per_entry = np.repeat(v, np.diff(A.indptr)) * A.data
    return np.bincount(A.indices, per_entry, minlength=A.shape[1]).astype(np.float64)


def _scale_columns(A: Block, d: FloatArray) -> Block:
    """A diag(d) (a new block)."""
    if isinstance(A, np.ndarray):
        return A * d
    A = A if A.format == "csr" else sp.csr_matrix(A)
    return sp.csr_matrix((A.data * d[A.indices], A.indices, A.indptr), shape=A.shape)


def _row_gram_blocks(A: Block, p: int) -> FloatArray:
    """Diagonal p×p blocks of A A' (rows of A grouped in consecutive runs of p), (m, p, p)."""
    m = A.shape[0] // p
    if isinstance(A, np.ndarray):
        A3 = A.reshape(m, p, A.shape[1])
        return np.asarray(A3 @ A3.transpose(0, 2, 1))
    A = A if A.format == "csr" else sp.csr_matrix(A)
    if p == 1:  # row sums of squares
        rows = np.repeat(np.arange(m), np.diff(A.indptr))
        return np.bincount(rows, A.data * A.data, minlength=m).astype(np.float64).reshape(m, 1, 1)
    out = np.empty((m, p, p))
    for a in range(p):
        for c in range(p):
            prod = A[a::p].multiply(A[c::p])
            out[:, a, c] = np.asarray(prod.sum(axis=1)).ravel()
    return out


def _col_gram_blocks(A: Block, p: int) -> FloatArray:
    """Diagonal p×p blocks of A'A (columns of A grouped in consecutive runs of p), (m, p, p)."""
    if isinstance(A, np.ndarray):
        return _row_gram_blocks(np.ascontiguousarray(A.T), p)
    return _row_gram_blocks(sp.csr_matrix(A.T), p)


def _scalar_factor(Tj: FloatArray | None, Ti: FloatArray | None) -> float | None:
    """The scalar s with Λ_j' U Λ_i = s U when both terms are scalar (None: identity), else None."""
    if (Tj is not None and Tj.shape[0] > 1) or (Ti is not None and Ti.shape[0] > 1):
        return None
    return (1.0 if Tj is None else float(Tj[0, 0])) * (1.0 if Ti is None else float(Ti[0, 0]))


def _scale(U: Block, Tj: FloatArray | None, Ti: FloatArray | None) -> Block:
    """Λ_j' U Λ_i, where Λ = I ⊗ T (None: identity).  A block-diagonal U needs Tj is Ti."""
    if isinstance(U, np.ndarray) and U.ndim == 3:
        assert Tj is not None
        if Tj.shape[0] == 1:
            U *= Tj[0, 0] ** 2
            return U
        return np.asarray(Tj.T @ U @ Tj)
    pj = 1 if Tj is None else Tj.shape[0]
    pi = 1 if Ti is None else Ti.shape[0]
    if pj == 1 and pi == 1:
        s = (1.0 if Tj is None else Tj[0, 0]) * (1.0 if Ti is None else Ti[0, 0])
        if isinstance(U, np.ndarray):
            U *= s
        else:
            U.data *= s
        return U
    if isinstance(U, np.ndarray):
        r, c = U.shape
        if Ti is not None:
            U = (U.reshape(r, c // pi, pi) @ Ti).reshape(r, c)
        if Tj is not None:
            U = (Tj.T @ U.reshape(r // pj, pj, c)).reshape(r, c)
        return np.ascontiguousarray(U)
    if Ti is not None:
        U = U @ _bd_sparse(np.broadcast_to(Ti, (U.shape[1] // pi, pi, pi)))
    if Tj is not None:
        U = _bd_sparse(np.broadcast_to(Tj.T, (U.shape[0] // pj, pj, pj))) @ U
    return sp.csr_matrix(U)


# ---------------------------------------------------------------------------------------------
# Factored diagonal blocks
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Diag:
    """Cholesky factor of one diagonal block: a block-diagonal stack or a dense matrix."""

    L: FloatArray
    """(m, p, p) lower factors of the level blocks, or a dense (q, q) lower factor."""
    Linv: FloatArray | None
    """(m, p, p) inverses of the level factors (block-diagonal case only)."""

    @staticmethod
    def factor(U: FloatArray) -> _Diag:
        """Factor a symmetric block; raises _NotPositiveDefiniteError on failure."""
        if U.ndim == 2:
            # U.T is U's Fortran-ordered view: its upper triangle is U's lower one (row >= col),
            # the only part read.  R'R = U with R upper, so L = R' (no copies).
            try:
                R = sla.cholesky(U.T, lower=False, overwrite_a=True, check_finite=False)
            except np.linalg.LinAlgError as err:
                raise _NotPositiveDefiniteError from err
            return _Diag(np.asarray(R).T, None)
        if U.shape[1] == 1:
            if not np.all(U > 0.0):
                raise _NotPositiveDefiniteError
            L = np.sqrt(U)
            return _Diag(L, 1.0 / L)
        try:
            L = np.asarray(np.linalg.cholesky(U), dtype=np.float64)
        except np.linalg.LinAlgError as err:
            raise _NotPositiveDefiniteError from err
        return _Diag(L, np.asarray(np.linalg.inv(L), dtype=np.float64))

    def logdet2(self) -> float:
        """log det(L L')."""
        return 2.0 * float(np.sum(np.log(np.diagonal(self.L, axis1=-2, axis2=-1))))

    def right_solve(self, U: Block) -> Block:
        """U L⁻ᵀ (U is consumed)."""
        Linv = self.Linv
        if Linv is None:
            X = sla.solve_triangular(self.L, _to_dense(U).T, lower=True, check_finite=False)
            return np.ascontiguousarray(X.T)
        m, p, _ = Linv.shape
        if not isinstance(U, np.ndarray):
            if p == 1:
                U.data *= Linv.ravel()[U.indices]
                return U
            return sp.csr_matrix(U @ _bd_sparse(Linv.transpose(0, 2, 1)))
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
                sla.solve_triangular(self.L, _to_dense(B), lower=True, check_finite=False)
            )
        if isinstance(B, np.ndarray):
            m, p, _ = Linv.shape
            return (Linv @ B.reshape(m, p, B.shape[1])).reshape(B.shape)
        return sp.csr_matrix(_bd_sparse(Linv) @ B)

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
        return _bd_sparse(self.Linv)

    def q_blocks(self, T: FloatArray) -> FloatArray:
        """Level blocks of Q = Λ (L L')⁻¹ Λ' = (T L⁻ᵀ)(T L⁻ᵀ)', shape (m, p, p)."""
        assert self.Linv is not None
        R = T @ self.Linv.transpose(0, 2, 1)
        return np.asarray(R @ R.transpose(0, 2, 1))


# ---------------------------------------------------------------------------------------------
# Structure analysis (once, at construction)
# ---------------------------------------------------------------------------------------------


class _Full:
    """Level pattern marker for a block that is (treated as) fully dense."""


_FULL = _Full()
_Pattern = sp.csr_matrix | _Full


def _pattern_product(A: _Pattern, B: _Pattern) -> _Pattern | None:
    """Pattern of A B' (None when empty)."""
    if isinstance(A, _Full) or isinstance(B, _Full):
        return _FULL
    P = sp.csr_matrix(A @ B.T)
    P.eliminate_zeros()
    if P.nnz == 0:
        return None
    P.data[:] = 1.0
    return P


def _pattern_union(A: _Pattern | None, B: _Pattern) -> _Pattern:
    if A is None:
        return B
    if isinstance(A, _Full) or isinstance(B, _Full):
        return _FULL
    P = sp.csr_matrix(A + B)
    P.data[:] = 1.0
    return P


def _fills_off_diagonal(P: _Pattern, n_rows: int) -> bool:
    """Whether P P' has non-zeros off the diagonal (some column has two row levels)."""
    if isinstance(P, _Full):
        return n_rows > 1
    counts = np.diff(sp.csc_matrix(P).indptr)
    return bool(counts.size and counts.max() > 1)


@dataclass(frozen=True)
class _Structure:
    """Symbolic blocked factorisation at the granularity of grouping-factor levels.

    Block indices: terms 0..K-1, then K for [X y].  `contributors[(j, i)]` (j >= i) lists the
    columns k < i whose L[j,k] L[i,k]' is structurally non-zero.
    """

    n_terms: int
    dense_diag: tuple[bool, ...]
    nonzero: frozenset[tuple[int, int]]
    """Structurally non-zero off-diagonal term blocks (j, i), i < j < K."""
    contributors: dict[tuple[int, int], list[int]]

    def pristine(self, j: int, k: int) -> bool:
        """L[j,k] (j > k) is Λ-scaled data only: nothing to its left fills it in."""
        return not self.contributors[(j, k)]

    def rows_below(self, i: int) -> list[int]:
        K = self.n_terms
        rows = [j for j in range(i + 1, K) if (j, i) in self.nonzero]
        return [*rows, K] if i < K else rows


def _check_dense_size(n_levels: Sequence[int], dims: Sequence[int], st: _Structure) -> None:
    """Refuse, before allocating, a factorisation whose dense blocks exceed MAX_DENSE_BYTES."""
    sizes = [m * p for m, p in zip(n_levels, dims, strict=True)]
    dense = [(i, sizes[i]) for i in range(len(sizes)) if st.dense_diag[i]]
    total = sum(8 * q * q for _, q in dense)
    stacked = sum(8 * m * p**2 for m, p in zip(n_levels, dims, strict=True))
    if stacked > MAX_DENSE_BYTES:  # the per-level blocks alone: levels × columns²
        raise ModelTooLargeError(
            f"the random effects need {stacked / 2**30:.1f} GiB for their per-level blocks "
            f"(levels x columns² of each term); the limit is {MAX_DENSE_BYTES / 2**30:.0f} GiB: "
            "use fewer columns in the random terms with many levels"
        )
    free = _available_memory()
    short = free is not None and 2 * total > free  # the blocks and a working copy
    if total > MAX_DENSE_BYTES or short:
        worst, q = max(dense, key=lambda item: item[1])
        limit = (
            f"this machine has {free / 2**30:.1f} GiB available, and factoring needs about "
            "twice the blocks"
            if short and free is not None
            else f"the limit is {MAX_DENSE_BYTES / 2**30:.1f} GiB"
        )
        raise ModelTooLargeError(
            f"the random effects need dense blocks of {total / 2**30:.1f} GiB (term {worst + 1} "
            f"in lme4's order alone is {q} x {q}: {8 * q * q / 2**30:.1f} GiB); {limit}. "
            "Crossed grouping factors fill in the diagonal block of the factor placed second: "
            "lme4's order puts the factor with the most levels first, so the block is as small "
            "as it can be; fewer levels for the other factor, or nesting it in the first, keeps "
            "the blocks sparse. With the memory (about "
            f"{2 * total / 2**30:.1f} GiB), raise lmerpy.pls.MAX_DENSE_BYTES to fit anyway"
        )


def _available_memory() -> int | None:
    """Bytes of memory available to this process (None where the system does not say)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _analyse(n_levels: Sequence[int], pairs: Mapping[tuple[int, int], sp.csr_matrix]) -> _Structure:
    """Symbolic factorisation: which blocks are non-zero, dense, and who fills them in.
    ``pairs[(j, i)]`` (j > i) has a non-zero where levels of terms j and i share a row."""
    K = len(n_levels)
    pat: dict[tuple[int, int], _Pattern] = {}
    for (j, i), counts in pairs.items():
        if counts.nnz:
            P = sp.csr_matrix(counts, copy=True)
            P.data[:] = 1.0
            pat[(j, i)] = P
    contributors: dict[tuple[int, int], list[int]] = {
        (j, i): [] for j in range(K + 1) for i in range(j + 1)
    }
    dense_diag = [False] * K
    for k in range(K):
        if dense_diag[k]:
            for j in range(k + 1, K):
                if (j, k) in pat:
                    pat[(j, k)] = _FULL
        for j in range(k + 1, K):
            if (j, k) not in pat:
                continue
            contributors[(K, j)].append(k)
            contributors[(j, j)].append(k)
            if _fills_off_diagonal(pat[(j, k)], n_levels[j]):
                dense_diag[j] = True
            for i in range(k + 1, j):
                if (i, k) not in pat:
                    continue
                prod = _pattern_product(pat[(j, k)], pat[(i, k)])
                if prod is not None:
                    contributors[(j, i)].append(k)
                    pat[(j, i)] = _pattern_union(pat.get((j, i)), prod)
        contributors[(K, K)].append(k)
    return _Structure(K, tuple(dense_diag), frozenset(pat), contributors)


# ---------------------------------------------------------------------------------------------
# Precomputed fill-in maps
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PairProducts:
    """Entries of S_j Q S_i' as a sparse linear map of the (m, p, p) entries of Q."""

    rows: IntArray
    cols: IntArray
    matrix: sp.csr_matrix
    symmetric: bool
    """Only entries with row >= col are kept (S_j is S_i); the rest are their mirror images."""
    source_j: IntArray | None
    source_i: IntArray | None
    """matrix.data = S_j.data[source_j] * S_i.data[source_i] (CSR data of the S blocks), for
    new weights on the same patterns; None when not kept (they take 16 bytes an entry)."""

    def refresh(self, Sj: sp.csr_matrix, Si: sp.csr_matrix) -> None:
        """Recompute the coefficients from S blocks with new values on the same patterns."""
        assert self.source_j is not None and self.source_i is not None
        np.multiply(Sj.data[self.source_j], Si.data[self.source_i], out=self.matrix.data)


def _pair_products(
    Sj: sp.csr_matrix, Si: sp.csr_matrix, p: int, symmetric: bool, keep_source: bool
) -> _PairProducts | None:
    """Enumerate all products S_j[r, (l,a)] S_i[c, (l,b)] over common levels l of term k.

    Returns None when there are more than _MAX_MAP_ENTRIES of them (or none at all).
    """
    A = _csc_with_source(Sj)
    B = A if Si is Sj else _csc_with_source(Si)
    qk = A.shape[1]
    m = qk // p
    lev_ptr_a = A.indptr[::p].astype(np.int64)
    lev_ptr_b = B.indptr[::p].astype(np.int64)
    count_a, count_b = np.diff(lev_ptr_a), np.diff(lev_ptr_b)
    total = int(count_a @ count_b)
    if total == 0 or total > _MAX_MAP_ENTRIES * (2 if symmetric else 1):
        return None
    if symmetric and p == 1:  # each entry with those above it in its column: row >= col
        first = np.repeat(lev_ptr_a[:-1], count_a)
        ia, ib = _ragged_pairs(first, np.arange(A.nnz) - first + 1)
        r = A.indices[ia].astype(np.int64)
        c = B.indices[ib].astype(np.int64)
    else:
        level_a = np.repeat(np.arange(m), count_a)
        ia, ib = _ragged_pairs(lev_ptr_b[level_a], count_b[level_a])
        del level_a
        r = A.indices[ia].astype(np.int64)
        c = B.indices[ib].astype(np.int64)
        if symmetric:
            keep = r >= c
            ia, ib, r, c = ia[keep], ib[keep], r[keep], c[keep]
    col_a = np.repeat(np.arange(qk), np.diff(A.indptr))
    col_b = np.repeat(np.arange(qk), np.diff(B.indptr))
    q_index = col_a[ia] * p + col_b[ib] % p  # (l*p + a)*p + b
    n_cols = Si.shape[0]
    # Products come level by level (q_index ascending for each target entry), so a stable
    # sort by target entry leaves each CSR row sorted, every (entry, q_index) once.
    target = r * n_cols + c
    order = np.argsort(target, kind="stable")
    target = target[order]
    starts = np.flatnonzero(np.concatenate([[True], target[1:] != target[:-1]]))
    keys = target[starts]
    pos_j, pos_i = A.data.astype(np.int64), B.data.astype(np.int64)  # CSR positions in S
    values = (Sj.data[pos_j][ia] * Si.data[pos_i][ib])[order]  # small tables: cached gathers
    index = np.int32 if max(m * p * p, target.size) < 2**31 else np.int64
    matrix = sp.csr_matrix(
        (values, q_index[order].astype(index), np.append(starts, target.size).astype(index)),
        shape=(keys.size, m * p * p),
        copy=False,
    )
    rows, cols = keys // n_cols, keys % n_cols
    if not keep_source:
        return _PairProducts(rows, cols, matrix, symmetric, None, None)
    return _PairProducts(rows, cols, matrix, symmetric, pos_j[ia[order]], pos_i[ib[order]])


def _ragged_pairs(first: IntArray, count: IntArray) -> tuple[IntArray, IntArray]:
    """(a, b) for every a and each b in first[a] .. first[a] + count[a] - 1, a ascending."""
    a = np.repeat(np.arange(first.size), count)
    return a, first[a] + (np.arange(a.size) - np.repeat(np.cumsum(count) - count, count))


def _csc_with_source(S: sp.csr_matrix) -> sp.csc_matrix:
    """S's pattern in CSC order, its data the position of each entry in S.data."""
    positions = sp.csr_matrix(  # 1-based while converting: no entry is an explicit zero
        (np.arange(1, S.nnz + 1, dtype=np.float64), S.indices, S.indptr), shape=S.shape
    )
    C = sp.csc_matrix(positions)
    C.sort_indices()
    C.data -= 1.0
    return C


@dataclass(frozen=True)
class _GramMap:
    """A `_PairProducts` bound to positions in the flat buffer of a target block."""

    matrix: sp.csr_matrix
    index: IntArray
    mirror_index: IntArray
    mirror_select: IntArray

    def apply(self, buffer: FloatArray, q_flat: FloatArray, scale: float) -> None:
        """buffer -= scale * S_j Q S_i' on the map's entries."""
        g = self.matrix @ q_flat
        if scale != 1.0:
            g *= scale
        buffer[self.index] -= g
        if self.mirror_index.size:
            buffer[self.mirror_index] -= g[self.mirror_select]


def _positions(template: Block, rows: IntArray, cols: IntArray) -> IntArray:
    """Positions of entries (rows, cols) in the flat buffer of a template block."""
    if isinstance(template, np.ndarray):
        if template.ndim == 3:
            p = template.shape[1]
            assert np.all(rows // p == cols // p), "fill-in outside the diagonal blocks"
            return np.asarray(rows * p + cols % p, dtype=np.int64)
        return np.asarray(rows * template.shape[1] + cols, dtype=np.int64)
    keys = _csr_keys(template)
    want = rows * template.shape[1] + cols
    pos = np.searchsorted(keys, want)
    assert np.all(keys[pos] == want), "fill-in outside the template's pattern"
    return pos.astype(np.int64)


def _csr_keys(A: sp.csr_matrix) -> IntArray:
    """row * n_cols + col of the stored entries of a canonical CSR matrix, in storage order."""
    rows = np.repeat(np.arange(A.shape[0], dtype=np.int64), np.diff(A.indptr))
    return rows * A.shape[1] + A.indices.astype(np.int64)


def _bind(template: Block, prods: _PairProducts, mirror_upper: bool) -> _GramMap:
    """Bind to a target block; with mirror_upper False a symmetric map fills only row >= col."""
    index = _positions(template, prods.rows, prods.cols)
    if prods.symmetric and mirror_upper:
        select = np.flatnonzero(prods.rows != prods.cols)
        mirror = _positions(template, prods.cols[select], prods.rows[select])
    else:
        select = mirror = np.zeros(0, dtype=np.int64)
    return _GramMap(prods.matrix, index, mirror, select)


def _csr_with_pattern(S: sp.csr_matrix, extra_keys: Sequence[IntArray]) -> sp.csr_matrix:
    """S stored on the union of its pattern and the given (row * n_cols + col) keys."""
    S = sp.csr_matrix(S)
    S.sum_duplicates()
    S.sort_indices()
    own = _csr_keys(S)
    keys = np.unique(np.concatenate([own, *extra_keys]))
    data = np.zeros(keys.size)
    data[np.searchsorted(keys, own)] = S.data
    n_rows, n_cols = S.shape
    rows = keys // n_cols
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_rows))])
    return sp.csr_matrix((data, (keys % n_cols).astype(np.int32), indptr), shape=S.shape)


def _copy_block(template: Block, scale: float, work: Block) -> tuple[Block, FloatArray]:
    """scale * template written into ``work`` (a block of the same shape and pattern), and
    a flat view of its stored values."""
    if isinstance(template, np.ndarray):
        assert isinstance(work, np.ndarray)
        np.multiply(template, scale, out=work)
        return work, work.reshape(-1)
    assert not isinstance(work, np.ndarray)
    np.multiply(template.data, scale, out=work.data)
    return work, np.asarray(work.data)


# ---------------------------------------------------------------------------------------------
# Cross products (once, at construction)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scatter:
    """Where each row's products land in Z_j'WZ_i: a fixed CSR pattern (every pair of levels
    that share a row, zeros included, so that no weights can change it) and, for each
    (row, a, b), the position of w_r lhs_j[r, a] lhs_i[r, b] in its data."""

    products: FloatArray | None
    position: IntArray
    pattern: sp.csr_matrix

    @staticmethod
    def of(bj: ReBlock, bi: ReBlock) -> _Scatter:
        pj, pi = bj.lhs.shape[1], bi.lhs.shape[1]
        rows = (bj.codes[:, None] * pj + np.arange(pj))[:, :, None]
        cols = (bi.codes[:, None] * pi + np.arange(pi))[:, None, :]
        n_cols = bi.n_levels * pi
        keys, position = np.unique((rows * n_cols + cols).ravel(), return_inverse=True)
        counts = np.bincount(keys // n_cols, minlength=bj.n_levels * pj)
        indptr = np.concatenate([[0], np.cumsum(counts)])
        pattern = sp.csr_matrix(
            (np.zeros(keys.size), (keys % n_cols).astype(np.int32), indptr),
            shape=(bj.n_levels * pj, n_cols),
        )
        return _Scatter(lhs_products(bj.lhs, bi.lhs), position.astype(np.int64), pattern)

    def gram(self, w: FloatArray, out: sp.csr_matrix | None = None) -> sp.csr_matrix:
        """Z_j'WZ_i on the fixed pattern (into ``out``'s data when given)."""
        data = np.bincount(self.position, weighted(w, self.products), self.pattern.nnz)
        if out is not None:
            out.data[:] = data
            return out
        P = self.pattern
        return sp.csr_matrix((data, P.indices.copy(), P.indptr.copy()), shape=P.shape)


def _on_level_pairs(
    cp: BlockProducts, key: tuple[int, int], levels: Sequence[int], dims: Sequence[int]
) -> sp.csr_matrix:
    """Z_j'WZ_i from cross-products, stored on every (level pair, a, b) whose levels share a
    row (zeros included), the pattern `_Scatter` gives the same block from the rows."""
    j, i = key
    shape = (levels[j] * dims[j], levels[i] * dims[i])
    S, P = cp.off.get(key), cp.pairs.get(key)
    if S is None or P is None:
        return sp.csr_matrix(shape)
    pj, pi = dims[j], dims[i]
    rows = np.repeat(np.arange(P.shape[0], dtype=np.int64), np.diff(P.indptr))
    cols = P.indices.astype(np.int64)
    r = (rows[:, None] * pj + np.arange(pj))[:, :, None] + np.zeros((1, 1, pi), dtype=np.int64)
    c = (cols[:, None] * pi + np.arange(pi))[:, None, :] + np.zeros((1, pj, 1), dtype=np.int64)
    keys = (r * shape[1] + c).ravel()
    return _csr_with_pattern(sp.csr_matrix(S), [keys])


def _dense_from_blocks(D: FloatArray) -> FloatArray:
    m, p, _ = D.shape
    out = np.zeros((m * p, m * p))
    idx = np.arange(m * p).reshape(m, p)
    out[idx[:, :, None], idx[:, None, :]] = D
    return out


def _validate(
    blocks: Sequence[ReBlock], X: FloatArray, y: FloatArray, w: FloatArray, offset: FloatArray
) -> None:
    n = y.shape[0]
    if y.ndim != 1 or X.ndim != 2 or X.shape[0] != n:
        raise ValueError("X must be (n, p) and y must be (n,)")
    if w.shape != (n,) or offset.shape != (n,):
        raise ValueError("weights and offset must have shape (n,)")
    if not np.all(np.isfinite(w)) or np.any(w <= 0.0):
        raise ValueError("prior weights must be positive and finite")
    for blk in blocks:
        if blk.codes.shape != (n,) or blk.lhs.ndim != 2 or blk.lhs.shape[0] != n:
            raise ValueError("each ReBlock needs codes (n,) and lhs (n, p)")
        if n and (blk.codes.min() < 0 or blk.codes.max() >= blk.n_levels):
            raise ValueError("ReBlock codes out of range 0..n_levels-1")


# ---------------------------------------------------------------------------------------------
# The workspace
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Factorisation:
    diag: list[_Diag]
    """Factored diagonal blocks; the last one is the [X y] block [R_X' 0; c_β' r]."""
    off: dict[tuple[int, int], Block]
    """Non-zero blocks L[j, i], j > i (j = K is the [X y] block row, (p + 1) × q_i)."""


class PlsWorkspace:
    """Cross products of [Z X y] and the blocked Cholesky factorisation of the PLS problem."""

    def __init__(
        self,
        blocks: Sequence[ReBlock],
        X: FloatArray,
        y: FloatArray,
        weights: FloatArray | None = None,
        offset: FloatArray | None = None,
        *,
        reweightable: bool = False,
    ) -> None:
        """Build the cross-product blocks of [Z X y] once (one O(n) pass), weighted by prior
        weights, with y replaced by y - offset.  ``reweightable`` keeps what `reweight`
        needs to refresh the fill-in maps in one pass (16 bytes per map entry); without it
        `reweight` rebuilds them."""
        self._blocks = tuple(
            ReBlock(
                np.asarray(b.codes, dtype=np.int64),
                int(b.n_levels),
                np.asarray(b.lhs, dtype=np.float64),
            )
            for b in blocks
        )
        self._X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        n = y.shape[0]
        w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
        off = np.zeros(n) if offset is None else np.asarray(offset, dtype=np.float64)
        _validate(self._blocks, self._X, y, w, off)
        self._n, self._p, self._offset = int(n), int(self._X.shape[1]), off
        self._weights: FloatArray = w
        self._log_w_sum: float | None = None
        self._dims = [b.lhs.shape[1] for b in self._blocks]
        self._has_rows = True
        self._levels = [b.n_levels for b in self._blocks]
        blocks = self._blocks
        pairs = {
            (j, i): level_pairs(blocks[j], blocks[i]) for j in range(len(blocks)) for i in range(j)
        }
        self._struct = _analyse(self._levels, pairs)
        _check_dense_size(self._levels, self._dims, self._struct)
        self._zxy: FloatArray | None = None
        self._dense_A: FloatArray | None = None
        self._lambda_index: tuple[IntArray, IntArray] | None = None
        self._XY: FloatArray | None = None  # [X y - offset], kept for reweighting
        self._reweightable = reweightable
        self._build_templates(w, np.column_stack([self._X, y - off]))

    # -- construction ---------------------------------------------------------------------------

    def _build_templates(self, w: FloatArray, XY: FloatArray) -> None:
        """Unscaled blocks of [Z X y]'W[Z X y] and the fill-in maps into them."""
        st = self._struct
        self._zt = [sp.csr_matrix(z_matrix(b).T) for b in self._blocks]
        self._diag_products = [lhs_products(b.lhs, b.lhs) for b in self._blocks]
        self._scatter = {key: _Scatter.of(self._blocks[key[0]], self._blocks[key[1]])
                         for key in st.nonzero}  # fmt: skip
        S = {key: sc.gram(w) for key, sc in self._scatter.items()}
        self._plan_templates(S)
        self._fill_weighted(w, XY)
        self._bind_maps(S)

    @classmethod
    def from_cross_products(cls, cp: BlockProducts) -> PlsWorkspace:
        """A workspace from accumulated cross-products alone (MixedModels.jl's ``A`` blocks):
        no rows, so ``solve`` returns no fitted values and ``reweight`` is not available."""
        if cp.p < 1 or cp.n < 1:
            raise ValueError("cross-products need at least one row and one column of X")
        ws = cls.__new__(cls)
        ws._has_rows = False
        ws._blocks, ws._X, ws._offset = (), np.zeros((0, cp.p)), np.zeros(0)
        ws._n, ws._p = int(cp.n), cp.p
        ws._weights, ws._log_w_sum = np.zeros(0), float(cp.sum_log_w)
        ws._levels, ws._dims = cp.n_levels, cp.dims
        ws._struct = _analyse(ws._levels, cp.pairs)
        _check_dense_size(ws._levels, ws._dims, ws._struct)
        ws._zxy, ws._XY, ws._dense_A, ws._lambda_index = None, None, None, None
        ws._reweightable = False
        ws._build_from_cross_products(cp)
        return ws

    def _build_from_cross_products(self, cp: BlockProducts) -> None:
        """The same templates and maps from accumulated cross-products: each off-diagonal
        block on the pattern of every pair of levels that share a row (as from the rows)."""
        st, K = self._struct, len(self._dims)
        S = {key: _on_level_pairs(cp, key, self._levels, self._dims) for key in st.nonzero}
        self._scatter = {}
        self._plan_templates(S)
        tmpl = self._tmpl
        for key in st.nonzero:
            T = tmpl[key]
            if isinstance(T, np.ndarray):
                tmpl[key] = _to_dense(S[key])
            elif T is not S[key]:
                T.data[:] = 0.0
                T.data[self._spread[key]] = S[key].data
        for i, D in enumerate(cp.diag):
            tmpl[(i, i)] = _dense_from_blocks(D) if st.dense_diag[i] else D
            tmpl[(K, i)] = np.ascontiguousarray(cp.zxy[i])
        tmpl[(K, K)] = np.ascontiguousarray(cp.xy)
        self._bind_maps(S)

    def _plan_templates(self, S: dict[tuple[int, int], sp.csr_matrix]) -> None:
        """Which blocks are dense, the precomputed fill-in maps, and each template's pattern."""
        st, K = self._struct, len(self._dims)
        dense = {(j, i): st.dense_diag[i] or S[(j, i)].nnz > DENSE_FILL * _size(S[(j, i)])
                 for j, i in st.nonzero}  # fmt: skip
        # Precomputed fill-in for pairs of pristine term blocks beside a block-diagonal column.
        prods: dict[tuple[int, int, int], _PairProducts] = {}
        for (j, i), ks in st.contributors.items():
            for k in ks if j < K else []:
                if st.dense_diag[k] or not (st.pristine(j, k) and st.pristine(i, k)):
                    continue
                if dense[(j, k)] or dense[(i, k)]:  # BLAS products beat a sparse map
                    continue
                pp = _pair_products(
                    S[(j, k)], S[(i, k)], self._dims[k], i == j, keep_source=self._reweightable
                )
                if pp is not None:
                    prods[(j, i, k)] = pp
        tmpl: dict[tuple[int, int], Block] = {}
        self._spread: dict[tuple[int, int], IntArray] = {}
        for j, i in st.nonzero:
            extra = [
                pp.rows * S[(j, i)].shape[1] + pp.cols
                for (a, b, _), pp in prods.items()
                if (a, b) == (j, i)
            ]
            if dense[(j, i)]:
                tmpl[(j, i)] = _to_dense(S[(j, i)])
            elif extra:
                T = _csr_with_pattern(S[(j, i)], extra)
                tmpl[(j, i)] = T
                self._spread[(j, i)] = np.searchsorted(_csr_keys(T), _csr_keys(S[(j, i)]))
            else:
                tmpl[(j, i)] = S[(j, i)]  # the same object: refreshed together
        self._tmpl, self._S, self._prods = tmpl, S, prods
        self._scratch: dict[tuple[int, int], Block] = {}

    def _bind_maps(self, S: dict[tuple[int, int], sp.csr_matrix]) -> None:
        tmpl, prods = self._tmpl, self._prods
        # A dense diagonal block of a scalar term is only read through its lower triangle
        # (Λ-scaling is a scalar and the Cholesky reads row >= col): no need to mirror.
        self._maps = {
            key: _bind(tmpl[key[:2]], pp, tmpl[key[:2]].ndim == 3 or self._dims[key[1]] > 1)
            for key, pp in prods.items()
        }
        self._plan_contributions(S)

    def _fill_weighted(self, w: FloatArray, XY: FloatArray) -> None:
        """The numbers of every template block at weights w and data [X y] (the patterns
        and fill-in plan stay as they are)."""
        st, K, tmpl = self._struct, len(self._dims), self._tmpl
        S = self._S
        for key, sc in self._scatter.items():
            sc.gram(w, out=S[key])
            T = tmpl[key]
            if isinstance(T, np.ndarray):
                tmpl[key] = _to_dense(S[key])
            elif T is not S[key]:  # S's values spread into a wider pattern
                T.data[:] = 0.0
                T.data[self._spread[key]] = S[key].data
        for (j, i, k), pp in self._prods.items() if self._reweightable else ():
            pp.refresh(S[(j, k)], S[(i, k)])
        WXY = w[:, None] * XY
        for i, blk in enumerate(self._blocks):
            D = diag_cross(blk, w, self._diag_products[i])
            tmpl[(i, i)] = _dense_from_blocks(D) if st.dense_diag[i] else D
            zxy = np.ascontiguousarray(np.asarray(self._zt[i] @ WXY).T)  # (Z_i'W[X y])
            if (K, i) in tmpl:  # in place: the fill-in plan holds this array
                np.copyto(tmpl[(K, i)], zxy)  # type: ignore[arg-type]
            else:
                tmpl[(K, i)] = zxy
        tmpl[(K, K)] = XY.T @ WXY
        self._zxy = self._dense_A = None

    def _plan_contributions(self, S: dict[tuple[int, int], sp.csr_matrix]) -> None:
        """Split each block's fill-in into precomputed (unscaled) and generic (factor) parts."""
        st, K = self._struct, len(self._dims)
        self._map_in: dict[tuple[int, int], list[tuple[int, _GramMap]]] = {}
        self._xy_in: dict[tuple[int, int], list[tuple[int, Block]]] = {}
        self._generic_in: dict[tuple[int, int], list[int]] = {}
        self._q_needed: set[int] = set()
        for (j, i), ks in st.contributors.items():
            maps, xys, generic = [], [], []
            for k in ks:
                ok = not st.dense_diag[k] and st.pristine(j, k) and (i == K or st.pristine(i, k))
                if j < K and (j, i, k) in self._maps:
                    maps.append((k, self._maps[(j, i, k)]))
                elif j == K and ok:
                    xys.append((k, S[(i, k)] if i < K else self._tmpl[(K, k)]))
                else:
                    generic.append(k)
                    continue
                self._q_needed.add(k)
            self._map_in[(j, i)], self._xy_in[(j, i)] = maps, xys
            self._generic_in[(j, i)] = generic

    # -- factorisation ---------------------------------------------------------------------------

    def _templates_T(self, lambdas: Sequence[FloatArray]) -> list[FloatArray | None]:
        if len(lambdas) != len(self._dims):
            raise ValueError(f"expected {len(self._dims)} covariance factors")
        T: list[FloatArray | None] = []
        for lam, p in zip(lambdas, self._dims, strict=True):
            Ti = np.asarray(lam, dtype=np.float64)
            if Ti.size != p * p:
                raise ValueError(f"covariance factor must be {p}x{p}")
            T.append(Ti.reshape(p, p))
        return [*T, None]

    def _assemble(
        self,
        j: int,
        i: int,
        T: list[FloatArray | None],
        q_flat: dict[int, FloatArray],
        xy_q: dict[int, FloatArray],
        off: dict[tuple[int, int], Block],
    ) -> Block:
        """Block (j, i) of the matrix to factor, minus the fill-in from columns k < i."""
        K = len(self._dims)
        s = _scalar_factor(T[j], T[i])
        template = self._tmpl[(j, i)]
        work = self._scratch.get((j, i))  # one scratch block per block: no allocations
        if work is None or work.shape != template.shape:
            work = self._scratch[(j, i)] = template.copy()
        U, buffer = _copy_block(template, 1.0 if s is None else s, work)
        for k, gmap in self._map_in[(j, i)]:
            gmap.apply(buffer, q_flat[k], 1.0 if s is None else s)
        for k, Sik in self._xy_in[(j, i)]:
            assert isinstance(U, np.ndarray)
            G = _gram(xy_q[k], Sik) if i == K else np.asarray(Sik @ xy_q[k].T).T
            U -= _to_dense(G) if s is None else s * _to_dense(G)
        if s is None:
            U = _scale(U, T[j], T[i])
        if j == i < K:
            assert isinstance(U, np.ndarray)
            if U.ndim == 3:
                U += np.eye(U.shape[1])
            else:
                U.flat[:: U.shape[0] + 1] += 1.0
        for k in self._generic_in[(j, i)]:
            if j == i and U.ndim == 3:
                assert isinstance(U, np.ndarray)
                U -= _row_gram_blocks(off[(i, k)], self._dims[i])
            else:
                U = _subtract(U, _gram(off[(j, k)], off[(i, k)]))
        return U

    def _factorise(self, lambdas: Sequence[FloatArray]) -> _Factorisation:
        """Blocked, left-looking Cholesky factorisation; raises _NotPositiveDefiniteError."""
        T = self._templates_T(lambdas)
        K = len(self._dims)
        diag: list[_Diag] = []
        off: dict[tuple[int, int], Block] = {}
        q_flat: dict[int, FloatArray] = {}
        xy_q: dict[int, FloatArray] = {}
        for i in range(K + 1):
            Dii = self._assemble(i, i, T, q_flat, xy_q, off)
            D = _Diag.factor(np.ascontiguousarray(_to_dense(Dii)))
            diag.append(D)
            for j in self._struct.rows_below(i):
                off[(j, i)] = D.right_solve(self._assemble(j, i, T, q_flat, xy_q, off))
            if i in self._q_needed:
                Ti = T[i]
                assert Ti is not None
                Q = D.q_blocks(Ti)
                q_flat[i] = Q.ravel()
                xy = _to_dense(self._tmpl[(K, i)])
                m, p = Q.shape[0], Q.shape[1]
                xy_q[i] = np.einsum("rla,lab->rlb", xy.reshape(-1, m, p), Q).reshape(xy.shape)
        return _Factorisation(diag, off)

    def _criterion(self, f: _Factorisation, reml: bool) -> tuple[float, float, float, float]:
        """(objective, ldL2, ldRX2, pwrss) from a factorisation."""
        p = self._p
        Lf = f.diag[-1].L
        ldL2 = float(sum(d.logdet2() for d in f.diag[:-1]))
        ldRX2 = 2.0 * float(np.sum(np.log(np.diag(Lf)[:p])))
        pwrss = float(Lf[p, p]) ** 2
        return self._value(ldL2, Lf, reml), ldL2, ldRX2, pwrss

    def _sum_log_w(self) -> float:
        """Σ log w of the current weights (computed when first needed)."""
        if self._log_w_sum is None:
            self._log_w_sum = float(np.sum(np.log(self._weights)))
        return float(self._log_w_sum)

    def _value(self, ldL2: float, Lf: FloatArray, reml: bool) -> float:
        """The criterion from log|L|² and the factor of the [X y] block."""
        p, n = self._p, self._n
        ldRX2 = 2.0 * float(np.sum(np.log(np.diag(Lf)[:p])))
        pwrss = float(Lf[p, p]) ** 2
        if reml:
            dof = n - p
            value = (
                ldL2 - self._sum_log_w() + ldRX2 + dof * (1.0 + np.log(2.0 * np.pi * pwrss / dof))
            )
        else:
            value = ldL2 - self._sum_log_w() + n * (1.0 + np.log(2.0 * np.pi * pwrss / n))
        return float(value)

    # -- reweighting (PIRLS) ---------------------------------------------------------------------

    def reweight(self, weights: FloatArray, y: FloatArray) -> None:
        """Replace the weights and the response: the cross-products are rebuilt (one O(n)
        pass), the symbolic analysis is kept.  PIRLS calls this once per iteration with the
        working weights and working response of a generalized model."""
        w = np.asarray(weights, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if not self._has_rows:
            raise ValueError("a workspace built from cross-products has no rows to reweight")
        if w.shape != (self._n,) or y.shape != (self._n,):
            raise ValueError(f"weights and y must have shape ({self._n},)")
        self._weights, self._log_w_sum = w, None
        if self._XY is None:
            self._XY = np.column_stack([self._X, y])
        XY = self._XY
        np.subtract(y, self._offset, out=XY[:, -1])
        if self._reweightable or not self._prods:
            self._fill_weighted(w, XY)
        else:
            self._build_templates(w, XY)

    def modes(
        self, lambdas: Sequence[FloatArray], beta: FloatArray | None = None
    ) -> tuple[FloatArray, FloatArray, float, FloatArray]:
        """(β, u, log|L|², R_X) at Λθ: the joint PLS solution, or with ``beta`` given the
        modes u conditional on it.  Raises LinAlgError where the system is not positive
        definite."""
        if len(self._dims) == 1:
            return self._one_term_modes(self._templates_T(lambdas)[0], beta)
        return self._general_modes(lambdas, beta)

    def _general_modes(
        self, lambdas: Sequence[FloatArray], beta: FloatArray | None
    ) -> tuple[FloatArray, FloatArray, float, FloatArray]:
        try:
            f = self._factorise(lambdas)
        except _NotPositiveDefiniteError as err:
            raise np.linalg.LinAlgError("PLS system is not positive definite") from err
        head = self._head(f, reml=False)
        b = head.beta if beta is None else np.asarray(beta, dtype=np.float64)
        parts = self._modes(f, b)
        u = np.concatenate(parts) if parts else np.zeros(0)
        return b, u, head.ldL2, head.RX

    def _one_term_modes(
        self, T: FloatArray | None, beta: FloatArray | None
    ) -> tuple[FloatArray, FloatArray, float, FloatArray]:
        """`modes` of a one-term model in batched numpy calls (as `_one_term_objective`)."""
        assert T is not None
        L, C, Lf = self._one_term_factor(T)
        p = self._p
        RX = np.ascontiguousarray(Lf[:p, :p].T)
        if beta is not None:
            b = np.asarray(beta, dtype=np.float64)
        else:
            b = np.asarray(np.linalg.solve(RX, Lf[p, :p]), dtype=np.float64) if p else np.zeros(0)
        u = _small_back_solve(L, C[:, :, p] - C[:, :, :p] @ b)  # L_l' u_l = rhs_l
        ldL2 = 2.0 * float(np.sum(np.log(np.diagonal(L, axis1=1, axis2=2))))
        return b, np.ascontiguousarray(u).ravel(), ldL2, RX

    # -- public API --------------------------------------------------------------------------------

    @property
    def n(self) -> int:
        """Number of observations."""
        return self._n

    @property
    def p(self) -> int:
        """Number of fixed-effects coefficients."""
        return self._p

    @property
    def q(self) -> int:
        """Number of random effects."""
        return sum(m * p for m, p in zip(self._levels, self._dims, strict=True))

    def objective(self, lambdas: Sequence[FloatArray], reml: bool) -> float:
        """lme4's profiled deviance (ML) or REML criterion at Λθ (np.inf if a Cholesky fails).

        lambdas[i] is the p_i×p_i lower-triangular relative covariance factor template T_i of
        term i (Λθ is block diagonal with n_levels_i copies of T_i, level-major).
          ML:   ldL2 - sum(log w) + n (1 + log(2π pwrss / n))
          REML: ldL2 - sum(log w) + ldRX2 + (n - p)(1 + log(2π pwrss / (n - p)))
        """
        if len(self._dims) > 1 and self.q <= SMALL_DENSE:
            value = self._small_dense_objective(self._templates_T(lambdas), reml)
        elif len(self._dims) == 1:
            value = self._one_term_objective(self._templates_T(lambdas)[0], reml)
        else:
            try:
                value = self._criterion(self._factorise(lambdas), reml)[0]
            except _NotPositiveDefiniteError:
                return np.inf
        return value if np.isfinite(value) else np.inf

    def _small_dense_objective(self, T: list[FloatArray | None], reml: bool) -> float:
        """The objective of a small model from one dense Cholesky factorisation of the whole
        matrix: a few numpy calls, where the blocked path's bookkeeping would dominate."""
        A = self._dense_cross_products()
        q = A.shape[0] - self._p - 1
        lam = np.zeros((q, q))
        rows, cols = self._dense_lambda_index()
        lam[rows, cols] = np.concatenate(
            [
                np.tile(Tk.ravel(), m)
                for Tk, m in zip(T, self._levels, strict=False)
                if Tk is not None
            ]
        )
        full = np.empty_like(A)
        top = lam.T @ A[:q]  # Λ'[Z'WZ Z'W[X y]]
        full[:q, :q] = top[:, :q] @ lam
        full[:q, q:] = top[:, q:]
        full[q:, :q] = top[:, q:].T
        full[q:, q:] = A[q:, q:]
        full[:q, :q] += np.eye(q)
        try:
            L = np.asarray(np.linalg.cholesky(full), dtype=np.float64)
        except np.linalg.LinAlgError:
            return np.inf
        ldL2 = 2.0 * float(np.sum(np.log(np.diagonal(L)[:q])))
        return self._value(ldL2, L[q:, q:], reml)

    def _dense_cross_products(self) -> FloatArray:
        """[Z X y]'W[Z X y] as one dense matrix (kept until the weights change)."""
        if self._dense_A is None:
            tmpl = self._tmpl
            edges = np.cumsum([0, *(m * p for m, p in zip(self._levels, self._dims, strict=True))])
            edges = np.append(edges, edges[-1] + self._p + 1)
            A = np.zeros((int(edges[-1]),) * 2)
            for (j, i), block in tmpl.items():
                if isinstance(block, np.ndarray) and block.ndim == 3:
                    dense = _dense_from_blocks(block)
                else:
                    dense = _to_dense(block)
                A[edges[j] : edges[j + 1], edges[i] : edges[i + 1]] = dense
                A[edges[i] : edges[i + 1], edges[j] : edges[j + 1]] = dense.T
            self._dense_A = A
        return self._dense_A

    def _dense_lambda_index(self) -> tuple[IntArray, IntArray]:
        """Positions in Λ (q × q) of the level blocks' entries, term by term, row-major."""
        if self._lambda_index is None:
            rows, cols, start = [], [], 0
            for m, p in zip(self._levels, self._dims, strict=True):
                level, a, b = np.meshgrid(np.arange(m), np.arange(p), np.arange(p), indexing="ij")
                rows.append((start + level * p + a).ravel())
                cols.append((start + level * p + b).ravel())
                start += m * p
            self._lambda_index = (np.concatenate(rows), np.concatenate(cols))
        return self._lambda_index

    def _one_term_objective(self, T: FloatArray | None, reml: bool) -> float:
        """The objective of a one-term model in a handful of batched numpy calls: the
        commonest model, where the blocked machinery's bookkeeping would dominate."""
        assert T is not None
        try:
            L, _, Lf = self._one_term_factor(T)
        except np.linalg.LinAlgError:
            return np.inf
        ldL2 = 2.0 * float(np.sum(np.log(np.diagonal(L, axis1=1, axis2=2))))
        return self._value(ldL2, Lf, reml)

    def _one_term_factor(self, T: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """The level factors L_l, C_l = L_l⁻¹T'Z_l'W[X y] and the [X y] block's factor of a
        one-term model; raises LinAlgError where not positive definite."""
        D = self._tmpl[(0, 0)]  # (levels, p, p) block diagonal of Z'WZ
        assert isinstance(D, np.ndarray) and D.ndim == 3
        m, p = D.shape[0], D.shape[1]
        if self._zxy is None:  # Z_j'W[X y] per level, (levels, p, p + 1)
            xy = _to_dense(self._tmpl[(1, 0)])
            self._zxy = np.ascontiguousarray(xy.reshape(-1, m, p).transpose(1, 2, 0))
        L, C = _small_cholesky_solve(T.T @ D @ T + np.eye(p), T.T @ self._zxy)
        Lf = np.linalg.cholesky(self._tmpl[(1, 1)] - np.einsum("lpa,lpb->ab", C, C))
        return L, C, np.asarray(Lf, dtype=np.float64)

    # -- gradient (scalar terms) ---------------------------------------------------------------

    @property
    def has_gradient(self) -> bool:
        """Whether `objective_gradient` is available: every term is scalar (Λ_k = θ_k I) and
        the terms after the first have at most GRADIENT_MAX_REST levels together."""
        return all(p == 1 for p in self._dims) and sum(self._levels[1:]) <= GRADIENT_MAX_REST

    @property
    def dense_size(self) -> int:
        """How many random effects the dense diagonal blocks hold (those of crossed terms):
        what makes an evaluation costly."""
        sizes = zip(self._levels, self._dims, self._struct.dense_diag, strict=True)
        return sum(m * p for m, p, dense in sizes if dense)

    def objective_gradient(self, thetas: FloatArray, reml: bool) -> tuple[float, FloatArray]:
        """The criterion at Λ_k = θ_k I and its gradient in θ (np.inf and NaNs where the
        system is not positive definite).  With M = Λ'Z'WZΛ + I, u the spherical modes,
        r² the pwrss, R_X and W = M⁻¹Λ'Z'WX, the partial derivative in θ_k is

            (2 / θ_k) [q_k - tr_k(M⁻¹) - d ||u_k||² / r² - ||W_k R_X⁻¹||²]

        (d = n - p for REML, n for ML; the last term only for REML; 0 where θ_k = 0, the
        criterion being even in θ_k).  tr_k(M⁻¹) comes from a dense inverse of the trailing
        terms' factor and the first term's diagonal block."""
        theta = np.asarray(thetas, dtype=np.float64).reshape(-1)
        lambdas = [t.reshape(1, 1) for t in theta]
        nan = np.full(theta.size, np.nan)
        if len(self._dims) == 1:
            try:
                value, traces, u, W, RX, pwrss = self._one_term_gradient_parts(theta[0], reml)
            except np.linalg.LinAlgError:
                return np.inf, nan
        else:
            try:
                f = self._factorise(lambdas)
                traces = self._inverse_traces(f, theta)
            except _NotPositiveDefiniteError:
                return np.inf, nan
            head = self._head(f, reml)
            value, RX, pwrss = head.objective, head.RX, head.pwrss
            u = self._modes(f, head.beta)
            p, K = self._p, len(self._dims)
            W = self._back_substitute(f, [_to_dense(f.off[(K, k)])[:p, :].T for k in range(K)])
        u_sq = np.array([float(uk @ uk) for uk in u])
        w_sq = np.zeros(theta.size)
        if reml and self._p:
            w_sq = np.array([np.sum(sla.solve_triangular(RX, Wk.T, trans="T") ** 2) for Wk in W])
        dof = self._n - self._p if reml else self._n
        q = np.asarray(self._levels, dtype=np.float64)
        slope = 2.0 * (q - traces - dof * u_sq / pwrss - w_sq)
        grad = np.divide(slope, theta, out=np.zeros_like(theta), where=theta > 0)
        return (value, grad) if np.isfinite(value) else (np.inf, nan)

    def _one_term_gradient_parts(
        self, theta: float, reml: bool
    ) -> tuple[float, FloatArray, list[FloatArray], list[FloatArray], FloatArray, float]:
        """(criterion, tr(M⁻¹), u, W, R_X, r²) of a one-term scalar model."""
        L, C, Lf = self._one_term_factor(np.array([[theta]]))
        p = self._p
        Ld = L[:, 0, 0]
        RX = np.ascontiguousarray(np.triu(Lf[:p, :p].T))
        beta = np.linalg.solve(RX, Lf[p, :p]) if p else np.zeros(0)
        u = (C[:, 0, p] - C[:, 0, :p] @ beta) / Ld
        W = C[:, 0, :p] / Ld[:, None]
        ldL2 = 2.0 * float(np.sum(np.log(Ld)))
        traces = np.array([float(np.sum(1.0 / Ld**2))])
        return self._value(ldL2, Lf, reml), traces, [u], [W], RX, float(Lf[p, p]) ** 2

    def _inverse_traces(self, f: _Factorisation, theta: FloatArray) -> FloatArray:
        """tr_k(M⁻¹) for each scalar term k.  With M's trailing terms R (all but the first,
        whose factor L_00 is diagonal), (M⁻¹)_RR = (L_RR L_RR')⁻¹ =: Z and
        diag (M⁻¹)_00 = (1 + diag(L_R0' Z L_R0)) / L_00²."""
        K = len(self._dims)
        edges = np.cumsum([0, *self._levels[1:]])
        blocks = [slice(int(a), int(b)) for a, b in itertools.pairwise(edges)]
        L_RR = np.zeros((int(edges[-1]),) * 2)
        for k in range(1, K):
            Lkk = f.diag[k].L
            if Lkk.ndim == 3:
                np.fill_diagonal(L_RR[blocks[k - 1], blocks[k - 1]], Lkk.ravel())
            else:
                L_RR[blocks[k - 1], blocks[k - 1]] = Lkk
            for i in range(1, k):
                if (k, i) in f.off:
                    L_RR[blocks[k - 1], blocks[i - 1]] = _to_dense(f.off[(k, i)])
        # L_RR' is L_RR's Fortran-ordered view: LAPACK inverts U'U = L_RR L_RR' in place and
        # leaves the upper triangle of the view, Z's lower triangle (row >= col) here.
        Zt, info = sla.lapack.dpotri(L_RR.T, lower=0, overwrite_c=1)
        if info != 0:
            raise _NotPositiveDefiniteError
        Z = Zt.T
        diag = np.diagonal(Z)
        traces = np.array([0.0, *(float(np.sum(diag[b])) for b in blocks)])
        inv_sq = 1.0 / f.diag[0].L.ravel() ** 2  # L_00⁻², the first term's diagonal factor
        traces[0] = float(np.sum(inv_sq))
        for j in range(1, K):
            for i in range(1, j + 1):
                if 0 not in self._struct.contributors[(j, i)]:
                    continue
                weight = 1.0 if i == j else 2.0  # Z_ji and its mirror Z_ij
                Z_ji = Z[blocks[j - 1], blocks[i - 1]]  # only row >= col is set when i == j
                traces[0] += weight * self._first_term_gram_dot(f, j, i, Z_ji, theta, inv_sq)
        return traces

    def _first_term_gram_dot(
        self,
        f: _Factorisation,
        j: int,
        i: int,
        Z_ji: FloatArray,
        theta: FloatArray,
        inv_sq: FloatArray,
    ) -> float:
        """⟨Z_ji, L_j0 L_00⁻² L_i0'⟩: through the precomputed fill-in map of (j, i) where
        there is one (L_k0 = θ_k θ_0 S_k0 L_00⁻¹), else a product of the factor blocks."""
        pp = self._prods.get((j, i, 0))
        if pp is None:
            if i == j:
                Z_ji = np.tril(Z_ji) + np.tril(Z_ji, -1).T
            Lj = _scale_columns(f.off[(j, 0)], inv_sq)
            return float(np.sum(Z_ji * _to_dense(_gram(Lj, f.off[(i, 0)]))))
        G = pp.matrix @ (inv_sq * inv_sq)
        z = Z_ji[pp.rows, pp.cols]
        if pp.symmetric:  # only row >= col kept: the rest are mirror images
            z = np.where(pp.rows == pp.cols, z, 2.0 * z)
        return float(theta[j] * theta[i] * theta[0] ** 2 * (G @ z))

    def decompose(self, lambdas: Sequence[FloatArray], reml: bool) -> PlsCriterion | None:
        """The criterion, its log-determinants, pwrss, R_X and β̂ at Λθ, from the blocked
        factorisation alone (no conditional modes or variances: far cheaper than `solve` on
        large models); None where the system is not positive definite."""
        try:
            return self._head(self._factorise(lambdas), reml)
        except _NotPositiveDefiniteError:
            return None

    def _head(self, f: _Factorisation, reml: bool) -> PlsCriterion:
        objective, ldL2, ldRX2, pwrss = self._criterion(f, reml)
        p, Lf = self._p, f.diag[-1].L
        RX = np.ascontiguousarray(np.triu(Lf[:p, :p].T))
        beta = np.linalg.solve(RX, Lf[p, :p]) if p else np.zeros(0)  # tiny: numpy is fastest
        return PlsCriterion(objective, ldL2, ldRX2, pwrss, np.asarray(beta), RX)

    def solve(
        self, lambdas: Sequence[FloatArray], reml: bool, *, condvar: bool = True
    ) -> PlsSolution:
        """β, conditional modes, σ, R_X and (with ``condvar``) the conditional variances at
        Λθ (e.g. the optimum)."""
        try:
            f = self._factorise(lambdas)
        except _NotPositiveDefiniteError as err:
            raise np.linalg.LinAlgError("PLS system is not positive definite") from err
        head = self._head(f, reml)
        objective, ldL2, ldRX2, pwrss = head.objective, head.ldL2, head.ldRX2, head.pwrss
        p, RX, beta = self._p, head.RX, head.beta
        u_parts = self._modes(f, beta)
        T = self._templates_T(lambdas)
        b_parts = []
        for uk, Tk, p_k in zip(u_parts, T, self._dims, strict=False):
            assert Tk is not None
            b_parts.append((uk.reshape(-1, p_k) @ Tk.T).ravel())
        sigma = float(np.sqrt(pwrss / (self._n - p if reml else self._n)))
        fitted = self._fitted(beta, b_parts)
        variances = [sigma**2 * cv for cv in self._relative_condvar(f, T)] if condvar else None
        empty = np.zeros(0)
        return PlsSolution(
            beta=beta,
            u=np.concatenate(u_parts) if u_parts else empty,
            b=np.concatenate(b_parts) if b_parts else empty,
            pwrss=pwrss,
            ldL2=ldL2,
            ldRX2=ldRX2,
            sigma=sigma,
            RX=RX,
            objective=objective,
            condvar=variances,
            fitted=fitted,
        )

    def conditional_variances(self, lambdas: Sequence[FloatArray]) -> list[FloatArray]:
        """Per term, the (n_levels, p_i, p_i) blocks of Λ(L L')⁻¹Λ': the conditional
        covariances of b in units of σ² (a generalized model's, where σ = 1)."""
        return self._relative_condvar(self._factorise(lambdas), self._templates_T(lambdas))

    # -- solution helpers ----------------------------------------------------------------------

    def _fitted(self, beta: FloatArray, b_parts: Sequence[FloatArray]) -> FloatArray:
        """Xβ + Zb + offset on the rows (empty without rows)."""
        if not self._has_rows:
            return np.zeros(0)
        fitted = self._X @ beta + self._offset
        for blk, bk in zip(self._blocks, b_parts, strict=True):
            fitted += np.einsum("na,na->n", blk.lhs, bk.reshape(blk.n_levels, -1)[blk.codes])
        return fitted

    def _relative_condvar(self, f: _Factorisation, T: list[FloatArray | None]) -> list[FloatArray]:
        out = []
        for k in range(len(self._dims)):
            Tk = T[k]
            assert Tk is not None
            out.append(Tk @ self._inverse_col_gram(f, k) @ Tk.T)
        return out

    def _modes(self, f: _Factorisation, beta: FloatArray) -> list[FloatArray]:
        """Spherical modes u from L_Z' u = c_u - L_XZ' β."""
        K, p = len(self._dims), self._p
        rhs = []
        for k in range(K):
            LK = _to_dense(f.off[(K, k)])
            rhs.append(LK[p, :] - LK[:p, :].T @ beta)
        return self._back_substitute(f, rhs)

    def _back_substitute(self, f: _Factorisation, rhs: list[FloatArray]) -> list[FloatArray]:
        """x with L_Z' x = rhs, term by term from the last (rhs[k]: vector or matrix)."""
        K = len(self._dims)
        x: list[FloatArray] = [np.zeros(0)] * K
        for k in reversed(range(K)):
            r = rhs[k]
            for j in range(k + 1, K):
                if (j, k) in f.off:
                    r = r - _transposed_times(f.off[(j, k)], x[j])
            x[k] = f.diag[k].solve_t(r)
        return x

    def _inverse_col_gram(self, f: _Factorisation, k: int) -> FloatArray:
        """Level blocks of (L_Z L_Z')⁻¹ for term k: the blocks of M' M, M = L_Z⁻¹[:, term k].

        A block-diagonal term whose columns of M below it would make a dense block larger
        than _MAX_SOLVE_BYTES (a term with many levels crossed with another) is done a slice
        of its levels at a time, so memory stays bounded; the numbers are the same."""
        p, m = self._dims[k], self._levels[k]
        below = sum(q * d for q, d in zip(self._levels[k + 1 :], self._dims[k + 1 :], strict=True))
        per_level = 8 * p * max(below, 1)
        Linv = f.diag[k].Linv
        if Linv is None or per_level * m <= _MAX_SOLVE_BYTES:
            return self._col_gram_of(f, k, f.diag[k].inverse())
        step = max(1, _MAX_SOLVE_BYTES // per_level)
        parts = []
        for start in range(0, m, step):
            end = min(m, start + step)
            Mk = _bd_sparse(Linv[start:end])  # columns of L_kk⁻¹ for levels start..end
            above = sp.csr_matrix((start * p, Mk.shape[1]))
            below_rows = sp.csr_matrix(((m - end) * p, Mk.shape[1]))
            columns = sp.csr_matrix(sp.vstack([above, Mk, below_rows]))
            parts.append(self._col_gram_of(f, k, columns))
        return np.concatenate(parts)

    def _col_gram_of(self, f: _Factorisation, k: int, Mk: Block) -> FloatArray:
        """The level blocks of M' M for the columns Mk of L_kk⁻¹ (and what they give below)."""
        K, p = len(self._dims), self._dims[k]
        M: dict[int, Block] = {k: Mk}
        G = _col_gram_blocks(M[k], p)
        for i in range(k + 1, K):
            acc: Block | None = None
            for t in range(k, i):
                if (i, t) in f.off and t in M:
                    term = _matmul(f.off[(i, t)], M[t])
                    acc = term if acc is None else _add(acc, term)
            if acc is None:
                continue
            Mi = -f.diag[i].left_solve(acc)
            M[i] = Mi
            G = G + _col_gram_blocks(Mi, p)
        return G
