"""The blocks of [Z X y]'W[Z X y] and the kernels that form them from rows.

Both input paths meet here: the in-memory workspace forms its blocks from the rows with these
kernels, and the chunked path adds the same blocks up over chunks (``lmerpy.CrossProducts``).
``BlockProducts`` is what the workspace reads from such a value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

__all__ = [
    "BlockProducts",
    "Moments",
    "ReBlock",
    "diag_cross",
    "response_cross",
    "xy_cross",
    "z_cross",
]

FEW_COLUMNS = 6
"""[X y]'W[X y] of at most this many columns by a dot product per column pair: a BLAS
product of a 3 × 10⁶ by a 10⁶ × 3 matrix took 10 ms, the six dot products 2 ms."""

Pair = tuple[int, int]


@dataclass(frozen=True)
class ReBlock:
    """One random-effects term on some rows: level codes and the term's model matrix."""

    codes: IntArray
    """int64 (n,): level index 0..n_levels-1 of the grouping factor for each row."""
    n_levels: int
    lhs: FloatArray
    """float64 (n, p): the term's left-hand model matrix (e.g. columns [1, Days])."""

    @cached_property
    def intercept(self) -> bool:
        """Whether the term is an intercept alone (its model matrix a column of ones)."""
        return bool(self.lhs.shape[1] == 1 and np.all(self.lhs == 1.0))


@dataclass(frozen=True, eq=False)
class Moments:
    """Unweighted sums the data checks and lme4's starting values need (raw y, no offset).

    Attributes:
        gram: [X y]'[X y], (p + 1, p + 1).
        sums: column sums of [X y], (p + 1,).
        y_min, y_max: range of the response.
        level_counts: per term, rows per level, (n_levels,).
        level_y: per term, the sum of y per level, (n_levels,).
    """

    gram: FloatArray
    sums: FloatArray
    y_min: float
    y_max: float
    level_counts: tuple[FloatArray, ...]
    level_y: tuple[FloatArray, ...]

    @staticmethod
    def of_rows(blocks: Sequence[ReBlock], raw: FloatArray) -> Moments:
        """The moments of some rows of [X y] (raw y) and the terms' grouping codes."""
        y = raw[:, -1]
        return Moments(
            gram=raw.T @ raw,
            sums=raw.sum(axis=0),
            y_min=float(y.min()) if y.size else np.inf,
            y_max=float(y.max()) if y.size else -np.inf,
            level_counts=tuple(
                np.asarray(np.bincount(b.codes, minlength=b.n_levels), dtype=np.float64)
                for b in blocks
            ),
            level_y=tuple(
                np.asarray(np.bincount(b.codes, weights=y, minlength=b.n_levels), dtype=np.float64)
                for b in blocks
            ),
        )

    def __add__(self, other: Moments) -> Moments:
        return Moments(
            self.gram + other.gram,
            self.sums + other.sums,
            min(self.y_min, other.y_min),
            max(self.y_max, other.y_max),
            tuple(a + b for a, b in zip(self.level_counts, other.level_counts, strict=True)),
            tuple(a + b for a, b in zip(self.level_y, other.level_y, strict=True)),
        )


class BlockProducts(Protocol):
    """The cross-products a workspace is built from (``lmerpy.CrossProducts`` is one)."""

    @property
    def n(self) -> int: ...
    @property
    def sum_log_w(self) -> float: ...
    @property
    def diag(self) -> tuple[FloatArray, ...]: ...
    @property
    def off(self) -> Mapping[Pair, sp.csr_matrix]: ...
    @property
    def pairs(self) -> Mapping[Pair, sp.csr_matrix]: ...
    @property
    def zxy(self) -> tuple[FloatArray, ...]: ...
    @property
    def xy(self) -> FloatArray: ...
    @property
    def n_levels(self) -> list[int]: ...
    @property
    def dims(self) -> list[int]: ...
    @property
    def p(self) -> int: ...


# ---------------------------------------------------------------------------------------------
# The kernel
# ---------------------------------------------------------------------------------------------


def canonical(A: sp.csr_matrix) -> sp.csr_matrix:
    """A with duplicates summed and indices sorted (in place)."""
    A.sum_duplicates()
    A.sort_indices()
    return A


