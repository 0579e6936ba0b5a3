"""The routes to the factor L (lmerpy.solver.factor, .dense): the one-term and small dense
routes give what the blocked factorisation gives."""

from __future__ import annotations

import numpy as np
import pytest

from lmerpy.solver import blocked, factor
from lmerpy.solver.workspace import PlsWorkspace
from tests.solver.helpers import dense_reference, random_problem


def _blocked_modes(
    ws: PlsWorkspace, lambdas: list[np.ndarray], beta: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """`PlsWorkspace.modes` through the blocked factorisation, whatever the model's route."""
    f = blocked.factorise_blocked(ws._plan, lambdas)
    RX, beta_hat = factor.fixed_effects(f.Lxy)
    b = beta_hat if beta is None else beta
    return b, np.concatenate(f.modes(b)), f.ldL2, RX


@pytest.mark.parametrize("p", [1, 2, 3])
def test_one_term_modes_match_the_blocked_path(p: int) -> None:
    """`modes` of a one-term model (batched level blocks) equals the general blocked
    factorisation, jointly and with β given, with and without fixed-effect columns."""
    rng = np.random.default_rng(p)
    levels = 80  # above SMALL_DENSE_ONE_TERM for every p
    blocks, X, y, w, off, lambdas = random_problem(
        rng, 300, [(rng.integers(0, levels, 300), levels, p)]
    )
    for cols in (X, X[:, :0]):
        ws = PlsWorkspace(blocks, cols, y, weights=w, offset=off)
        fast = [ws.modes(lambdas), ws.modes(lambdas, np.full(cols.shape[1], 0.3))]
        general = [_blocked_modes(ws, lambdas, None), _blocked_modes(ws, lambdas, fast[1][0])]
        for got, want in zip(fast, general, strict=True):
            for a, b in zip(got, want, strict=True):
                np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10)


def test_small_models_take_one_dense_factorisation_with_the_same_objective(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(8)
    n = 120
    fine = rng.integers(0, 12, n)
    terms = [(fine, 12, 2), (fine // 4, 3, 2), (rng.integers(0, 5, n), 5, 1)]  # q = 35
    blocks, X, y, w, off, lambdas = random_problem(rng, n, terms)
    ws = PlsWorkspace(blocks, X, y, weights=w, offset=off)
    assert ws.q <= factor.SMALL_DENSE
    small = [ws.objective(lambdas, reml) for reml in (True, False)]
    monkeypatch.setattr(factor, "SMALL_DENSE", 0)
    by_blocks = [ws.objective(lambdas, reml) for reml in (True, False)]
    np.testing.assert_allclose(small, by_blocks, rtol=1e-11)
    for reml, value in zip((True, False), small, strict=True):
        ref = dense_reference(blocks, X, y, lambdas, reml, w, off)
        assert value == pytest.approx(ref["objective"], rel=1e-10)


def _route_problem(layout: str) -> tuple[PlsWorkspace, list[np.ndarray]]:
    rng = np.random.default_rng(21)
    n = 150
    if layout.startswith("one term"):
        p, levels = int(layout[-1]), (10 if "small" in layout else 80)
        terms = [(rng.integers(0, levels, n), levels, p)]
    elif layout == "nested and crossed":  # q = 35
        fine = rng.integers(0, 12, n)
        terms = [(fine, 12, 2), (fine // 4, 3, 2), (rng.integers(0, 5, n), 5, 1)]
    else:  # "three crossed scalar", q = 45
        terms = [(rng.integers(0, 30, n), 30, 1), (rng.integers(0, 10, n), 10, 1),
                 (rng.integers(0, 5, n), 5, 1)]  # fmt: skip
    blocks, X, y, w, off, lambdas = random_problem(rng, n, terms)
    return PlsWorkspace(blocks, X, y, weights=w, offset=off), lambdas


@pytest.mark.parametrize(
    ("layout", "route"),
    [
        ("one term, p = 1", factor.Route.ONE_TERM),
        ("one term, p = 2", factor.Route.ONE_TERM),
        ("one term, p = 3", factor.Route.ONE_TERM),
        ("small one term, p = 2", factor.Route.SMALL_DENSE),
        ("nested and crossed", factor.Route.SMALL_DENSE),
        ("three crossed scalar", factor.Route.SMALL_DENSE),
    ],
)
def test_every_route_gives_the_blocked_factor(layout: str, route: factor.Route) -> None:
    """log|L|², the [X y] block's factor, the modes and the conditional variances of the
    model's route equal the blocked factorisation's."""
    ws, T = _route_problem(layout)
    assert factor.route(ws._plan) is route
    fast, slow = factor.factorise(ws._plan, T), blocked.factorise_blocked(ws._plan, T)
    assert fast.ldL2 == pytest.approx(slow.ldL2, rel=1e-12)
    np.testing.assert_allclose(fast.Lxy, slow.Lxy, rtol=1e-11)
    beta = np.array([0.5, -1.0, 2.0])
    for a, b in zip(fast.modes(beta), slow.modes(beta), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    for a, b in zip(fast.relative_condvar(T), slow.relative_condvar(T), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)
