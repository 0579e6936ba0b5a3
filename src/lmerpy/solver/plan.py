"""What each evaluation reads, prepared once at construction: the unscaled blocks of
[Z X y]'W[Z X y] in the storage the factorisation wants (the templates), the fill-in maps
bound to them, and for each block of L what fills it in.

A diagonal block of term i is stored as an (n_levels, p, p) stack of its level blocks while
nothing above it fills it in (always true for the first term, and for nested terms);
otherwise as a dense matrix.  Off-diagonal term blocks are CSR while sparse, dense once a
dense diagonal block to their left makes them so (or they are more than DENSE_FILL full).
Blocks of the [X y] row are dense.  New weights (PIRLS) refill the numbers in place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp

from .blocks import Block, FloatArray, IntArray, Pair, dense_from_blocks, size, to_dense
from .crossprod import (
    BlockProducts,
    ReBlock,
    canonical,
    diag_cross,
    lhs_products,
    weighted,
    xy_cross,
    z_cross,
)
from .fillin import GramMap, PairProducts, bind, csr_keys, csr_with_pattern, pair_products
from .structure import Structure

__all__ = [
    "Inflow",
    "Plan",
    "RowKernels",
    "plan_from_cross_products",
    "plan_from_rows",
    "refill",
    "with_response",
]

DENSE_FILL = 0.25
"""An off-diagonal block filled more than this is stored dense (BLAS beats sparse there)."""

Triple = tuple[int, int, int]
"""(j, i, k): the fill-in of block (j, i) from column k."""


@dataclass(frozen=True)
class Scatter:
    """Where each row's products land in Z_j'WZ_i: a fixed CSR pattern (every pair of levels
    that share a row, zeros included, so that no weights can change it) and, for each
    (row, a, b), the position of w_r lhs_j[r, a] lhs_i[r, b] in its data."""

    products: FloatArray | None
    position: IntArray
    pattern: sp.csr_matrix

    @staticmethod
    def of(bj: ReBlock, bi: ReBlock) -> Scatter:
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
        return Scatter(lhs_products(bj.lhs, bi.lhs), position.astype(np.int64), pattern)

    def gram(self, w: FloatArray, out: sp.csr_matrix | None = None) -> sp.csr_matrix:
        """Z_j'WZ_i on the fixed pattern (into ``out``'s data when given)."""
        data = np.bincount(self.position, weighted(w, self.products), self.pattern.nnz)
        if out is not None:
            out.data[:] = data
            return out
        P = self.pattern
        return sp.csr_matrix((data, P.indices.copy(), P.indptr.copy()), shape=P.shape)


@dataclass(frozen=True)
class RowKernels:
    """What forms the templates' numbers from the rows, kept to refill them for new weights."""

    blocks: tuple[ReBlock, ...]
    scatter: dict[Pair, Scatter]
    """One for each structurally non-zero off-diagonal block."""

    @staticmethod
    def of(blocks: tuple[ReBlock, ...], st: Structure) -> RowKernels:
        return RowKernels(
            blocks,
            {(j, i): Scatter.of(blocks[j], blocks[i]) for j, i in st.nonzero},
        )


@dataclass(frozen=True)
class Inflow:
    """What fills block (j, i) of L in from the columns k < i."""

    maps: list[tuple[int, GramMap]]
    """Precomputed maps of Q_k (term rows)."""
    xy: list[tuple[int, Block]]
    """[X y] row: (k, S_ik or the template (K, k)), to multiply by the (K, k) block times Q_k."""
    generic: list[int]
    """Products of factor blocks L[j,k] L[i,k]'."""


