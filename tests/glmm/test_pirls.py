"""PIRLS's warm start (glmm/pirls.py): the previous evaluation's random effects carried to the
next θ reach the modes and deviance of a cold start from lme4's starting means."""

from __future__ import annotations

import numpy as np
import pytest

import lmerpy
from tests.fits import data

CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
VERBAGG = "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)"


def _devfun(formula: str, name: str) -> lmerpy.GlmmDeviance:
    design, trials = lmerpy.glformula(formula, data(name), "binomial")
    return lmerpy.GlmmDeviance(design, lmerpy.binomial(), trials)


@pytest.mark.parametrize(
    ("formula", "name", "before", "after"),
    [(CBPP, "cbpp", [0.3], [0.9]), (VERBAGG, "verbagg", [1.5, 0.2], [1.0, 0.5])],
)
def test_a_warm_start_reaches_the_cold_start_modes(
    formula: str, name: str, before: list[float], after: list[float]
) -> None:
    warm, cold = _devfun(formula, name), _devfun(formula, name)
    warm.eta_tol = cold.eta_tol = 1e-12  # both converge far past the deviance's tolerance
    warm.profiled(before)
    last, lambdas = warm._last, warm.layout.lambdas(after)
    start = warm._warm_start(lambdas)
    assert last is not None and start is not None
    np.testing.assert_allclose(warm.effects.b(lambdas, start.u), last.b, rtol=1e-12, atol=1e-14)
    assert warm.profiled(after) == pytest.approx(cold.profiled(after), rel=1e-10)
    a, b = warm._last, cold._last
    assert a is not None and b is not None
    np.testing.assert_allclose(a.u, b.u, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(a.beta, b.beta, rtol=1e-6, atol=1e-7)


def test_a_variance_at_zero_keeps_the_previous_u() -> None:
    devfun = _devfun(CBPP, "cbpp")
    devfun.profiled([0.5])
    last = devfun._last
    start = devfun._warm_start(devfun.layout.lambdas([0.0]))
    assert start is last  # b = 0·u says nothing of u
    assert np.isfinite(devfun.profiled([0.0]))
