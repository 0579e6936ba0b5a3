"""predict and simulate against lme4's predictions (tests/reference/*.json, key ``predict``:
``predict(m, newdata, allow.new.levels = TRUE)`` and ``predict(m, newdata, re.form = NA)``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmerpy
from lmerpy.errors import DataError, FormulaSemanticError, MissingColumnError

REFERENCE = Path(__file__).parents[1] / "reference"


@pytest.fixture(scope="module", params=["exam_hlm", "sleepstudy_corr"])
def case(request: pytest.FixtureRequest) -> tuple[lmerpy.LmerResult, dict]:
    ref = json.loads((REFERENCE / f"{request.param}.json").read_text())
    return lmerpy.lmer(ref["formula"], lmerpy.datasets.load(ref["data"])), ref


def test_predictions_with_random_effects_and_new_levels(case: tuple) -> None:
    fit, ref = case
    newdata = pd.DataFrame(ref["predict"]["newdata"])
    got = fit.predict(newdata, allow_new_levels=True)
    np.testing.assert_allclose(got, ref["predict"]["with_re"], rtol=1e-4, atol=1e-4 * fit.sigma)
    assert list(got.index) == list(newdata.index)


@pytest.mark.parametrize("re_form", ["~0", "~ 0", False, "NA"])
def test_population_level_predictions(case: tuple, re_form: str | bool) -> None:
    fit, ref = case
    newdata = pd.DataFrame(ref["predict"]["newdata"])
    got = fit.predict(newdata, re_form=re_form)  # never raises for new levels
    np.testing.assert_allclose(got, ref["predict"]["fixed_only"], rtol=1e-4, atol=1e-4 * fit.sigma)


def test_new_levels_are_an_error_naming_them_unless_allowed(case: tuple) -> None:
    fit, ref = case
    newdata = pd.DataFrame(ref["predict"]["newdata"])
    with pytest.raises(DataError, match=r"new levels of \w+ in newdata: (no_such_school|new_sub)"):
        fit.predict(newdata)


def test_without_newdata_predict_is_fitted() -> None:
    fit = lmerpy.lmer("Reaction ~ Days + (Days | Subject)", lmerpy.datasets.load("sleepstudy"))
    pd.testing.assert_series_equal(fit.predict(), fit.fitted, check_names=False)
    X = fit.design.X
    np.testing.assert_allclose(fit.predict(re_form="~0"), X @ fit.fixef.to_numpy())


def test_re_form_selects_terms() -> None:
    data = lmerpy.datasets.load("penicillin")
    fit = lmerpy.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", data)
    plate_only = fit.predict(data, re_form="~ (1 | plate)")
    expected = fit.fixef.iloc[0] + fit.ranef["plate"]["(Intercept)"].loc[data["plate"].astype(str)]
    np.testing.assert_allclose(plate_only, expected.to_numpy())
    with pytest.raises(FormulaSemanticError, match="not \\(part of\\) a random-effect term"):
        fit.predict(data, re_form="~ (1 | nope)")


def test_missing_newdata_column_is_named() -> None:
    fit = lmerpy.lmer("Reaction ~ Days + (Days | Subject)", lmerpy.datasets.load("sleepstudy"))
    with pytest.raises(MissingColumnError, match="Days"):
        fit.predict(pd.DataFrame({"Subject": ["308"]}))


def test_simulate_reproduces_with_a_seed_and_has_the_model_variance() -> None:
    fit = lmerpy.lmer("Reaction ~ Days + (Days | Subject)", lmerpy.datasets.load("sleepstudy"))
    a, b = fit.simulate(3, seed=7), fit.simulate(3, seed=7)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == ["sim_1", "sim_2", "sim_3"] and len(a) == 180
    big = fit.simulate(400, seed=1).to_numpy()
    # Var(y) at Days = 0 is var(intercept) + sigma^2 = 612.10 + 654.94 (lme4's VarCorr)
    day0 = lmerpy.datasets.load("sleepstudy")["Days"].to_numpy() == 0
    assert big[day0].var() == pytest.approx(612.10 + 654.94, rel=0.15)


def test_re_form_may_keep_part_of_a_term_as_lme4() -> None:
    """``predict(lmer(Reaction ~ Days + (Days | Subject), sleepstudy), nd, re.form = ...)``
    with nd = (Days 0, 5, 9; Subject 308, 309, 372), lme4 1.1-31: ``~(1|Subject)`` keeps the
    intercept deviations alone, ``~(0 + Days|Subject)`` the slopes alone; and on Pastes'
    ``(1 | batch/cask)``, ``re.form = ~1 | batch`` (no parentheses) the batch effects alone."""
    sleep = lmerpy.lmer("Reaction ~ Days + (Days | Subject)", lmerpy.datasets.load("sleepstudy"))
    nd = pd.DataFrame({"Days": [0.0, 5.0, 9.0], "Subject": ["308", "309", "372"]})
    expected = {
        "~(1|Subject)": [253.663655798, 263.342796568, 357.925270593],
        "~(0 + Days|Subject)": [251.405104848, 260.643131570, 357.166877174],
        "~(Days|Subject)": [253.663655798, 220.244393491, 369.481469281],
    }
    for re_form, values in expected.items():
        np.testing.assert_allclose(sleep.predict(nd, re_form=re_form), values, rtol=2e-6)
    pastes = lmerpy.lmer("strength ~ 1 + (1 | batch/cask)", lmerpy.datasets.load("pastes"))
    nd2 = pd.DataFrame({"batch": ["A", "B"], "cask": ["a", "b"]})
    np.testing.assert_allclose(
        pastes.predict(nd2, re_form="~(1 | batch/cask)"), [62.6286646387, 57.2997301728], rtol=2e-6
    )
    np.testing.assert_allclose(
        pastes.predict(nd2, re_form="~1 | batch"), [60.8539783534, 59.7808246368], rtol=2e-6
    )
