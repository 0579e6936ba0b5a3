"""The gradient of the criterion for scalar terms (lmerpy.solver.gradient), against central
differences of the objective."""

from __future__ import annotations

import numpy as np
import pytest

from lmerpy.solver import fillin
from lmerpy.solver.workspace import PlsWorkspace, ReBlock
from tests.solver.helpers import random_problem


def _scalar_problem(rng: np.random.Generator, layout: str) -> PlsWorkspace:
    n = 400
    if layout == "one term":
        terms = [(rng.integers(0, 40, n), 40, 1)]
    elif layout == "two crossed":
        terms = [(rng.integers(0, 80, n), 80, 1), (rng.integers(0, 12, n), 12, 1)]
    elif layout == "three crossed":  # 62 levels declared: two are unused
        terms = [(rng.integers(0, 60, n), 62, 1), (rng.integers(0, 25, n), 25, 1),
                 (rng.integers(0, 5, n), 5, 1)]  # fmt: skip
    else:  # "nested": the second term's block stays diagonal
        fine = rng.integers(0, 60, n)
        terms = [(fine, 60, 1), (fine // 6, 10, 1)]
    blocks, X, y, w, off, _ = random_problem(rng, n, terms)
    if layout == "two crossed":  # a slope-only term: (0 + x | g)
        blocks[1] = ReBlock(blocks[1].codes, blocks[1].n_levels, rng.normal(size=(n, 1)))
    return PlsWorkspace(blocks, X, y, weights=w, offset=off)


def _central_differences(ws: PlsWorkspace, theta: np.ndarray, reml: bool) -> np.ndarray:
    h = 1e-6
    out = np.empty(theta.size)
    for k in range(theta.size):
        up, down = theta.copy(), theta.copy()
        up[k] += h
        down[k] -= h
        value = [ws.objective([t.reshape(1, 1) for t in v], reml) for v in (up, down)]
        out[k] = (value[0] - value[1]) / (2 * h)
    return out


@pytest.mark.parametrize("layout", ["one term", "two crossed", "three crossed", "nested"])
@pytest.mark.parametrize("reml", [True, False])
def test_gradient_matches_central_differences(layout: str, reml: bool) -> None:
    rng = np.random.default_rng(11)
    ws = _scalar_problem(rng, layout)
    assert ws.has_gradient
    theta = rng.uniform(0.3, 1.5, len(ws._plan.dims))
    value, grad = ws.objective_gradient(theta, reml)
    assert value == pytest.approx(ws.objective([t.reshape(1, 1) for t in theta], reml), rel=1e-12)
    np.testing.assert_allclose(grad, _central_differences(ws, theta, reml), rtol=1e-5, atol=1e-5)


def test_gradient_without_fill_in_maps(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first term's part of the trace from products of factor blocks, not the maps."""
    monkeypatch.setattr(fillin, "_MAX_MAP_ENTRIES", 0)
    rng = np.random.default_rng(11)
    ws = _scalar_problem(rng, "three crossed")
    assert not ws._plan.products
    theta = rng.uniform(0.3, 1.5, 3)
    _, grad = ws.objective_gradient(theta, True)
    np.testing.assert_allclose(grad, _central_differences(ws, theta, True), rtol=1e-5, atol=1e-5)


def test_gradient_is_zero_where_a_theta_is_zero() -> None:
    """The criterion is even in a scalar term's θ: its derivative at 0 is 0."""
    ws = _scalar_problem(np.random.default_rng(3), "two crossed")
    theta = np.array([0.8, 0.0])
    _, grad = ws.objective_gradient(theta, True)
    assert grad[1] == 0.0
    np.testing.assert_allclose(grad[0], _central_differences(ws, theta, True)[0], rtol=1e-5)


def test_gradient_is_offered_only_for_scalar_terms() -> None:
    rng = np.random.default_rng(5)
    blocks, X, y, *_ = random_problem(rng, 200, [(rng.integers(0, 20, 200), 20, 2)])
    assert not PlsWorkspace(blocks, X, y).has_gradient
