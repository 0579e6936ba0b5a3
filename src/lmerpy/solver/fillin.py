"""Precomputed fill-in maps: L[j,k] L[i,k]' as a fixed sparse linear map of Q_k.

When L[j,k] and L[i,k] have received no fill-in and the diagonal block k is block diagonal,
L[j,k] L[i,k]' = Λ_j' S_jk Q_k S_ik' Λ_i with Q_k = Λ_k (L_kk L_kk')⁻¹ Λ_k' block diagonal
and S the unscaled cross-products.  The entries of S_jk Q_k S_ik' are a fixed sparse linear
map of the entries of Q_k (`PairProducts`), enumerated once; bound to the positions of a
target block (`GramMap`), that fill-in costs one sparse mat-vec per evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .blocks import Block, FloatArray, IntArray

__all__ = ["GramMap", "PairProducts", "bind", "csr_keys", "csr_with_pattern", "pair_products"]

_MAX_MAP_ENTRIES = 20_000_000
"""Largest precomputed fill-in map (stored non-zeros); larger fill-ins use sparse products."""


@dataclass(frozen=True)
class PairProducts:
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


def pair_products(
    Sj: sp.csr_matrix, Si: sp.csr_matrix, p: int, symmetric: bool, keep_source: bool
) -> PairProducts | None:
    """Enumerate all products S_j[r, (l,a)] S_i[c, (l,b)] over common levels l of term k.

    Returns None when there are more than _MAX_MAP_ENTRIES of them (or none at all).
    """
    A = _csc_with_source(Sj)
    B = A if Si is Sj else _csc_with_source(Si)
    pairs = _entry_pairs(A, B, p, symmetric)
    if pairs is None:
        return None
    ia, ib, r, c = pairs
    qk = A.shape[1]
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
    index = np.int32 if max(qk * p, target.size) < 2**31 else np.int64
    matrix = sp.csr_matrix(
        (values, q_index[order].astype(index), np.append(starts, target.size).astype(index)),
        shape=(keys.size, qk * p),
        copy=False,
    )
    rows, cols = keys // n_cols, keys % n_cols
    if not keep_source:
        return PairProducts(rows, cols, matrix, symmetric, None, None)
    return PairProducts(rows, cols, matrix, symmetric, pos_j[ia[order]], pos_i[ib[order]])


def _entry_pairs(
    A: sp.csc_matrix, B: sp.csc_matrix, p: int, symmetric: bool
) -> tuple[IntArray, IntArray, IntArray, IntArray] | None:
    """(ia, ib, r, c): the entries ia of A and ib of B in a common level (row >= col only
    when symmetric), and their rows r, c; None when there are none or too many."""
    lev_ptr_a = A.indptr[::p].astype(np.int64)
    lev_ptr_b = B.indptr[::p].astype(np.int64)
    count_a, count_b = np.diff(lev_ptr_a), np.diff(lev_ptr_b)
    total = int(count_a @ count_b)
    if total == 0 or total > _MAX_MAP_ENTRIES * (2 if symmetric else 1):
        return None
    if symmetric and p == 1:  # each entry with those above it in its column: row >= col
        first = np.repeat(lev_ptr_a[:-1], count_a)
        ia, ib = _ragged_pairs(first, np.arange(A.nnz) - first + 1)
        return ia, ib, A.indices[ia].astype(np.int64), B.indices[ib].astype(np.int64)
    level_a = np.repeat(np.arange(A.shape[1] // p), count_a)
    ia, ib = _ragged_pairs(lev_ptr_b[level_a], count_b[level_a])
    del level_a
    r = A.indices[ia].astype(np.int64)
    c = B.indices[ib].astype(np.int64)
    if symmetric:
        keep = r >= c
        ia, ib, r, c = ia[keep], ib[keep], r[keep], c[keep]
    return ia, ib, r, c


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
class GramMap:
    """A `PairProducts` bound to positions in the flat buffer of a target block."""

    matrix: sp.csr_matrix
    index: IntArray
    mirror_index: IntArray
    mirror_select: IntArray

    def apply(self, buffer: FloatArray, q_flat: FloatArray, factor: float) -> None:
        """buffer -= factor * S_j Q S_i' on the map's entries."""
        g = self.matrix @ q_flat
        if factor != 1.0:
            g *= factor
        buffer[self.index] -= g
        if self.mirror_index.size:
            buffer[self.mirror_index] -= g[self.mirror_select]


def bind(template: Block, prods: PairProducts, mirror_upper: bool) -> GramMap:
    """Bind to a target block; with mirror_upper False a symmetric map fills only row >= col."""
    index = _positions(template, prods.rows, prods.cols)
    if prods.symmetric and mirror_upper:
        select = np.flatnonzero(prods.rows != prods.cols)
        mirror = _positions(template, prods.cols[select], prods.rows[select])
    else:
        select = mirror = np.zeros(0, dtype=np.int64)
    return GramMap(prods.matrix, index, mirror, select)


def _positions(template: Block, rows: IntArray, cols: IntArray) -> IntArray:
    """Positions of entries (rows, cols) in the flat buffer of a template block."""
    if isinstance(template, np.ndarray):
        if template.ndim == 3:
            p = template.shape[1]
            assert np.all(rows // p == cols // p), "fill-in outside the diagonal blocks"
            return np.asarray(rows * p + cols % p, dtype=np.int64)
        return np.asarray(rows * template.shape[1] + cols, dtype=np.int64)
    keys = csr_keys(template)
    want = rows * template.shape[1] + cols
    pos = np.searchsorted(keys, want)
    assert np.all(keys[pos] == want), "fill-in outside the template's pattern"
    return pos.astype(np.int64)


def csr_keys(A: sp.csr_matrix) -> IntArray:
    """row * n_cols + col of the stored entries of a canonical CSR matrix, in storage order."""
    rows = np.repeat(np.arange(A.shape[0], dtype=np.int64), np.diff(A.indptr))
    return rows * A.shape[1] + A.indices.astype(np.int64)


def csr_with_pattern(S: sp.csr_matrix, extra_keys: Sequence[IntArray]) -> sp.csr_matrix:
    """S stored on the union of its pattern and the given (row * n_cols + col) keys."""
    S = sp.csr_matrix(S)
    S.sum_duplicates()
    S.sort_indices()
    own = csr_keys(S)
    keys = np.unique(np.concatenate([own, *extra_keys]))
    data = np.zeros(keys.size)
    data[np.searchsorted(keys, own)] = S.data
    n_rows, n_cols = S.shape
    rows = keys // n_cols
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_rows))])
    return sp.csr_matrix((data, (keys % n_cols).astype(np.int32), indptr), shape=S.shape)
