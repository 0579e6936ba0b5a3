"""``lm``: R's ``lm()`` numbers, lmerpy's formulas, data handling and errors.

References: ``reference/exam_ols.json`` (the report's OLS model) and
``reference/report/lm_reference.json`` (``lm_reference.R``: factors, an interaction, an
offset, missing values). Tolerance: 1e-9 relative (least squares has one answer).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmerpy
from lmerpy.errors import (
    DataError,
    FormulaSemanticError,
    MissingColumnError,
    RankDeficiencyWarning,
    RowsDroppedWarning,
)
from lmerpy.kaplan2010.ols import OlsResult, lm

REFERENCE = Path(__file__).parents[1] / "reference"
EXAM_OLS = json.loads((REFERENCE / "exam_ols.json").read_text())
LM_REFERENCE = json.loads((REFERENCE / "report" / "lm_reference.json").read_text())
REL = 1e-9


def exam() -> pd.DataFrame:
    d = lmerpy.datasets.load("exam")
    d["off"] = 0.1 * d["schavg"]
    d["lrt_na"] = d["standLRT"]
    d.loc[[2, 49, 399], "lrt_na"] = np.nan  # R's rows 3, 50, 400
    return d


def test_the_reports_ols_model_matches_r() -> None:
    m = lm(EXAM_OLS["formula"], exam())
    assert m.coef.to_dict() == pytest.approx(EXAM_OLS["coef"], rel=REL)
    assert m.se.tolist() == pytest.approx(EXAM_OLS["se"], rel=REL)
    assert m.sigma == pytest.approx(EXAM_OLS["sigma"], rel=REL)
    assert m.loglik == pytest.approx(EXAM_OLS["logLik"], rel=REL)
    assert m.residuals.std() == pytest.approx(EXAM_OLS["resid_sd"], rel=REL)
    assert m.coefficients is m.coef


@pytest.mark.parametrize("ref", LM_REFERENCE, ids=lambda r: r["formula"])
def test_matches_r_lm(ref: dict) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RowsDroppedWarning)
        m = lm(ref["formula"], exam())
    assert list(m.coef.index) == list(ref["coef"])
    table = m.coef_table()
    assert list(table.columns) == ["Estimate", "Std. Error", "t value", "Pr(>|t|)"]
    for name in ref["coef"]:
        assert table.loc[name, "Estimate"] == pytest.approx(ref["coef"][name], rel=REL)
        assert table.loc[name, "Std. Error"] == pytest.approx(ref["se"][name], rel=REL)
        assert table.loc[name, "t value"] == pytest.approx(ref["t"][name], rel=REL)
        assert table.loc[name, "Pr(>|t|)"] == pytest.approx(ref["p"][name], rel=1e-6, abs=1e-300)
    assert m.sigma == pytest.approx(ref["sigma"], rel=REL)
    assert (m.df_residual, m.nobs) == (ref["df_residual"], ref["nobs"])
    assert m.loglik == pytest.approx(ref["logLik"], rel=REL)
    assert m.aic == pytest.approx(ref["AIC"], rel=REL)
    assert m.bic == pytest.approx(ref["BIC"], rel=REL)
    assert m.fitted.iloc[:5].tolist() == pytest.approx(ref["fitted_head"], rel=REL)


def test_fitted_plus_residuals_is_the_response() -> None:
    m = lm("normexam ~ standLRT + offset(off)", exam())
    np.testing.assert_allclose(m.fitted + m.residuals, exam()["normexam"], atol=1e-12)
    assert m.npar == 3 and m.rank == 2


def test_missing_values_are_dropped_with_lmerpys_warning() -> None:
    with pytest.warns(RowsDroppedWarning, match="3 of 4059 rows dropped"):
        m = lm("normexam ~ lrt_na", exam())
    assert m.nobs == 4056 and m.dropped_rows == 3
    assert 2 not in m.residuals.index and 3 in m.residuals.index
    complete = lm("normexam ~ lrt_na", exam().dropna(subset=["lrt_na"]))
    np.testing.assert_allclose(m.coef, complete.coef, rtol=1e-12)


def test_aliased_column_gets_nan_as_r_gives_na() -> None:
    d = exam().assign(lrt2=lambda x: 2 * x["standLRT"])
    with pytest.warns(RankDeficiencyWarning, match="lrt2"):
        m = lm("normexam ~ standLRT + lrt2", d)
    assert np.isnan(m.coef["lrt2"]) and list(m.coef_table().index) == ["(Intercept)", "standLRT"]
    np.testing.assert_allclose(m.coef.iloc[:2], lm("normexam ~ standLRT", d).coef, rtol=1e-12)


def test_random_terms_are_refused_with_a_pointer_to_lmer() -> None:
    formula = "normexam ~ standLRT + (standLRT | school)"
    with pytest.raises(FormulaSemanticError, match=r"use lmerpy\.lmer") as info:
        lm(formula, exam())
    assert "standLRT | school" in formula[info.value.pos : info.value.end]
    assert "^" in str(info.value)


def test_other_errors_are_lmerpy_errors() -> None:
    with pytest.raises(FormulaSemanticError, match="no response"):
        lm("~ standLRT", exam())
    with pytest.raises(MissingColumnError, match="standLRX"):
        lm("normexam ~ standLRX", exam())
    with pytest.raises(DataError, match="DataFrame"):
        lm("normexam ~ standLRT", exam().to_dict())  # type: ignore[arg-type]
    with pytest.raises(DataError, match="numeric"):
        lm("school ~ standLRT", exam())


def test_accepts_a_parsed_formula_and_prints() -> None:
    spec = lmerpy.parse_formula("normexam ~ standLRT")
    m = lm(spec, exam())
    assert isinstance(m, OlsResult)
    assert repr(m) == "<OlsResult 'normexam ~ standLRT': sigma 0.80544, 4059 obs>"
    assert m.vcov.shape == (2, 2) and m.X.shape == (4059, 2) and m.x_columns == list(m.coef.index)


def test_no_intercept_and_empty_model() -> None:
    d = exam()
    m = lm("normexam ~ 0 + standLRT", d)
    x, y = d["standLRT"].to_numpy(), d["normexam"].to_numpy()
    assert m.coef["standLRT"] == pytest.approx(x @ y / (x @ x), rel=1e-12)
    empty = lm("normexam ~ 0", d)
    assert empty.coef.empty and empty.fitted.eq(0).all()
    assert empty.sigma == pytest.approx(np.sqrt(np.mean(y**2)), rel=1e-12)


def test_docstring_examples_run() -> None:
    import doctest

    import lmerpy.kaplan2010.ols as module

    assert doctest.testmod(module).failed == 0
