"""Cross-products of [Z X y]: everything a linear mixed model needs from the rows.

The REML criterion and the ML deviance depend on the data only through the blocks of
[Z X y]'W[Z X y], the number of rows and the sum of the log prior weights
(MixedModels.jl's ``A`` matrix, built by ``createAL``). These blocks add up over any split of
the rows, so they can be accumulated from chunks (record batches of a Parquet file, the
partitions of a Dask DataFrame), merged with ``+``, saved, loaded, and fitted from.

``CrossProducts`` holds the numbers only; which model they belong to (the formula, the column
and level names) travels beside them in ``lmerpy.ModelCrossProducts``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

if TYPE_CHECKING:
    from .chunked.schema import Schema

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

__all__ = ["CrossProducts", "Moments", "ReBlock"]

Pair = tuple[int, int]


@dataclass(frozen=True)
class ReBlock:
    """One random-effects term on some rows: level codes and the term's model matrix."""

    codes: IntArray
    """int64 (n,): level index 0..n_levels-1 of the grouping factor for each row."""
    n_levels: int
    lhs: FloatArray
    """float64 (n, p): the term's left-hand model matrix (e.g. columns [1, Days])."""


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

    def __add__(self, other: Moments) -> Moments:
        return Moments(
            self.gram + other.gram,
            self.sums + other.sums,
            min(self.y_min, other.y_min),
            max(self.y_max, other.y_max),
            tuple(a + b for a, b in zip(self.level_counts, other.level_counts, strict=True)),
            tuple(a + b for a, b in zip(self.level_y, other.level_y, strict=True)),
        )