def lhs_products(lhs_j: FloatArray, lhs_i: FloatArray) -> FloatArray | None:
    """lhs_j[r, a] lhs_i[r, b] for every row, flattened (r, a, b); None when all are 1
    (random intercepts), so that the weights are the products."""
    products = (lhs_j[:, :, None] * lhs_i[:, None, :]).ravel()
    return None if lhs_j.shape[1] == lhs_i.shape[1] == 1 and np.all(products == 1.0) else products


def weighted(w: FloatArray, products: FloatArray | None) -> FloatArray:
    """w_r lhs_j[r, a] lhs_i[r, b], flattened (r, a, b)."""
    if products is None or w.size == 0:
        return w if products is None else products
    return (products.reshape(w.size, -1) * w[:, None]).ravel()


def off_cross(bj: ReBlock, bi: ReBlock, w: FloatArray) -> sp.csr_matrix:
    """Z_j'WZ_i as canonical CSR, (n_levels_j p_j, n_levels_i p_i): each row's products
    w lhs_j[:, a] lhs_i[:, b] placed at its levels and summed, without forming Z."""
    n, pj, pi = w.size, bj.lhs.shape[1], bi.lhs.shape[1]
    shape3 = (n, pj, pi)
    rows = np.broadcast_to((bj.codes[:, None] * pj + np.arange(pj))[:, :, None], shape3)
    cols = np.broadcast_to((bi.codes[:, None] * pi + np.arange(pi))[:, None, :], shape3)
    values = w[:, None, None] * bj.lhs[:, :, None] * bi.lhs[:, None, :]
    A = sp.csr_matrix(
        (values.ravel(), (rows.ravel(), cols.ravel())),
        shape=(bj.n_levels * pj, bi.n_levels * pi),
    )
    return canonical(A)


def level_pairs(bj: ReBlock, bi: ReBlock) -> sp.csr_matrix:
    """Rows shared by each pair of levels of two terms, (n_levels_j, n_levels_i)."""
    ones = np.ones(bj.codes.size)
    P = sp.csr_matrix((ones, (bj.codes, bi.codes)), shape=(bj.n_levels, bi.n_levels))
    return canonical(P)


def response_cross(
    blocks: Sequence[ReBlock], XY: FloatArray, w: FloatArray
) -> tuple[list[FloatArray], FloatArray]:
    """The products of the last column r of XY = [X r] (a response, less any offset) with
    weights w: Z_i'Wr per term, level-major, and [X r]'Wr. What a new response changes in
    [Z X y]'W[Z X y]; one pass over the rows."""
    wr = w * XY[:, -1]
    return [z_cross(b, wr[:, None])[0] for b in blocks], XY.T @ wr


def xy_cross(XY: FloatArray, w: FloatArray) -> tuple[FloatArray, FloatArray]:
    """W[X y] (column-major) and [X y]'W[X y] for XY = [X y] and weights w."""
    WXY = np.multiply(XY, w[:, None], order="F")
    k = XY.shape[1]
    if k > FEW_COLUMNS:
        return WXY, XY.T @ WXY
    G = np.empty((k, k))
    for a in range(k):
        for b in range(a + 1):
            G[a, b] = G[b, a] = XY[:, a] @ WXY[:, b]
    return WXY, G


def z_cross(block: ReBlock, WV: FloatArray) -> FloatArray:
    """(Z_i'WV)', (k, n_levels p) for the n × k matrix WV (weighted): a bincount per column
    pair, without forming Z."""
    m, p = block.n_levels, block.lhs.shape[1]
    out = np.empty((WV.shape[1], m, p))
    ones = block.intercept
    for a in range(p):
        for c in range(WV.shape[1]):
            values = WV[:, c] if ones else block.lhs[:, a] * WV[:, c]  # no product with 1s
            out[c, :, a] = np.bincount(block.codes, weights=values, minlength=m)
    return out.reshape(WV.shape[1], m * p)


def diag_cross(block: ReBlock, w: FloatArray) -> FloatArray:
    """The level blocks of Z_i'WZ_i, shape (n_levels, p, p): a bincount per pair of columns
    a >= b, mirrored, with no (n, p, p) row products formed or kept."""
    m, p = block.n_levels, block.lhs.shape[1]
    out = np.empty((m, p, p))
    for a in range(p):
        for b in range(a + 1):
            values = block.lhs[:, a] * block.lhs[:, b] * w
            out[:, a, b] = out[:, b, a] = np.bincount(block.codes, weights=values, minlength=m)
    return out
