"""The deviance function (lmerpy.lmm.deviance): a new response or criterion shares the
cross-products of Z and X, and gives what a deviance function built afresh gives."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import lmerpy
from lmerpy import datasets
from lmerpy.solver import factor


def _crossed(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 1500
    a, b = rng.integers(0, 200, n), rng.integers(0, 30, n)
    x = rng.normal(size=n)
    y = 1 + 0.5 * x + rng.normal(size=200)[a] + 0.5 * rng.normal(size=30)[b] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "a": a.astype(str), "b": b.astype(str),
                         "w": rng.uniform(0.5, 2, n), "o": rng.normal(size=n)})  # fmt: skip


CASES = {
    # one term, factored densely
    "sleepstudy": ("Reaction ~ Days + (Days | Subject)", datasets.load("sleepstudy"), None),
    # one term by its level blocks (130 random effects)
    "exam": ("normexam ~ standLRT + (standLRT | school)", datasets.load("exam"), None),
    # several terms, densely
    "penicillin": ("diameter ~ 1 + (1 | plate) + (1 | sample)", datasets.load("penicillin"), None),
    # several terms, blocked (230 random effects), with prior weights and an offset
    "crossed": ("y ~ x + offset(o) + (1 | a) + (1 | b)", _crossed(3), "w"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_new_response_gives_the_deviance_of_a_fresh_build(name: str) -> None:
    formula, data, weights = CASES[name]
    design = lmerpy.lformula(formula, data, weights=weights)
    devfun = lmerpy.make_deviance(design)
    rng = np.random.default_rng(7)
    thetas = [devfun.start, devfun.start * 0.5 + 0.1]
    before = [devfun(t) for t in thetas]
    y = design.y[rng.permutation(design.nobs)] + rng.normal(size=design.nobs)
    new = dataclasses.replace(design, y=y)
    for reml in (True, False):
        shared, fresh = devfun.refitted(new, reml=reml), lmerpy.make_deviance(new, reml=reml)
        for theta in thetas:
            assert shared(theta) == pytest.approx(fresh(theta), rel=1e-11)
        np.testing.assert_allclose(shared.start, fresh.start, rtol=1e-12)
        np.testing.assert_allclose(
            shared.solve(thetas[1]).beta, fresh.solve(thetas[1]).beta, rtol=1e-10
        )
    assert [devfun(t) for t in thetas] == before  # the original is untouched


def test_the_other_criterion_shares_everything() -> None:
    formula, data, _ = CASES["penicillin"]
    design = lmerpy.lformula(formula, data)
    devfun = lmerpy.make_deviance(design)
    ml = devfun.refitted(reml=False)
    assert ml.workspace is devfun.workspace and not ml.reml and devfun.reml
    theta = devfun.start
    assert ml(theta) == pytest.approx(lmerpy.make_deviance(design, reml=False)(theta), rel=1e-13)


def test_the_routes_used_above_are_the_ones_named() -> None:
    """The cases cover the dense, level-block and blocked routes of the factor."""
    routes = {
        name: factor.route(lmerpy.make_deviance(lmerpy.lformula(f, d, weights=w)).workspace._plan)
        for name, (f, d, w) in CASES.items()
    }
    assert routes == {
        "sleepstudy": factor.Route.SMALL_DENSE,
        "exam": factor.Route.ONE_TERM,
        "penicillin": factor.Route.SMALL_DENSE,
        "crossed": factor.Route.BLOCKED,
    }
