"""Interactions without their margins, coded as R's ``model.matrix`` codes them: lme4 1.1-31's
``fixef(m)`` names and values and ``REMLcrit(m)`` for ``m <- lmer(f, cake)`` (cake with
``temperature`` a plain factor, tests/reference/postfit/data/cake.csv), and predictions on new
data with the training levels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lmerpy

ROOT = "tests/reference/postfit/data/cake.csv"
CELLS = [f"recipe{r}:temperature{t}" for t in (175, 185, 195, 205, 215, 225) for r in "ABC"]
CASES = {
    # formula: (number of fixed effects, names (first and last three), first three values, REMLcrit)
    "angle ~ recipe:temperature + (1|replicate)": (
        ["(Intercept)", *CELLS[:17]], [35.733333333, -6.6, -8.866666667], 1603.431870),
    "angle ~ temp + recipe:temperature + (1|replicate)": (
        ["(Intercept)", "temp", *[c for c in CELLS if c not in
                                  ("recipeC:temperature215", "recipeC:temperature225")]],
        [5.7333333331, 0.1333333333, 0.0666666667], 1608.037041),
    "angle ~ recipe + recipe:temperature + (1|replicate)": (
        ["(Intercept)", "recipeB", "recipeC", *CELLS[3:]],
        [29.133333333, -2.266666667, -1.2], 1603.431870),
}  # fmt: skip


@pytest.mark.parametrize("formula", list(CASES))
def test_columns_as_r(formula: str) -> None:
    names, values, crit = CASES[formula]
    m = lmerpy.lmer(formula, lmerpy.datasets.read_csv(ROOT))
    assert list(m.fixef.index) == names
    np.testing.assert_allclose(m.fixef.iloc[:3], values, rtol=1e-8)
    assert m.objective == pytest.approx(crit, abs=1e-5)


def test_new_data_keep_the_training_levels() -> None:
    data = lmerpy.datasets.read_csv(ROOT)
    m = lmerpy.lmer("angle ~ recipe:temperature + (1|replicate)", data)
    rows = data.iloc[[0, 7, 100]]
    np.testing.assert_allclose(
        m.predict(rows, re_form="~0"), m.predict(re_form="~0").iloc[[0, 7, 100]]
    )
    bad = rows.assign(recipe=pd.Categorical(["Z", "A", "B"], categories=["A", "B", "C", "Z"]))
    with pytest.raises(lmerpy.errors.DataError, match="levels the fit never saw"):
        m.predict(bad, re_form="~0")
