"""lformula: the design of a model on data, as lme4's lFormula builds it."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import lmerpy
from lmerpy import datasets, lformula
from lmerpy.errors import (
    DataError,
    FormulaSemanticError,
    MissingColumnError,
    RankDeficiencyWarning,
    RowsDroppedWarning,
)


def test_terms_are_ordered_by_decreasing_levels() -> None:
    design = lformula("diameter ~ 1 + (1 | sample) + (1 | plate)", datasets.load("penicillin"))
    # lme4 1.1-31: names(getME(m, "flist")) for the same model: plate (24), sample (6)
    assert [t.group for t in design.terms] == ["plate", "sample"]


def test_missing_values_drop_rows_with_a_warning_and_a_count() -> None:
    data = datasets.load("sleepstudy")
    data.loc[[0, 5], "Reaction"] = np.nan
    data.loc[7, "Subject"] = np.nan
    with pytest.warns(RowsDroppedWarning, match="3 of 180 rows"):
        design = lformula("Reaction ~ Days + (Days | Subject)", data)
    assert design.nobs == 177 and design.dropped_rows == 3
    assert 0 not in design.rows and 7 not in design.rows
    assert any("3 of 180" in m for m in design.messages)


def test_fit_with_missing_values_equals_fit_on_complete_cases() -> None:
    data = datasets.load("sleepstudy")
    data.loc[[3, 50, 90], "Days"] = np.nan
    with pytest.warns(RowsDroppedWarning):
        fit = lmerpy.lmer("Reaction ~ Days + (Days | Subject)", data)
    clean = lmerpy.lmer("Reaction ~ Days + (Days | Subject)", data.dropna())
    assert fit.reml_criterion == pytest.approx(clean.reml_criterion, abs=1e-8)


def test_rank_deficient_columns_are_dropped_with_a_warning() -> None:
    data = datasets.load("sleepstudy").assign(Days2=lambda d: 2 * d["Days"])
    with pytest.warns(RankDeficiencyWarning, match="dropping 1 column / coefficient: Days2"):
        fit = lmerpy.lmer("Reaction ~ Days + Days2 + (1 | Subject)", data)
    assert list(fit.fixef.index) == ["(Intercept)", "Days"]
    plain = lmerpy.lmer("Reaction ~ Days + (1 | Subject)", data)
    assert fit.reml_criterion == pytest.approx(plain.reml_criterion, abs=1e-8)


def test_weights_by_column_name_or_array_agree() -> None:
    cbpp = datasets.load("cbpp")
    by_name = lmerpy.lmer("prop ~ period + (1 | herd)", cbpp, weights="size")
    by_array = lmerpy.lmer("prop ~ period + (1 | herd)", cbpp, weights=cbpp["size"].to_numpy())
    assert by_name.reml_criterion == by_array.reml_criterion


def test_offset_equals_moving_it_to_the_response() -> None:
    data = datasets.load("sleepstudy").assign(o=lambda d: 3.0 * d["Days"])
    with_offset = lmerpy.lmer("Reaction ~ Days + offset(o) + (1 | Subject)", data)
    moved = lmerpy.lmer("I(Reaction - o) ~ Days + (1 | Subject)", data)
    # the same model: equal optimum; estimates equal to the optimizer's tolerance
    assert with_offset.reml_criterion == pytest.approx(moved.reml_criterion, abs=1e-8)
    assert with_offset.fixef["Days"] == pytest.approx(moved.fixef["Days"], abs=1e-5)
    np.testing.assert_allclose(with_offset.fitted - moved.fitted, data["o"], atol=1e-4)


def test_missing_column_names_it_and_points_at_it() -> None:
    with pytest.raises(MissingColumnError, match=r"column 'Dayz' is not in the data") as info:
        lformula("Reaction ~ Dayz + (Days | Subject)", datasets.load("sleepstudy"))
    assert "did you mean 'Days'" in str(info.value)
    assert str(info.value).splitlines()[-1] == " " * 13 + "^^^^"
    assert isinstance(info.value, KeyError) and info.value.name == "Dayz"


@pytest.mark.parametrize(
    ("formula", "error", "words"),
    [
        ("Reaction ~ Days", FormulaSemanticError, "no random-effect terms"),
        ("~ Days + (1 | Subject)", FormulaSemanticError, "no response"),
        ("cbind(Reaction, Days) ~ (1 | Subject)", FormulaSemanticError, "binomial"),
        ("Subject ~ Days + (1 | Subject)", DataError, "must be numeric"),
        ("Reaction ~ log(Days) + (1 | Subject)", DataError, "non-finite"),
    ],
)
def test_unusable_models_are_clear_errors(formula: str, error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        lformula(formula, datasets.load("sleepstudy"))


def test_bad_weights_are_clear_errors() -> None:
    data = datasets.load("sleepstudy")
    with pytest.raises(DataError, match="positive"):
        lformula("Reaction ~ Days + (1 | Subject)", data, weights=-np.ones(180))
    with pytest.raises(DataError, match="has 3 values"):
        lformula("Reaction ~ Days + (1 | Subject)", data, weights=[1, 2, 3])


def test_data_must_be_a_dataframe() -> None:
    with pytest.raises(DataError, match="DataFrame"):
        lformula("y ~ (1 | g)", {"y": [1.0], "g": ["a"]})  # type: ignore[arg-type]


def test_design_keeps_the_data_rows_it_used() -> None:
    data = datasets.load("dyestuff").set_index(pd.Index([f"r{i}" for i in range(30)]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        design = lformula("Yield ~ 1 + (1 | Batch)", data)
    assert list(design.rows[:2]) == ["r0", "r1"]


def test_z_is_lme4s_sparse_random_effects_matrix() -> None:
    design = lformula("Reaction ~ Days + (Days | Subject)", datasets.load("sleepstudy"))
    Z = design.Z
    assert Z.format == "csc" and Z.shape == (180, 36)
    # lme4 1.1-31: getME(m, "Z")[1:2, 1:2] for subject 308, days 0 and 1: [1, 0], [1, 1]
    np.testing.assert_array_equal(Z[:2, :2].toarray(), [[1, 0], [1, 1]])
    fit = lmerpy.lmer("Reaction ~ Days + (Days | Subject)", datasets.load("sleepstudy"))
    b = fit.ranef["Subject"].to_numpy().ravel()  # level-major, as Z's columns
    np.testing.assert_allclose(design.X @ fit.fixef.to_numpy() + Z @ b, fit.fitted, rtol=1e-10)


def test_object_and_text_grouping_columns_give_the_same_design() -> None:
    """A grouping column of Python strings (``dtype=object``) with missing values, alone and
    in an interaction, gives the rows, levels and codes of the same column as text."""
    rng = np.random.default_rng(3)
    n = 200
    labels = np.array(["b", "a", "c", "d"], dtype=object)[rng.integers(0, 4, n)]
    labels[[3, 50, 120]] = [None, np.nan, None]
    frame = pd.DataFrame(
        {"y": rng.normal(size=n), "x": rng.normal(size=n), "g": pd.Series(labels, dtype=object),
         "h": rng.choice(["u", "v"], n)}
    )  # fmt: skip
    text = frame.assign(g=frame["g"].astype("string"))  # pandas' StringDtype, missing kept
    assert frame["g"].dtype == object and text["g"].dtype != object
    formula = "y ~ x + (1 | g) + (x || g:h)"
    with pytest.warns(RowsDroppedWarning, match="3 of 200 rows dropped"):
        as_objects = lmerpy.lformula(formula, frame)
    with pytest.warns(RowsDroppedWarning, match="3 of 200 rows dropped"):
        as_text = lmerpy.lformula(formula, text)
    assert list(as_objects.rows) == list(as_text.rows)
    for a, b in zip(as_objects.terms, as_text.terms, strict=True):
        assert list(a.factor.labels) == list(b.factor.labels)
        np.testing.assert_array_equal(a.factor.codes, b.factor.codes)
    assert list(as_objects.terms[-1].factor.labels) == ["a", "b", "c", "d"]
