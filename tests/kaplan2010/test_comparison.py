"""``compare``: fit criteria side by side (Kaplan 2010, Table 4.2) and group coefficients
against level-1 intervals (Table 4.1). The report's own tables are in test_report.py.

Reference: ``reference/report/report_lme4.json`` (lme4 1.1-31 and R's lm). Tolerances:
1e-6 relative for criteria and SDs (optimizer tolerance), exact for what is copied.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmerpy
from lmerpy.errors import DataError
from lmerpy.kaplan2010.comparison import ModelComparison, compare
from lmerpy.kaplan2010.level1 import Level1Intervals, level1_intervals
from lmerpy.kaplan2010.ols import OlsResult, lm
from lmerpy.lmm.result import LmerResult

LME4 = json.loads((Path(__file__).parents[1] / "reference/report/report_lme4.json").read_text())
NAMES = ["OLS", "Var. Interc.", "Var. Slope", "HLM"]
FORMULAS = [
    "normexam ~ standLRT",
    "normexam ~ standLRT + (1 | school)",
    "normexam ~ standLRT + (standLRT - 1 | school)",
    "normexam ~ standLRT + (standLRT | school)",
]


@cache
def exam() -> pd.DataFrame:
    return lmerpy.datasets.load("exam")


@cache
def fits() -> tuple[OlsResult | LmerResult, ...]:
    return (lm(FORMULAS[0], exam()), *(lmerpy.lmer(f, exam()) for f in FORMULAS[1:]))


@cache
def four() -> ModelComparison:
    return compare(*fits(), names=NAMES)


def test_table_matches_r() -> None:
    table = four().table
    assert list(table.columns) == [
        "formula", "method", "nobs", "npar", "sigma", "resid_sd", "loglik", "aic", "bic",
    ]  # fmt: skip
    assert table["method"].tolist() == ["lm", "REML", "REML", "REML"]
    assert table["npar"].tolist() == [3, 4, 4, 6]
    assert table["formula"].tolist() == FORMULAS
    for name, key in zip(NAMES, ["m0", "m1", "m2", "m3"], strict=True):
        ref = LME4[key]
        row = table.loc[name]
        assert row["nobs"] == 4059
        assert row["resid_sd"] == pytest.approx(ref["resid_sd"], rel=1e-6)
        assert row["sigma"] == pytest.approx(ref["sigma"], rel=1e-6)
        assert row["loglik"] == pytest.approx(ref["logLik"], rel=1e-9)
        assert row["aic"] == pytest.approx(ref["AIC"], rel=1e-9)
        assert row["bic"] == pytest.approx(ref["BIC"], rel=1e-9)
    assert str(four()).splitlines()[0].split()[:2] == ["method", "nobs"]
    assert repr(four()) == "<ModelComparison of OLS, Var. Interc., Var. Slope, HLM>"


def test_default_intervals_are_those_of_the_widest_mixed_model() -> None:
    comparison = four()
    assert isinstance(comparison.intervals, Level1Intervals)
    expected = level1_intervals(fits()[3]).table
    coefficients = comparison.coefficients
    assert list(coefficients.columns) == ["lower", "upper", *NAMES]
    assert coefficients.index.names == ["term", "group"]
    assert coefficients.index.get_level_values("term")[:65].unique().tolist() == ["(Intercept)"]
    bounds = expected.set_index(["term", "group"]).loc[coefficients.index]
    np.testing.assert_array_equal(coefficients[["lower", "upper"]], bounds[["lower", "upper"]])


def test_group_coefficients_are_each_models_coefficients() -> None:
    coefficients = four().coefficients
    m0, m1, m2, m3 = fits()
    for term in ["(Intercept)", "standLRT"]:
        part = coefficients.loc[term]
        np.testing.assert_array_equal(part["OLS"], m0.coef[term])
        for name, m in [("Var. Interc.", m1), ("Var. Slope", m2), ("HLM", m3)]:
            assert isinstance(m, LmerResult)
            coef = m.coef["school"].loc[part.index, term]
            np.testing.assert_allclose(part[name], coef, atol=1e-12)


def test_outside_flags_follow_the_bounds() -> None:
    comparison = four()
    c = comparison.coefficients
    for name in NAMES:
        expected = (c[name] < c["lower"]) | (c[name] > c["upper"])
        pd.testing.assert_series_equal(comparison.outside[name], expected, check_names=False)
    assert not comparison.outside["HLM"].any()  # β*_j is the centre of its own interval
    assert comparison.outside["OLS"].sum() > comparison.outside["Var. Interc."].sum()


def test_intervals_may_be_given_as_a_frame() -> None:
    frame = pd.DataFrame(
        {"group": ["28", "28"], "term": ["standLRT", "(Intercept)"],
         "lower": [0.0, -1.0], "upper": [0.58, 0.0]}
    )  # fmt: skip
    comparison = compare(*fits(), names=NAMES, intervals=frame)
    assert comparison.intervals is None
    assert comparison.coefficients.index.tolist() == [("standLRT", "28"), ("(Intercept)", "28")]
    assert comparison.outside.loc[("standLRT", "28")].tolist() == [True, False, True, False]
    with pytest.raises(DataError, match="upper"):
        compare(*fits(), intervals=frame.drop(columns="upper"))


def test_cross_level_model_contributes_its_level_1_coefficients() -> None:
    m = lmerpy.lmer("normexam ~ standLRT * schavg + (standLRT | school)", exam())
    comparison = compare(fits()[0], m, names=["OLS", "level 2"])
    ci = level1_intervals(m)
    ours = comparison.coefficients["level 2"].unstack("term")[ci.terms].loc[ci.levels]
    np.testing.assert_allclose(ours, ci.beta_star, atol=1e-12)
    coef_slope = m.coef["school"]["standLRT"]  # fixef + ranef: without the schavg term
    assert np.abs(ours["standLRT"] - coef_slope).max() > 0.01


def test_models_without_the_grouping_factor_are_pooled() -> None:
    ml = lmerpy.lmer("normexam ~ standLRT + (1 | vr)", exam(), reml=False)
    comparison = compare(fits()[3], ml, names=["HLM", "by vr"])
    assert comparison.table.loc["by vr", "method"] == "ML"
    slope = comparison.coefficients.loc["standLRT", "by vr"]
    np.testing.assert_array_equal(slope, ml.fixef["standLRT"])


def test_only_ols_fits() -> None:
    comparison = compare(fits()[0], lm("normexam ~ standLRT + sex", exam()))
    assert comparison.intervals is None and comparison.coefficients.empty
    assert comparison.table.index.tolist() == ["normexam ~ standLRT", "normexam ~ standLRT + sex"]


def test_bad_arguments_are_data_errors() -> None:
    with pytest.raises(DataError, match="at least one"):
        compare()
    with pytest.raises(DataError, match="2 names for 4 fits"):
        compare(*fits(), names=["a", "b"])
    with pytest.raises(DataError, match="must differ"):
        compare(fits()[0], fits()[0])
    with pytest.raises(DataError, match="not str"):
        compare("normexam ~ standLRT")  # type: ignore[arg-type]


def test_docstring_examples_run() -> None:
    import doctest
    import importlib

    module = importlib.import_module(
        "lmerpy.kaplan2010.comparison"
    )  # the package exports a function named compare
    assert doctest.testmod(module).failed == 0