@dataclass(eq=False)
class Plan:
    """The templates and fill-in plan of one workspace.  Built by `plan_from_rows` or
    `plan_from_cross_products`, which bind ``maps``, ``inflow`` and ``q_needed`` once the
    templates hold numbers; `refill` puts new numbers on the same patterns.  ``level_xy``
    and ``dense`` are what the routes of `dense` keep between evaluations."""

    structure: Structure
    levels: Sequence[int]
    dims: Sequence[int]
    p: int
    """Columns of X."""
    reweightable: bool
    """Whether the fill-in maps keep what `refill` needs to refresh them."""
    rows: RowKernels | None
    """None for a plan from cross-products (no rows, nothing to refill)."""
    S: dict[Pair, sp.csr_matrix]
    """Unscaled off-diagonal blocks Z_j'WZ_i on their own patterns."""
    templates: dict[Pair, Block]
    """Every unscaled block of [Z X y]'W[Z X y] in the storage of its block of L."""
    spread: dict[Pair, IntArray]
    """Positions of S's entries in a template stored on a wider pattern."""
    products: dict[Triple, PairProducts]
    maps: dict[Triple, GramMap] = field(default_factory=dict)
    inflow: dict[Pair, Inflow] = field(default_factory=dict)
    q_needed: set[int] = field(default_factory=set)
    """Columns k whose Q_k some precomputed fill-in reads."""
    scratch: dict[Pair, Block] = field(default_factory=dict)
    """One work block per block of L, reused by every evaluation."""
    s_keys: dict[Pair, IntArray] = field(default_factory=dict)
    """Storage keys of S's patterns, where `refill_from_cross_products` needed them."""
    level_xy: FloatArray | None = None
    """One-term models: (Z_l'W[X y])' per level, (levels, p + 1, p) (kept until `refill`)."""
    dense: FloatArray | None = None
    """Small models: [Z X y]'W[Z X y] as one matrix (kept until `refill`)."""
    n_terms: int = field(init=False)
    q: int = field(init=False)
    """Number of random effects."""

    def __post_init__(self) -> None:
        self.n_terms = len(self.dims)
        self.q = sum(m * p for m, p in zip(self.levels, self.dims, strict=True))


def plan_from_rows(
    rows: RowKernels, st: Structure, w: FloatArray, XY: FloatArray, reweightable: bool
) -> Plan:
    """The plan of a workspace on rows with prior weights w and data XY = [X y - offset].
    ``reweightable`` keeps what `refill` needs to refresh the fill-in maps in one pass
    (16 bytes per map entry)."""
    levels = [b.n_levels for b in rows.blocks]
    dims = [b.lhs.shape[1] for b in rows.blocks]
    S = {key: sc.gram(w) for key, sc in rows.scatter.items()}
    plan = _planned(st, levels, dims, XY.shape[1] - 1, S, reweightable, rows)
    refill(plan, w, XY)
    _bind(plan)
    return plan


def plan_from_cross_products(cp: BlockProducts, st: Structure, reweightable: bool = False) -> Plan:
    """The same plan from accumulated cross-products: each off-diagonal block on the pattern
    of every pair of levels that share a row (as from the rows). ``reweightable`` keeps what
    `refill_from_cross_products` needs to refresh the fill-in maps."""
    K = len(cp.dims)
    S = {key: _on_level_pairs(cp, key, cp.n_levels, cp.dims) for key in st.nonzero}
    plan = _planned(st, cp.n_levels, cp.dims, cp.p, S, reweightable, None)
    for key in st.nonzero:
        _spread_into(plan, key)
    for i, D in enumerate(cp.diag):
        plan.templates[(i, i)] = dense_from_blocks(D) if st.dense_diag[i] else D
        plan.templates[(K, i)] = np.ascontiguousarray(cp.zxy[i])
    plan.templates[(K, K)] = np.ascontiguousarray(cp.xy)
    _bind(plan)
    return plan


