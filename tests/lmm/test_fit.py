"""lmer and the four modular steps (lme4's modular.Rd: both paths give the same fit)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lmerpy
from lmerpy import datasets


def test_modular_steps_give_the_same_fit_as_lmer() -> None:
    data = datasets.load("sleepstudy")
    formula = "Reaction ~ Days + (Days | Subject)"
    design = lmerpy.lformula(formula, data)
    devfun = lmerpy.make_deviance(design, reml=True)
    record = lmerpy.optimize_deviance(devfun, lower=devfun.lower, start=devfun.start)
    stepwise = lmerpy.make_result(devfun, record)
    direct = lmerpy.lmer(formula, data)
    assert stepwise.reml_criterion == direct.reml_criterion
    np.testing.assert_array_equal(stepwise.theta, direct.theta)
    np.testing.assert_array_equal(stepwise.fixef, direct.fixef)


def test_deviance_function_at_lme4s_optimum() -> None:
    design = lmerpy.lformula("Reaction ~ Days + (Days | Subject)", datasets.load("sleepstudy"))
    devfun = lmerpy.make_deviance(design)
    # lme4 1.1-31: getME(m, "theta") and REMLcrit(m) for lmer(Reaction ~ Days + (Days | Subject))
    theta = [0.966741773967412, 0.0151690588960361, 0.230909953207795]
    assert devfun(theta) == pytest.approx(1743.62827195995, abs=1e-6)
    assert devfun.evaluations == 1
    assert devfun.theta_names == ["Subject.(Intercept)", "Subject.Days.(Intercept)", "Subject.Days"]


def test_a_user_supplied_optimizer_loop_can_drive_the_deviance() -> None:
    from scipy.optimize import minimize_scalar

    design = lmerpy.lformula("Yield ~ 1 + (1 | Batch)", datasets.load("dyestuff"))
    devfun = lmerpy.make_deviance(design)
    best = minimize_scalar(lambda t: devfun([t]), bounds=(0, 10), method="bounded")
    # lme4 1.1-31: REMLcrit(lmer(Yield ~ 1 + (1 | Batch), Dyestuff))
    assert best.fun == pytest.approx(319.654276842257, abs=1e-4)


def test_scalar_terms_have_an_exact_gradient_and_fit_with_it() -> None:
    data = datasets.load("penicillin")
    formula = "diameter ~ 1 + (1 | plate) + (1 | sample)"
    devfun = lmerpy.make_deviance(lmerpy.lformula(formula, data))
    assert devfun.has_gradient
    value, _ = devfun.value_and_gradient([1.0, 2.0])
    assert value == pytest.approx(devfun([1.0, 2.0]), rel=1e-12)
    fit, slow = lmerpy.lmer(formula, data, optimizer="lbfgsb"), lmerpy.lmer(formula, data)
    assert (fit.record.optimizer, slow.record.optimizer) == ("lbfgsb", "bobyqa")
    assert fit.record.evaluations < slow.record.evaluations
    # lme4 1.1-31: REMLcrit(lmer(diameter ~ 1 + (1 | plate) + (1 | sample), Penicillin))
    assert fit.reml_criterion <= 330.860588999604 + 1e-7
    assert fit.reml_criterion <= slow.reml_criterion + 1e-7  # BOBYQA stops within ftol 1e-8


def test_auto_takes_the_gradient_where_a_dense_block_makes_evaluations_costly() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.integers(0, 600, 3000), rng.integers(0, 150, 3000)
    y = rng.normal(size=600)[a] + rng.normal(size=150)[b] + rng.normal(size=3000)
    frame = pd.DataFrame({"y": y, "a": a, "b": b})
    fit = lmerpy.lmer("y ~ 1 + (1 | a) + (1 | b)", frame)
    assert fit.devfun.prefers_gradient and fit.record.optimizer == "lbfgsb"
    slow = lmerpy.lmer("y ~ 1 + (1 | a) + (1 | b)", frame, optimizer="bobyqa")
    assert fit.reml_criterion <= slow.reml_criterion + 1e-8


def test_vector_terms_have_no_gradient_and_fit_by_bobyqa() -> None:
    fit = lmerpy.lmer("Reaction ~ Days + (Days | Subject)", datasets.load("sleepstudy"))
    assert not fit.devfun.has_gradient and fit.record.optimizer == "bobyqa"
    with pytest.raises(ValueError, match="every term is scalar"):
        fit.devfun.value_and_gradient(fit.theta)


def test_ml_and_reml_differ_as_lme4s() -> None:
    data = datasets.load("dyestuff")
    ml = lmerpy.lmer("Yield ~ 1 + (1 | Batch)", data, reml=False)
    # lme4 1.1-31: deviance(lmer(Yield ~ 1 + (1 | Batch), Dyestuff, REML = FALSE))
    assert ml.deviance == pytest.approx(327.327059881135, abs=1e-4)
    assert ml.reml_criterion is None


def test_unknown_optimizer_is_a_clear_error() -> None:
    match = "unknown optimizer 'Nelder_Mead'; choose from auto, bobyqa, lbfgsb, newton"
    with pytest.raises(ValueError, match=match):
        lmerpy.lmer("Yield ~ 1 + (1 | Batch)", datasets.load("dyestuff"), optimizer="Nelder_Mead")


def test_refit_with_the_same_response_gives_the_same_fit() -> None:
    fit = lmerpy.lmer("Reaction ~ Days + (Days | Subject)", datasets.load("sleepstudy"))
    again = fit.refit(fit.design.y)
    assert again.reml_criterion == pytest.approx(fit.reml_criterion, abs=1e-8)


def test_refit_ml_equals_an_ml_fit() -> None:
    data = datasets.load("sleepstudy")
    ml = lmerpy.lmer("Reaction ~ Days + (Days | Subject)", data).refit_ml()
    # lme4 1.1-31: deviance(lmer(Reaction ~ Days + (Days | Subject), sleepstudy, REML = FALSE))
    assert ml.deviance == pytest.approx(1751.93934446321, abs=1e-4)
    assert not ml.reml


def test_refit_checks_the_new_response() -> None:
    fit = lmerpy.lmer("Yield ~ 1 + (1 | Batch)", datasets.load("dyestuff"))
    with pytest.raises(lmerpy.errors.DataError, match="30 finite numbers"):
        fit.refit(np.ones(3))


def test_update_with_dots_drops_a_term() -> None:
    data = datasets.load("sleepstudy")
    fit = lmerpy.lmer("Reaction ~ Days + (Days | Subject)", data)
    smaller = fit.update(". ~ . - Days")
    assert smaller.design.spec.formula == "Reaction ~ 1 + (1 + Days | Subject)"
    direct = lmerpy.lmer("Reaction ~ 1 + (Days | Subject)", data)
    assert smaller.reml_criterion == pytest.approx(direct.reml_criterion, abs=1e-8)
    assert fit.update(reml=False).deviance == pytest.approx(1751.93934446321, abs=1e-4)


def test_warnings_point_at_the_callers_line() -> None:
    with pytest.warns(lmerpy.errors.SingularFitWarning) as record:
        lmerpy.lmer("Yield ~ 1 + (1 | Batch)", datasets.load("dyestuff2"))
    assert record[0].filename == __file__


def test_random_term_without_parentheses_as_lme4() -> None:
    """``lmer(Reaction ~ Days | Subject, sleepstudy)``: lme4 1.1-31 reads the whole right-hand
    side as the term, fixed part the intercept alone: fixef 257.7622, REMLcrit 1769.845, θ
    (0.99747210, -0.08493433, 0.45822838). ``lmer(Yield ~ 1|Batch, Dyestuff)``: REMLcrit
    319.6543."""
    m = lmerpy.lmer("Reaction ~ Days | Subject", lmerpy.datasets.load("sleepstudy"))
    assert list(m.fixef.index) == ["(Intercept)"]
    assert m.fixef.iloc[0] == pytest.approx(257.7622, abs=1e-3)
    assert m.objective == pytest.approx(1769.845, abs=1e-3)
    np.testing.assert_allclose(m.theta, [0.99747210, -0.08493433, 0.45822838], atol=1e-4)
    d = lmerpy.lmer("Yield ~ 1|Batch", lmerpy.datasets.load("dyestuff"))
    assert d.objective == pytest.approx(319.6543, abs=1e-3)


def test_logical_covariates_are_factors_as_in_r() -> None:
    """``d$wk <- d$Days > 4; lmer(Reaction ~ wk + I(Days > 3) + (1|Subject), d)`` (lme4
    1.1-31): fixef (Intercept) 267.3753680556, wkTRUE 36.7361822222, I(Days > 3)TRUE
    21.2740541667; REMLcrit 1801.92739371; predict at (wk TRUE, Days 5) and (FALSE, 1), Subject
    308: 365.667873185, 307.657636796."""
    d = lmerpy.datasets.load("sleepstudy")
    d["wk"] = d["Days"] > 4
    m = lmerpy.lmer("Reaction ~ wk + I(Days > 3) + (1|Subject)", d)
    assert list(m.fixef.index) == ["(Intercept)", "wkTRUE", "I(Days > 3)TRUE"]
    np.testing.assert_allclose(m.fixef, [267.3753680556, 36.7361822222, 21.2740541667], rtol=1e-6)
    assert m.objective == pytest.approx(1801.92739371, abs=1e-4)
    nd = pd.DataFrame({"wk": [True, False], "Days": [5.0, 1.0], "Subject": ["308", "308"]})
    np.testing.assert_allclose(m.predict(nd), [365.667873185, 307.657636796], rtol=1e-6)
    assert list(m.emmeans("wk").table["wk"]) == ["FALSE", "TRUE"]