@dataclass(frozen=True, eq=False)
class CrossProducts:
    """The blocks of [Z X y]'W[Z X y] with y replaced by y - offset (terms in lme4's order).

    Attributes:
        n: number of rows.
        sum_log_w: sum of the log prior weights (0 without weights).
        diag: per term, the level blocks of Z_i'WZ_i, (n_levels, p_i, p_i).
        off: for terms j > i that share rows, Z_j'WZ_i, CSR (n_levels_j p_j, n_levels_i p_i).
        pairs: for the same (j, i), how many rows each pair of levels shares, CSR
            (n_levels_j, n_levels_i): the sparsity the factorisation is planned on.
        zxy: per term, [X y]'WZ_i, (p + 1, n_levels_i p_i).
        xy: [X y]'W[X y], (p + 1, p + 1).
        moments: unweighted sums for the data checks and starting values (None if not kept).
        schema: the model and the encoding the rows were read with (None for bare blocks).

    Cross-products of the same model add up with ``+``; ``save(path)`` and
    ``CrossProducts.load(path)`` keep them in a ``.npz`` file; ``lmerpy.lmer_cross_products``
    fits from them.
    """

    n: int
    sum_log_w: float
    diag: tuple[FloatArray, ...]
    off: Mapping[Pair, sp.csr_matrix]
    pairs: Mapping[Pair, sp.csr_matrix]
    zxy: tuple[FloatArray, ...]
    xy: FloatArray
    moments: Moments | None = field(default=None)
    schema: Schema | None = field(default=None)

    # -- shape ----------------------------------------------------------------------------------

    @property
    def n_levels(self) -> list[int]:
        """Levels of each term's grouping factor."""
        return [int(d.shape[0]) for d in self.diag]

    @property
    def dims(self) -> list[int]:
        """Columns of each term's model matrix."""
        return [int(d.shape[1]) for d in self.diag]

    @property
    def p(self) -> int:
        """Columns of X."""
        return int(self.xy.shape[0]) - 1

    @property
    def nbytes(self) -> int:
        """Memory held by the blocks."""
        sparse = [m.data.nbytes + m.indices.nbytes + m.indptr.nbytes for m in self.off.values()]
        sparse += [m.data.nbytes + m.indices.nbytes + m.indptr.nbytes for m in self.pairs.values()]
        dense = [a.nbytes for a in (*self.diag, *self.zxy, self.xy)]
        return int(sum(sparse) + sum(dense))

    # -- construction ---------------------------------------------------------------------------

    @staticmethod
    def from_rows(
        blocks: Sequence[ReBlock],
        X: FloatArray,
        y: FloatArray,
        weights: FloatArray | None = None,
        offset: FloatArray | None = None,
        *,
        moments: bool = True,
    ) -> CrossProducts:
        """The cross-products of some rows (one chunk, or all of them)."""
        n = int(y.shape[0])
        w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
        raw = np.column_stack([X, y])
        XY = raw if offset is None else np.column_stack([X, y - offset])
        Z = [z_matrix(b) for b in blocks]
        WZ = [sp.csr_matrix(z.multiply(w[:, None])) for z in Z] if weights is not None else Z
        off: dict[Pair, sp.csr_matrix] = {}
        pairs: dict[Pair, sp.csr_matrix] = {}
        for j in range(len(blocks)):
            for i in range(j):
                P = level_pairs(blocks[j], blocks[i])
                if P.nnz:
                    pairs[(j, i)] = P
                    off[(j, i)] = canonical(sp.csr_matrix(Z[j].T @ WZ[i]))
        WXY = w[:, None] * XY  # always a product: XY'XY alone would take BLAS's syrk path
        return CrossProducts(
            n=n,
            sum_log_w=float(np.sum(np.log(w))) if weights is not None else 0.0,
            diag=tuple(diag_cross(b, w, lhs_products(b.lhs, b.lhs)) for b in blocks),
            off=off,
            pairs=pairs,
            zxy=tuple(np.ascontiguousarray(np.asarray(wz.T @ XY).T) for wz in WZ),
            xy=XY.T @ WXY,
            moments=_moments(blocks, raw) if moments else None,
        )

    @staticmethod
    def empty(n_levels: Sequence[int], dims: Sequence[int], p: int) -> CrossProducts:
        """The cross-products of no rows: the start of an accumulation."""
        shapes = list(zip(n_levels, dims, strict=True))
        return CrossProducts(
            n=0,
            sum_log_w=0.0,
            diag=tuple(np.zeros((m, d, d)) for m, d in shapes),
            off={},
            pairs={},
            zxy=tuple(np.zeros((p + 1, m * d)) for m, d in shapes),
            xy=np.zeros((p + 1, p + 1)),
            moments=Moments(
                np.zeros((p + 1, p + 1)),
                np.zeros(p + 1),
                np.inf,
                -np.inf,
                tuple(np.zeros(m) for m in n_levels),
                tuple(np.zeros(m) for m in n_levels),
            ),
        )

    # -- merging --------------------------------------------------------------------------------

    def __add__(self, other: CrossProducts) -> CrossProducts:
        """The cross-products of the rows of both (associative and commutative)."""
        if self.n_levels != other.n_levels or self.dims != other.dims or self.p != other.p:
            raise ValueError(
                "cross-products of different models cannot be added: levels "
                f"{self.n_levels} vs {other.n_levels}, columns {self.dims} vs {other.dims}"
            )
        both = self.moments is not None and other.moments is not None
        return CrossProducts(
            n=self.n + other.n,
            sum_log_w=self.sum_log_w + other.sum_log_w,
            diag=tuple(a + b for a, b in zip(self.diag, other.diag, strict=True)),
            off=_add_sparse(self.off, other.off),
            pairs=_add_sparse(self.pairs, other.pairs),
            zxy=tuple(a + b for a, b in zip(self.zxy, other.zxy, strict=True)),
            xy=self.xy + other.xy,
            moments=self.moments + other.moments  # type: ignore[operator]
            if both
            else None,
            schema=_same_schema(self.schema, other.schema),
        )

    def select_x(self, keep: Sequence[int]) -> CrossProducts:
        """The same cross-products with only the columns ``keep`` of X (y stays last)."""
        index = [*keep, self.p]
        m = self.moments
        if m is not None:
            m = Moments(
                m.gram[np.ix_(index, index)],
                m.sums[index],
                m.y_min,
                m.y_max,
                m.level_counts,
                m.level_y,
            )
        return CrossProducts(
            n=self.n,
            sum_log_w=self.sum_log_w,
            diag=self.diag,
            off=self.off,
            pairs=self.pairs,
            zxy=tuple(np.ascontiguousarray(z[index]) for z in self.zxy),
            xy=self.xy[np.ix_(index, index)],
            moments=m,
            schema=self.schema,
        )

    # -- persistence ----------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write to a ``.npz`` file (numpy arrays and the schema as JSON; no pickles)."""
        from .persist import save_cross_products

        save_cross_products(self, path)

    @staticmethod
    def load(path: str | os.PathLike[str]) -> CrossProducts:
        """Read what ``save`` wrote."""
        from .persist import load_cross_products

        return load_cross_products(path)