def refill_from_cross_products(plan: Plan, cp: BlockProducts) -> None:
    """The numbers of every template from new cross-products of the same rows at other
    weights (PIRLS on data read in chunks); patterns and the fill-in plan stay as they are.
    An off-diagonal block's entries are placed by their keys in the planned pattern."""
    st, K, tmpl = plan.structure, plan.n_terms, plan.templates
    for key in st.nonzero:
        target, new = plan.S[key], cp.off.get(key)
        target.data[:] = 0.0
        if new is not None and new.nnz:
            new = canonical(sp.csr_matrix(new))
            pos = np.searchsorted(_keys_of(plan, key), csr_keys(new))
            target.data[pos] = new.data
        _spread_into(plan, key)
    for (j, i, k), pp in plan.products.items():
        pp.refresh(plan.S[(j, k)], plan.S[(i, k)])
    for i, D in enumerate(cp.diag):
        tmpl[(i, i)] = dense_from_blocks(D) if st.dense_diag[i] else D
        np.copyto(tmpl[(K, i)], cp.zxy[i])  # type: ignore[arg-type]  # the maps hold it
    tmpl[(K, K)] = np.ascontiguousarray(cp.xy)
    plan.level_xy = plan.dense = None


def _keys_of(plan: Plan, key: Pair) -> IntArray:
    """The storage keys of off-diagonal block ``key``'s planned pattern (kept on the plan)."""
    if key not in plan.s_keys:
        plan.s_keys[key] = csr_keys(plan.S[key])
    return plan.s_keys[key]


def refill(plan: Plan, w: FloatArray, XY: FloatArray) -> None:
    """The numbers of every template at weights w and data [X y] (patterns and fill-in plan
    stay as they are)."""
    assert plan.rows is not None
    st, K, tmpl, rows = plan.structure, plan.n_terms, plan.templates, plan.rows
    for key, sc in rows.scatter.items():
        sc.gram(w, out=plan.S[key])
        _spread_into(plan, key)
    for (j, i, k), pp in plan.products.items() if plan.reweightable else ():
        pp.refresh(plan.S[(j, k)], plan.S[(i, k)])
    WXY, tmpl[(K, K)] = xy_cross(XY, w)
    for i, blk in enumerate(rows.blocks):
        D = diag_cross(blk, w)
        tmpl[(i, i)] = dense_from_blocks(D) if st.dense_diag[i] else D
        zxy = z_cross(blk, WXY)  # (Z_i'W[X y])', by bincounts
        if (K, i) in tmpl:  # in place: the fill-in plan holds this array
            np.copyto(tmpl[(K, i)], zxy)  # type: ignore[arg-type]
        else:
            tmpl[(K, i)] = zxy
    plan.level_xy = plan.dense = None


def with_response(plan: Plan, zr: Sequence[FloatArray], xr: FloatArray) -> Plan:
    """The plan of the same Z and X with a new response r: Z_i'Wr (``zr``, per term) and
    [X r]'Wr (``xr``) replace the last row of the [X y] templates; every other template,
    pattern and fill-in map is shared with ``plan``, which stays as it was."""
    K, templates = plan.n_terms, dict(plan.templates)
    for i, row in enumerate(zr):
        templates[(K, i)] = _with_last_row(templates[(K, i)], row)
    templates[(K, K)] = _with_last_row(templates[(K, K)], xr)
    templates[(K, K)][:, -1] = xr
    dense = None
    if plan.dense is not None:
        dense = _with_last_row(plan.dense, np.concatenate([*zr, xr]))
        dense[:, -1] = dense[-1]
    new = replace(plan, templates=templates, scratch={}, level_xy=None, dense=dense)
    new.inflow = {key: _inflow(new, key, ks) for key, ks in new.structure.contributors.items()}
    return new


def _with_last_row(block: Block, row: FloatArray) -> FloatArray:
    out = np.array(to_dense(block), dtype=np.float64)
    out[-1] = row
    return out


def _spread_into(plan: Plan, key: Pair) -> None:
    """Template ``key`` from S[key]: dense, spread into a wider pattern, or S itself."""
    T, S = plan.templates[key], plan.S[key]
    if isinstance(T, np.ndarray):
        plan.templates[key] = to_dense(S)
    elif T is not S:  # S's values spread into a wider pattern
        T.data[:] = 0.0
        T.data[plan.spread[key]] = S.data


