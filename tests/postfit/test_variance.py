"""Nakagawa's R² and the ICC against performance 0.10.2 (``performance::r2_nakagawa(m)``,
``performance::icc(m)``) and the variances behind them (``insight::get_variance(m)``), for
every model of the post-fit corpus, to 1e-3 absolute (the corpus tolerance; measured ~1e-7)."""

from __future__ import annotations

import pytest

import lmerpy
from lmerpy.errors import ArgumentError
from lmerpy.postfit.variance import variance_components

from .corpus import MODELS, data, extra_fit, fit, reference


@pytest.mark.parametrize("model", MODELS)
def test_r2_and_icc_match_performance(model: str) -> None:
    pf = reference(model)["postfit"]
    r2, icc = fit(model).r2(), fit(model).icc()
    for key in ("conditional", "marginal"):
        assert r2[key] == pytest.approx(pf["r2"][key], abs=1e-3)
    for key in ("adjusted", "unadjusted"):
        assert icc[key] == pytest.approx(pf["icc"][key], abs=1e-3)


@pytest.mark.parametrize("model", MODELS)
def test_variance_components_match_insight(model: str) -> None:
    ref = reference(model)["postfit"]["variance_components"]
    v = variance_components(fit(model))
    assert v.fixed == pytest.approx(ref["var.fixed"], rel=1e-3)
    assert v.random == pytest.approx(ref["var.random"], rel=1e-3)
    assert v.residual == pytest.approx(ref["var.residual"], rel=1e-3)


def test_poisson_model_as_performance() -> None:
    """``glmer(TICKS ~ YEAR + (1 | BROOD), grouseticks, poisson)`` (tight control):
    ``r2_nakagawa`` 0.843 / 0.306, ``icc`` 0.774 / 0.537, ``get_variance``'s var.residual
    0.4685527731 (log(1 + 1/μ) of the null model), with performance's warning that μ = 1.7 is
    too close to zero."""
    m = extra_fit("grouse")
    with pytest.warns(lmerpy.errors.LmerpyWarning, match="mu of 1.7"):
        r2, icc = m.r2(), m.icc()
    assert r2["conditional"] == pytest.approx(0.843, abs=1e-3)
    assert r2["marginal"] == pytest.approx(0.306, abs=1e-3)
    assert icc["adjusted"] == pytest.approx(0.774, abs=1e-3)
    assert icc["unadjusted"] == pytest.approx(0.537, abs=1e-3)
    assert variance_components(m).residual == pytest.approx(0.4685527731, rel=1e-5)


def test_unsupported_family_is_a_clear_error() -> None:
    owls = lmerpy.datasets.load("owls")
    m = lmerpy.glmer("SiblingNegotiation ~ FoodTreatment + (1 | Nest)", owls, "nbinom2")
    with pytest.raises(ArgumentError, match="not for nbinom2"):
        m.r2()


def test_random_slopes_enter_through_their_covariates() -> None:
    """Johnson (2014): with (Days | Subject) the random variance grows with Days²; a model
    with the intercept alone has the intercept variance as var.random."""
    intercept_only = lmerpy.lmer("Reaction ~ Days + (1 | Subject)", data("sleepstudy"))
    v = variance_components(intercept_only)
    assert v.random == pytest.approx(intercept_only.varcorr["vcov"].iloc[0], rel=1e-12)