def _same_schema(a: Schema | None, b: Schema | None) -> Schema | None:
    if a is None or b is None or a is b:
        return a if b is None else b
    if a != b:
        raise ValueError(
            "cross-products read with different schemas cannot be added: scan all the data "
            "first (lmerpy.scan, schemas merge with +) and pass that schema to every part"
        )
    return a


def _add_sparse(
    a: Mapping[Pair, sp.csr_matrix], b: Mapping[Pair, sp.csr_matrix]
) -> dict[Pair, sp.csr_matrix]:
    out = dict(a)
    for key, value in b.items():
        out[key] = canonical(sp.csr_matrix(out[key] + value)) if key in out else value
    return out


def _moments(blocks: Sequence[ReBlock], raw: FloatArray) -> Moments:
    y = raw[:, -1]
    return Moments(
        gram=raw.T @ raw,
        sums=raw.sum(axis=0),
        y_min=float(y.min()) if y.size else np.inf,
        y_max=float(y.max()) if y.size else -np.inf,
        level_counts=tuple(
            np.asarray(np.bincount(b.codes, minlength=b.n_levels), dtype=np.float64) for b in blocks
        ),
        level_y=tuple(
            np.asarray(np.bincount(b.codes, weights=y, minlength=b.n_levels), dtype=np.float64)
            for b in blocks
        ),
    )


# ---------------------------------------------------------------------------------------------
# The kernel
# ---------------------------------------------------------------------------------------------


def canonical(A: sp.csr_matrix) -> sp.csr_matrix:
    """A with duplicates summed and indices sorted (in place)."""
    A.sum_duplicates()
    A.sort_indices()
    return A


def z_matrix(block: ReBlock) -> sp.csr_matrix:
    """The n × (n_levels p) model matrix of one term (level-major columns)."""
    n, p = block.lhs.shape
    indices = (block.codes[:, None] * p + np.arange(p)).ravel()
    indptr = np.arange(0, n * p + 1, p)
    return sp.csr_matrix((block.lhs.ravel().copy(), indices, indptr), shape=(n, block.n_levels * p))


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


def diag_cross(block: ReBlock, w: FloatArray, products: FloatArray | None) -> FloatArray:
    """The level blocks of Z_i'WZ_i, shape (n_levels, p, p); ``products`` is the block's
    `lhs_products` with itself (a caller that reweights keeps them)."""
    m, p = block.n_levels, block.lhs.shape[1]
    values = weighted(w, products).reshape(-1, p * p)
    out = np.empty((m, p * p))
    for ac in range(p * p):
        out[:, ac] = np.bincount(block.codes, weights=values[:, ac], minlength=m)
    return out.reshape(m, p, p)


def level_pairs(bj: ReBlock, bi: ReBlock) -> sp.csr_matrix:
    """Rows shared by each pair of levels of two terms, (n_levels_j, n_levels_i)."""
    ones = np.ones(bj.codes.size)
    P = sp.csr_matrix((ones, (bj.codes, bi.codes)), shape=(bj.n_levels, bi.n_levels))
    return canonical(P)