def _planned(
    st: Structure,
    levels: Sequence[int],
    dims: Sequence[int],
    p: int,
    S: dict[Pair, sp.csr_matrix],
    reweightable: bool,
    rows: RowKernels | None,
) -> Plan:
    """Which blocks are dense, the precomputed fill-in maps, and each off-diagonal
    template's pattern (its numbers, and the diagonal and [X y] templates, come next)."""
    dense = {(j, i): st.dense_diag[i] or S[(j, i)].nnz > DENSE_FILL * size(S[(j, i)])
             for j, i in st.nonzero}  # fmt: skip
    prods = _pair_products(st, S, dims, dense, reweightable)
    tmpl: dict[Pair, Block] = {}
    spread: dict[Pair, IntArray] = {}
    for j, i in st.nonzero:
        extra = [pp.rows * S[(j, i)].shape[1] + pp.cols
                 for (a, b, _), pp in prods.items() if (a, b) == (j, i)]  # fmt: skip
        if dense[(j, i)]:
            tmpl[(j, i)] = to_dense(S[(j, i)])
        elif extra:
            T = csr_with_pattern(S[(j, i)], extra)
            tmpl[(j, i)] = T
            spread[(j, i)] = np.searchsorted(csr_keys(T), csr_keys(S[(j, i)]))
        else:
            tmpl[(j, i)] = S[(j, i)]  # the same object: refreshed together
    return Plan(st, levels, dims, p, reweightable, rows, S, tmpl, spread, prods)


def _pair_products(
    st: Structure,
    S: dict[Pair, sp.csr_matrix],
    dims: Sequence[int],
    dense: dict[Pair, bool],
    keep_source: bool,
) -> dict[Triple, PairProducts]:
    """Precomputed fill-in for pairs of pristine term blocks beside a block-diagonal column."""
    K = st.n_terms
    prods: dict[Triple, PairProducts] = {}
    for (j, i), ks in st.contributors.items():
        for k in ks if j < K else []:
            if st.dense_diag[k] or not (st.pristine(j, k) and st.pristine(i, k)):
                continue
            if dense[(j, k)] or dense[(i, k)]:  # BLAS products beat a sparse map
                continue
            pp = pair_products(S[(j, k)], S[(i, k)], dims[k], i == j, keep_source)
            if pp is not None:
                prods[(j, i, k)] = pp
    return prods


def _bind(plan: Plan) -> None:
    """Bind the fill-in maps to the templates, and plan each block's inflow."""
    tmpl = plan.templates
    # A dense diagonal block of a scalar term is only read through its lower triangle
    # (Λ-scaling is a scalar and the Cholesky reads row >= col): no need to mirror.
    plan.maps = {
        key: bind(tmpl[key[:2]], pp, tmpl[key[:2]].ndim == 3 or plan.dims[key[1]] > 1)
        for key, pp in plan.products.items()
    }
    plan.inflow = {key: _inflow(plan, key, ks) for key, ks in plan.structure.contributors.items()}
    plan.q_needed = {k for f in plan.inflow.values() for k, _ in [*f.maps, *f.xy]}


def _inflow(plan: Plan, key: Pair, contributors: list[int]) -> Inflow:
    """Split the fill-in of block ``key`` from the columns ``contributors`` into precomputed
    (unscaled) and generic (factor) parts."""
    (j, i), st, K = key, plan.structure, plan.n_terms
    maps, xys, generic = [], [], []
    for k in contributors:
        ok = not st.dense_diag[k] and st.pristine(j, k) and (i == K or st.pristine(i, k))
        if j < K and (j, i, k) in plan.maps:
            maps.append((k, plan.maps[(j, i, k)]))
        elif j == K and ok:
            xys.append((k, plan.S[(i, k)] if i < K else plan.templates[(K, k)]))
        else:
            generic.append(k)
    return Inflow(maps, xys, generic)


def _on_level_pairs(
    cp: BlockProducts, key: Pair, levels: Sequence[int], dims: Sequence[int]
) -> sp.csr_matrix:
    """Z_j'WZ_i from cross-products, stored on every (level pair, a, b) whose levels share a
    row (zeros included), the pattern `Scatter` gives the same block from the rows."""
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
    return csr_with_pattern(sp.csr_matrix(S), [keys])
