"""Matrix blocks of the PLS system and their algebra.

A ``Block`` is one of three forms: a dense 2-D array, a block-diagonal (n_levels, p, p) stack
of level blocks, or CSR. The functions here take any pair of forms and return the cheapest
form of the result, so the factorisation above them reads as block algebra.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from .._util.threads import WIDE_BLAS_ORDER, wide_blas

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Pair = tuple[int, int]
"""A block's (row, column) position: terms 0..K-1, then K for [X y]."""
Block = FloatArray | sp.csr_matrix
"""A matrix block: dense 2-D, block-diagonal (n_levels, p, p) stack, or CSR."""

__all__ = [
    "Block",
    "FloatArray",
    "IntArray",
    "Pair",
    "add",
    "bd_sparse",
    "col_gram_blocks",
    "copy_block",
    "dense_from_blocks",
    "gram",
    "matmul",
    "row_gram_blocks",
    "scalar_factor",
    "scale",
    "scale_columns",
    "size",
    "subtract",
    "to_dense",
    "transposed_times",
]


def to_dense(A: Block) -> FloatArray:
    if isinstance(A, np.ndarray):
        return A
    return np.asarray(A.toarray(), dtype=np.float64)


def size(A: Block) -> int:
    return int(A.shape[0]) * int(A.shape[1])


def bd_sparse(D: FloatArray) -> sp.csr_matrix:
    """Block-diagonal matrix with diagonal blocks D[l] (D has shape (m, p, p)) as CSR."""
    m, p, _ = D.shape
    bsr = sp.bsr_matrix(
        (np.ascontiguousarray(D), np.arange(m), np.arange(m + 1)), shape=(m * p, m * p)
    )
    return sp.csr_matrix(bsr)


def dense_from_blocks(D: FloatArray) -> FloatArray:
    """The dense (m p, m p) matrix with diagonal blocks D[l] (D has shape (m, p, p))."""
    m, p, _ = D.shape
    out = np.zeros((m * p, m * p))
    idx = np.arange(m * p).reshape(m, p)
    out[idx[:, :, None], idx[:, None, :]] = D
    return out


def gram(A: Block, B: Block) -> Block:
    """A @ B.T for dense or CSR operands.  A dense product takes every core's BLAS thread
    where `wide_blas` allows it for a factorisation of the same work (the order of a cube of
    A.shape[0] · B.shape[0] · A.shape[1] multiplications)."""
    if isinstance(A, np.ndarray):
        if isinstance(B, np.ndarray):
            work = A.shape[0] * B.shape[0] * A.shape[1]
            if work < WIDE_BLAS_ORDER**3:  # most products: no thread check at all
                return A @ B.T
            with wide_blas(round(work ** (1 / 3))):
                return A @ B.T
        return np.asarray((B @ A.T).T)
    if isinstance(B, np.ndarray):
        return np.asarray(A @ B.T)
    return sp.csr_matrix(A @ B.T)


def matmul(A: Block, B: Block) -> Block:
    """A @ B for dense or CSR operands."""
    if isinstance(A, np.ndarray):
        if isinstance(B, np.ndarray):
            return A @ B
        return np.asarray((B.T @ A.T).T)
    if isinstance(B, np.ndarray):
        return np.asarray(A @ B)
    return sp.csr_matrix(A @ B)


def subtract(U: Block, G: Block) -> Block:
    """U - G, in place when U is dense (U must be owned by the caller)."""
    if isinstance(U, np.ndarray):
        U -= to_dense(G)
        return U
    if isinstance(G, np.ndarray):
        return to_dense(U) - G
    return sp.csr_matrix(U - G)


def add(U: Block, G: Block) -> Block:
    """U + G for dense or CSR operands (a new block)."""
    if isinstance(U, np.ndarray) or isinstance(G, np.ndarray):
        return to_dense(U) + to_dense(G)
    return sp.csr_matrix(U + G)


def transposed_times(A: Block, v: FloatArray) -> FloatArray:
    """A' v for a vector or matrix v, without forming A' for a vector (scipy would build a
    new matrix object for it)."""
    if isinstance(A, np.ndarray):
        return np.asarray(A.T @ v)
    if v.ndim == 2:
        return np.asarray(A.T @ v)
    A = A if A.format == "csr" else sp.csr_matrix(A)  # scipy may hand back another format
    per_entry = np.repeat(v, np.diff(A.indptr)) * A.data
    return np.bincount(A.indices, per_entry, minlength=A.shape[1]).astype(np.float64)


def scale_columns(A: Block, d: FloatArray) -> Block:
    """A diag(d) (a new block)."""
    if isinstance(A, np.ndarray):
        return A * d
    A = A if A.format == "csr" else sp.csr_matrix(A)
    return sp.csr_matrix((A.data * d[A.indices], A.indices, A.indptr), shape=A.shape)


def row_gram_blocks(A: Block, p: int) -> FloatArray:
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


def col_gram_blocks(A: Block, p: int) -> FloatArray:
    """Diagonal p×p blocks of A'A (columns of A grouped in consecutive runs of p), (m, p, p)."""
    if isinstance(A, np.ndarray):
        return row_gram_blocks(np.ascontiguousarray(A.T), p)
    return row_gram_blocks(sp.csr_matrix(A.T), p)


def scalar_factor(Tj: FloatArray | None, Ti: FloatArray | None) -> float | None:
    """The scalar s with Λ_j' U Λ_i = s U when both terms are scalar (None: identity), else None."""
    if (Tj is not None and Tj.shape[0] > 1) or (Ti is not None and Ti.shape[0] > 1):
        return None
    return (1.0 if Tj is None else float(Tj[0, 0])) * (1.0 if Ti is None else float(Ti[0, 0]))


def scale(U: Block, Tj: FloatArray | None, Ti: FloatArray | None) -> Block:
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
        U = U @ bd_sparse(np.broadcast_to(Ti, (U.shape[1] // pi, pi, pi)))
    if Tj is not None:
        U = bd_sparse(np.broadcast_to(Tj.T, (U.shape[0] // pj, pj, pj))) @ U
    return sp.csr_matrix(U)


def copy_block(template: Block, factor: float, work: Block) -> tuple[Block, FloatArray]:
    """factor * template written into ``work`` (a block of the same shape and pattern), and
    a flat view of its stored values."""
    if isinstance(template, np.ndarray):
        assert isinstance(work, np.ndarray)
        np.multiply(template, factor, out=work)
        return work, work.reshape(-1)
    assert not isinstance(work, np.ndarray)
    np.multiply(template.data, factor, out=work.data)
    return work, np.asarray(work.data)
