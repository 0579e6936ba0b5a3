"""Likelihood-ratio tests against lme4's ``anova(m0, m1)`` (tests/reference/*_anova*.json)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import lmerpy
from lmerpy.errors import DataError, LmerpyWarning

REFERENCE = Path(__file__).parents[1] / "reference"


@pytest.mark.parametrize("name", ["exam_anova_intercept_vs_hlm", "sleepstudy_anova"])
def test_lrt_matches_lme4(name: str) -> None:
    ref = json.loads((REFERENCE / f"{name}.json").read_text())
    data = lmerpy.datasets.load(ref["data"])
    m0, m1 = (lmerpy.lmer(f, data) for f in ref["formulas"])
    with pytest.warns(LmerpyWarning, match="refitting model"):
        table = lmerpy.anova(m1, m0, names=["m1", "m0"])  # out of order: sorted by npar
    assert list(table.columns) == [
        "npar", "AIC", "BIC", "logLik", "deviance", "Chisq", "Df", "Pr(>Chisq)",
    ]  # fmt: skip
    assert list(table.index) == ["m0", "m1"]
    assert table["npar"].tolist() == ref["npar"]
    np.testing.assert_allclose(table["AIC"], ref["AIC"], atol=1e-3)
    np.testing.assert_allclose(table["BIC"], ref["BIC"], atol=1e-3)
    np.testing.assert_allclose(table["logLik"], ref["logLik"], atol=1e-3)
    np.testing.assert_allclose(table["deviance"], ref["deviance"], atol=1e-3)
    assert table["Chisq"].iloc[1] == pytest.approx(ref["chisq"], abs=1e-3)
    assert table["Df"].iloc[1] == ref["df"]
    assert table["Pr(>Chisq)"].iloc[1] == pytest.approx(ref["p"], rel=1e-2)


def test_different_data_are_refused() -> None:
    data = lmerpy.datasets.load("sleepstudy")
    m0 = lmerpy.lmer("Reaction ~ Days + (1 | Subject)", data)
    m1 = lmerpy.lmer("Reaction ~ Days + (1 | Subject)", data.iloc[:170])
    with pytest.raises(DataError, match="same data"):
        lmerpy.anova(m0, m1, refit=False)


def test_non_nested_models_are_flagged() -> None:
    data = lmerpy.datasets.load("exam")
    a = lmerpy.lmer("normexam ~ standLRT + (1 | school)", data, reml=False)
    b = lmerpy.lmer("normexam ~ sex + schgend + (1 | school)", data, reml=False)
    with pytest.warns(LmerpyWarning, match="not look nested"):
        lmerpy.anova(a, b)
