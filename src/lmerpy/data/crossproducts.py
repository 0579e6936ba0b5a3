"""Cross-products of [Z X y]: everything a linear mixed model needs from the rows.

The REML criterion and the ML deviance depend on the data only through the blocks of
[Z X y]'W[Z X y], the number of rows and the sum of the log prior weights
(MixedModels.jl's ``A`` matrix, built by ``createAL``). These blocks add up over any split of
the rows, so they can be accumulated from chunks (record batches of a Parquet file, the
partitions of a Dask DataFrame), merged with ``+``, saved, loaded, and fitted from.

``CrossProducts`` holds the numbers and, in ``schema``, the model they belong to (the formula,
the column and level names). The solver reads them through its ``BlockProducts`` protocol;
the kernels that form them are the solver's (``lmerpy.solver.crossprod``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from ..errors import DataError
from ..solver.crossprod import (
    Moments,
    ReBlock,
    canonical,
    diag_cross,
    level_pairs,
    off_cross,
    xy_cross,
    z_cross,
)
from .schema import Schema

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

__all__ = ["CrossProducts", "Moments", "ReBlock"]

Pair = tuple[int, int]


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
        off, pairs = _off_diagonal(blocks, w)
        WXY, xy = xy_cross(XY, w)
        return CrossProducts(
            n=n,
            sum_log_w=float(np.sum(np.log(w))) if weights is not None else 0.0,
            diag=tuple(diag_cross(b, w) for b in blocks),
            off=off,
            pairs=pairs,
            zxy=tuple(z_cross(b, WXY) for b in blocks),
            xy=xy,
            moments=Moments.of_rows(blocks, raw) if moments else None,
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
            raise DataError(
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
        save_cross_products(self, path)

    @staticmethod
    def load(path: str | os.PathLike[str]) -> CrossProducts:
        """Read what ``save`` wrote."""
        return load_cross_products(path)


def _off_diagonal(
    blocks: Sequence[ReBlock], w: FloatArray
) -> tuple[dict[Pair, sp.csr_matrix], dict[Pair, sp.csr_matrix]]:
    """Z_j'WZ_i and the level pairs for the terms j > i that share rows (no Z formed)."""
    off: dict[Pair, sp.csr_matrix] = {}
    pairs: dict[Pair, sp.csr_matrix] = {}
    for j in range(len(blocks)):
        for i in range(j):
            P = level_pairs(blocks[j], blocks[i])
            if P.nnz:
                pairs[(j, i)] = P
                off[(j, i)] = off_cross(blocks[j], blocks[i], w)
    return off, pairs


def _same_schema(a: Schema | None, b: Schema | None) -> Schema | None:
    if a is None or b is None or a is b:
        return a if b is None else b
    if a != b:
        raise DataError(
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


# -- persistence ------------------------------------------------------------------------------

FORMAT = "lmerpy-cross-products-1"


def save_cross_products(cp: CrossProducts, path: str | os.PathLike[str]) -> None:
    """Write cross-products to ``path`` (``.npz``)."""
    arrays: dict[str, Any] = {
        "format": np.array(FORMAT),
        "n": np.array(cp.n),
        "sum_log_w": np.array(cp.sum_log_w),
        "xy": cp.xy,
        "terms": np.array(len(cp.diag)),
        "schema": np.array("" if cp.schema is None else cp.schema.to_json()),
    }
    for i, (d, z) in enumerate(zip(cp.diag, cp.zxy, strict=True)):
        arrays[f"diag_{i}"], arrays[f"zxy_{i}"] = d, z
    for kind, blocks in (("off", cp.off), ("pairs", cp.pairs)):
        for (j, i), m in blocks.items():
            key = f"{kind}_{j}_{i}"
            arrays[f"{key}_data"], arrays[f"{key}_indices"] = m.data, m.indices
            arrays[f"{key}_indptr"], arrays[f"{key}_shape"] = m.indptr, np.array(m.shape)
    if cp.moments is not None:
        mo = cp.moments
        arrays["m_gram"], arrays["m_sums"] = mo.gram, mo.sums
        arrays["m_range"] = np.array([mo.y_min, mo.y_max])
        for i, (c, s) in enumerate(zip(mo.level_counts, mo.level_y, strict=True)):
            arrays[f"m_counts_{i}"], arrays[f"m_y_{i}"] = c, s
    try:
        with open(path, "wb") as out:
            np.savez(out, **arrays)
    except OSError as exc:
        raise DataError(f"cannot write the cross-products to {os.fspath(path)!r}: {exc}") from None


def load_cross_products(path: str | os.PathLike[str]) -> CrossProducts:
    """Read cross-products written by ``save_cross_products``."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read cross-products from {os.fspath(path)!r}: {exc}") from None
    if str(arrays.get("format", "")) != FORMAT:
        raise DataError(f"{os.fspath(path)!r} is not a file of lmerpy cross-products")
    k = int(arrays["terms"])
    text = str(arrays["schema"])
    return CrossProducts(
        n=int(arrays["n"]),
        sum_log_w=float(arrays["sum_log_w"]),
        diag=tuple(arrays[f"diag_{i}"] for i in range(k)),
        off=_sparse(arrays, "off"),
        pairs=_sparse(arrays, "pairs"),
        zxy=tuple(arrays[f"zxy_{i}"] for i in range(k)),
        xy=arrays["xy"],
        moments=_saved_moments(arrays, k),
        schema=Schema.from_json(text) if text else None,
    )


def _sparse(arrays: dict[str, Any], kind: str) -> dict[tuple[int, int], sp.csr_matrix]:
    out = {}
    for key in arrays:
        if key.startswith(f"{kind}_") and key.endswith("_shape"):
            _, j, i, _ = key.split("_")
            stem = f"{kind}_{j}_{i}"
            rows, cols = (int(s) for s in arrays[key])
            parts = (arrays[f"{stem}_data"], arrays[f"{stem}_indices"], arrays[f"{stem}_indptr"])
            out[(int(j), int(i))] = sp.csr_matrix(parts, shape=(rows, cols))
    return out


def _saved_moments(arrays: dict[str, Any], k: int) -> Moments | None:
    if "m_gram" not in arrays:
        return None
    low, high = (float(v) for v in arrays["m_range"])
    return Moments(
        arrays["m_gram"],
        arrays["m_sums"],
        low,
        high,
        tuple(arrays[f"m_counts_{i}"] for i in range(k)),
        tuple(arrays[f"m_y_{i}"] for i in range(k)),
    )
