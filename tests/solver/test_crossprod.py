"""Cross-products of [Z X y] (lmerpy.data.crossproducts): they add up over any split of the rows,
merge, save and load, and a workspace built from them is the workspace built from the rows."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmerpy import CrossProducts
from lmerpy.errors import ArgumentError
from lmerpy.solver import PlsWorkspace, ReBlock

N = 120


def _problem(
    seed: int, n: int = N
) -> tuple[list[ReBlock], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Three crossed terms (one vector-valued), weights and an offset."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    blocks = [
        ReBlock(rng.integers(0, 12, n), 12, np.column_stack([np.ones(n), x])),
        ReBlock(rng.integers(0, 7, n), 7, np.ones((n, 1))),
        ReBlock(rng.integers(0, 3, n), 3, np.ones((n, 1))),
    ]
    X = np.column_stack([np.ones(n), x, rng.normal(size=n)])
    y = 100.0 + X @ [1.0, 2.0, -1.0] + rng.normal(size=n)
    return blocks, X, y, rng.uniform(0.5, 2.0, n), rng.normal(size=n)


def _rows(
    blocks: list[ReBlock], X: np.ndarray, y: np.ndarray, w: np.ndarray, off: np.ndarray, rows: slice
) -> CrossProducts:
    part = [ReBlock(b.codes[rows], b.n_levels, b.lhs[rows]) for b in blocks]
    return CrossProducts.from_rows(part, X[rows], y[rows], w[rows], off[rows])


def _assert_same(a: CrossProducts, b: CrossProducts) -> None:
    assert a.n == b.n
    assert a.sum_log_w == pytest.approx(b.sum_log_w, rel=1e-12)
    for da, db in zip(a.diag, b.diag, strict=True):
        np.testing.assert_allclose(da, db, rtol=1e-12, atol=1e-10)
    for za, zb in zip(a.zxy, b.zxy, strict=True):
        np.testing.assert_allclose(za, zb, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(a.xy, b.xy, rtol=1e-12)
    assert set(a.pairs) == set(b.pairs)
    for key in a.pairs:
        assert (a.pairs[key] != b.pairs[key]).nnz == 0  # counts: exact
        np.testing.assert_allclose(
            a.off[key].toarray(), b.off[key].toarray(), rtol=1e-12, atol=1e-10
        )
    assert a.moments is not None and b.moments is not None
    np.testing.assert_allclose(a.moments.gram, b.moments.gram, rtol=1e-12)
    assert (a.moments.y_min, a.moments.y_max) == (b.moments.y_min, b.moments.y_max)
    for ca, cb in zip(a.moments.level_counts, b.moments.level_counts, strict=True):
        np.testing.assert_array_equal(ca, cb)


@settings(max_examples=40, deadline=None)
@given(
    cuts=st.lists(st.integers(min_value=0, max_value=N), max_size=8),
    seed=st.integers(min_value=0, max_value=3),
    order=st.randoms(use_true_random=False),
)
def test_any_split_of_the_rows_gives_the_same_blocks(cuts: list[int], seed: int, order) -> None:
    """Chunks of any sizes (empty ones, ones missing levels), added in any order."""
    blocks, X, y, w, off = _problem(seed)
    whole = CrossProducts.from_rows(blocks, X, y, w, off)
    edges = [0, *sorted(cuts), N]
    parts = [_rows(blocks, X, y, w, off, slice(a, b)) for a, b in itertools.pairwise(edges)]
    order.shuffle(parts)
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    _assert_same(total, whole)


def test_the_workspace_from_cross_products_is_the_workspace_from_the_rows() -> None:
    blocks, X, y, w, off = _problem(7)
    from_rows = PlsWorkspace(blocks, X, y, weights=w, offset=off)
    halves = _rows(blocks, X, y, w, off, slice(0, 50)) + _rows(blocks, X, y, w, off, slice(50, N))
    from_cp = PlsWorkspace.from_cross_products(halves)
    lambdas = [np.array([[1.2, 0.0], [0.3, 0.4]]), np.array([[0.7]]), np.array([[2.0]])]
    for reml in (True, False):  # the halves' sums add in another order: rounding only
        assert from_cp.objective(lambdas, reml) == pytest.approx(
            from_rows.objective(lambdas, reml), rel=1e-10
        )
        a, b = from_rows.solve(lambdas, reml), from_cp.solve(lambdas, reml)
        np.testing.assert_allclose(b.beta, a.beta, rtol=1e-10)
        np.testing.assert_allclose(b.b, a.b, rtol=1e-9, atol=1e-12)
        assert b.fitted.size == 0 and a.fitted.size == N  # no rows, no fitted values
    assert (from_cp.n, from_cp.p, from_cp.q) == (from_rows.n, from_rows.p, from_rows.q)


def test_a_workspace_without_rows_cannot_reweight() -> None:
    blocks, X, y, w, off = _problem(1)
    ws = PlsWorkspace.from_cross_products(CrossProducts.from_rows(blocks, X, y, w, off))
    with pytest.raises(ArgumentError, match="no rows to reweight"):
        ws.reweight(w, y)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    blocks, X, y, w, off = _problem(2)
    cp = CrossProducts.from_rows(blocks, X, y, w, off)
    cp.save(tmp_path / "cp.npz")
    loaded = CrossProducts.load(tmp_path / "cp.npz")
    _assert_same(loaded, cp)
    np.testing.assert_array_equal(loaded.xy, cp.xy)  # bit for bit


def test_cross_products_of_different_models_do_not_add() -> None:
    blocks, X, y, w, off = _problem(3)
    cp = CrossProducts.from_rows(blocks, X, y, w, off)
    other = CrossProducts.from_rows(blocks[:2], X, y, w, off)
    with pytest.raises(ValueError, match="different models"):
        cp + other


def test_loading_a_file_that_is_not_cross_products_is_a_clear_error(tmp_path: Path) -> None:
    import lmerpy

    path = tmp_path / "other.npz"
    np.savez(path, a=np.zeros(3))
    with pytest.raises(lmerpy.errors.DataError, match="not a file of lmerpy cross-products"):
        CrossProducts.load(path)


def test_off_diagonal_blocks_equal_the_product_of_dense_z() -> None:
    """Z_j'WZ_i from the rows (off_cross) against the product of dense model matrices, for a
    two-column term crossed with a one-column one, levels unused included."""
    from lmerpy.solver.crossprod import off_cross

    rng = np.random.default_rng(4)
    n = 300
    bj = ReBlock(rng.integers(0, 12, n), 13, np.column_stack([np.ones(n), rng.normal(size=n)]))
    bi = ReBlock(rng.integers(0, 7, n), 7, rng.normal(size=(n, 1)))
    w = rng.uniform(0.5, 2.0, n)

    def dense_z(b: ReBlock) -> np.ndarray:
        p = b.lhs.shape[1]
        Z = np.zeros((n, b.n_levels * p))
        for a in range(p):
            Z[np.arange(n), b.codes * p + a] = b.lhs[:, a]
        return Z

    block = off_cross(bj, bi, w)
    np.testing.assert_allclose(block.toarray(), dense_z(bj).T @ (w[:, None] * dense_z(bi)),
                               rtol=1e-12, atol=1e-12)  # fmt: skip
    assert block.has_canonical_format


def _dense_z(b: ReBlock) -> np.ndarray:
    n, p = b.lhs.shape
    Z = np.zeros((n, b.n_levels * p))
    for a in range(p):
        Z[np.arange(n), b.codes * p + a] = b.lhs[:, a]
    return Z


@pytest.mark.parametrize("columns", [3, 9])  # dot products per pair; one BLAS product
def test_weighted_products_of_x_and_z_equal_the_dense_products(columns: int) -> None:
    """xy_cross and z_cross against products of dense matrices, for an intercept term, a
    two-column term and a one-column term that is not an intercept."""
    from lmerpy.solver.crossprod import FEW_COLUMNS, xy_cross, z_cross

    rng = np.random.default_rng(5)
    n = 400
    XY = rng.normal(size=(n, columns))
    w = rng.uniform(0.5, 2.0, n)
    WXY, G = xy_cross(XY, w)
    np.testing.assert_allclose(WXY, w[:, None] * XY, rtol=1e-15)
    scale = float(np.sum(w[:, None] * XY**2))  # bounds every entry: sums of n terms
    np.testing.assert_allclose(G, XY.T @ (w[:, None] * XY), rtol=1e-12, atol=1e-13 * scale)
    if columns <= FEW_COLUMNS:  # the pairs' dot products, mirrored
        np.testing.assert_array_equal(G, G.T)
    terms = [
        ReBlock(rng.integers(0, 9, n), 9, np.ones((n, 1))),
        ReBlock(rng.integers(0, 6, n), 6, np.column_stack([np.ones(n), rng.normal(size=n)])),
        ReBlock(rng.integers(0, 4, n), 4, rng.normal(size=(n, 1))),
    ]
    assert [t.intercept for t in terms] == [True, False, False]
    for term in terms:
        expected = (_dense_z(term).T @ (w[:, None] * XY)).T
        np.testing.assert_allclose(z_cross(term, WXY), expected, rtol=1e-12, atol=1e-12)
