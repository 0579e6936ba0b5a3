"""Model matrices: R's values and R's column names, through formulaic."""

from __future__ import annotations

import numpy as np
import pytest

from lmerpy import datasets, parse_formula
from lmerpy.design.matrices import expression_code, model_matrix

EXAM_RHS = (
    "standLRT*sex + I(standLRT^2) + poly(standLRT, 2) + log(schavg + 2, base = 10) + "
    "scale(standLRT) + C(sex, contr.sum) + factor(vr) + sqrt(abs(standLRT))"
)
# R 4.2: colnames(model.matrix(~ <EXAM_RHS>, exam)) with sex and vr factors in mlmRev's order
EXAM_NAMES = [
    "(Intercept)", "standLRT", "sexM", "I(standLRT^2)", "poly(standLRT, 2)1",
    "poly(standLRT, 2)2", "log(schavg + 2, base = 10)", "scale(standLRT)", "C(sex, contr.sum)1",
    "factor(vr)mid 50%", "factor(vr)top 25%", "sqrt(abs(standLRT))", "standLRT:sexM",
]  # fmt: skip
# R 4.2: model.matrix(~ <EXAM_RHS>, exam)[1:2, ]
EXAM_ROWS = [
    [1, 0.6190592, 0, 0.38323429, 0.009755668, -0.005851191, 0.3356936, 0.6214598, 1, 1, 0,
     0.7868032, 0],
    [1, 0.2058022, 0, 0.04235455, 0.003224107, -0.010201298, 0.3356936, 0.2053835, 1, 1, 0,
     0.4536543, 0],
]  # fmt: skip


def test_exam_matrix_matches_r_names_and_values() -> None:
    m = model_matrix(parse_formula(f"y ~ {EXAM_RHS}").fixed, datasets.load("exam"))
    assert m.columns == EXAM_NAMES
    np.testing.assert_allclose(m.values[:2], EXAM_ROWS, rtol=1e-6)


def test_contrast_columns_are_numbered_as_r_numbers_them() -> None:
    rhs = "C(sex, contr.sum) + C(vr, contr.sum) + C(vr, contr.helmert) + C(vr, contr.poly)"
    m = model_matrix(parse_formula(f"y ~ {rhs}").fixed, datasets.load("exam"))
    # R 4.2: colnames(model.matrix(~ <rhs>, exam))
    assert m.columns == [
        "(Intercept)", "C(sex, contr.sum)1", "C(vr, contr.sum)1", "C(vr, contr.sum)2",
        "C(vr, contr.helmert)1", "C(vr, contr.helmert)2", "C(vr, contr.poly).L",
        "C(vr, contr.poly).Q",
    ]  # fmt: skip


def test_interactions_with_factors_vary_the_first_factor_fastest() -> None:
    m = model_matrix(parse_formula("y ~ 0 + recipe:temperature").fixed, datasets.load("cake"))
    # R 4.2: colnames(model.matrix(~ 0 + recipe:temperature, cake))[1:4]
    assert m.columns[:4] == [
        "recipeA:temperature175", "recipeB:temperature175", "recipeC:temperature175",
        "recipeA:temperature185",
    ]  # fmt: skip


def test_numeric_variables_as_they_are_skip_the_encoder() -> None:
    exam = datasets.load("exam")
    m = model_matrix(parse_formula("y ~ standLRT + schavg").fixed, exam)
    # R 4.2: model.matrix(~ standLRT + schavg, exam)[1, ]
    assert m.columns == ["(Intercept)", "standLRT", "schavg"] and m.spec is None
    np.testing.assert_allclose(m.values[0], [1, 0.6190592, 0.1661752], rtol=1e-6)
    np.testing.assert_array_equal(m.on(exam.iloc[:5]), m.values[:5])
    factor = model_matrix(parse_formula("y ~ standLRT + sex").fixed, exam)
    assert factor.spec is not None and factor.columns == ["(Intercept)", "standLRT", "sexM"]


def test_new_data_are_encoded_as_the_original() -> None:
    exam = datasets.load("exam")
    m = model_matrix(parse_formula("y ~ scale(standLRT) + sex").fixed, exam)
    np.testing.assert_allclose(m.on(exam.iloc[:5]), m.values[:5])


@pytest.mark.parametrize(
    ("formula", "code"),
    [
        ("y ~ `days of sleep`", "`days of sleep`"),
        ("y ~ `_x`", "`_x`"),
        ("y ~ log.dose", "`log.dose`"),
        ("y ~ I(x^2)", "_lmerpy_I((x ** 2.0))"),
        ("y ~ log(x, base = 2)", "_lmerpy_I(_lmerpy_log(x) / _lmerpy_log(2.0))"),
        ("y ~ poly(x, 3, raw = TRUE)", "_lmerpy_poly(x, degree=3, raw=True)"),
        ("y ~ factor(x)", "_lmerpy_C(x)"),
        ("y ~ C(f, contr.helmert)", "_lmerpy_C(f, _lmerpy_contr.helmert)"),
        ("y ~ pmin(x, 3)", "_lmerpy_pmin(x, 3.0)"),
        ("y ~ relevel(f, ref = 'b')", "_lmerpy_relevel(f, ref='b')"),
    ],
)
def test_formulaic_code_is_generated_from_the_ast(formula: str, code: str) -> None:
    (term,) = parse_formula(formula).fixed.terms
    assert expression_code(term.factors[0]) == code


def test_names_that_contain_other_names_evaluate_correctly() -> None:
    import pandas as pd

    data = pd.DataFrame({"Reaction": [1.0, 2.0, 4.0], "o": [1.0, 1.0, 2.0], "my o": [0.0, 1, 2]})
    (term,) = parse_formula("y ~ I(Reaction - o + `my o`)").fixed.terms
    m = model_matrix(parse_formula("y ~ 0 + I(Reaction - o + `my o`)").fixed, data)
    assert m.columns == [str(term)]
    np.testing.assert_allclose(m.values[:, 0], [0.0, 2.0, 4.0])


def test_an_interaction_without_its_margins_spans_rs_columns() -> None:
    import lmerpy

    # R codes recipe:temperature without margins by indicators of both factors (18 columns
    # beside the intercept; lme4 drops the last); so does lmerpy (design/coding.py), where
    # formulaic alone would give 17 columns of another parametrisation.
    fit = lmerpy.lmer("angle ~ recipe:temperature + (1 | replicate)", datasets.load("cake"))
    # lme4 1.1-31: REMLcrit(lmer(angle ~ recipe:temperature + (1 | replicate), cake))
    assert fit.reml_criterion == pytest.approx(1603.432, abs=1e-3)
    assert fit.fixef.index[1] == "recipeA:temperature175" and len(fit.fixef) == 18
