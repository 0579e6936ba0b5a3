"""Fits from data read in chunks equal the fits of the same rows in memory (which are tested
against lme4): levels, contrasts, scale(), missing values, weights, offsets, rank checks."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lmerpy
from tests.data.helpers import assert_same_fit
from tests.fits import data

CASES = [
    ("Reaction ~ Days + (Days | Subject)", "sleepstudy", True),
    ("Reaction ~ Days + (Days || Subject)", "sleepstudy", False),
    ("normexam ~ scale(standLRT) + sex + (1 | school)", "exam", True),
    ("normexam ~ standLRT + C(vr, contr.sum) + (standLRT | school)", "exam", True),
    ("diameter ~ 1 + (1 | plate) + (1 | sample)", "penicillin", True),
    ("strength ~ 1 + (1 | batch) + (1 | batch:cask)", "pastes", True),
    ("angle ~ recipe * temperature + (1 | recipe:replicate)", "cake", False),
]


def _chunked(formula: str, frame: pd.DataFrame, batch: int, **kw: object) -> lmerpy.LmerResult:
    cp = lmerpy.cross_products(formula, frame, batch_size=batch, weights=kw.pop("weights", None))  # type: ignore[arg-type]
    return lmerpy.lmer_cross_products(cp, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("formula", "name", "reml"), CASES)
def test_chunked_fit_equals_the_fit_in_memory(formula: str, name: str, reml: bool) -> None:
    frame = data(name)
    memory = lmerpy.lmer(formula, frame, reml=reml)
    batch = max(7, len(frame) // 6 + 1)  # chunks that miss levels
    assert_same_fit(_chunked(formula, frame, batch, reml=reml), memory)


def test_the_gradient_from_cross_products_fits_as_in_memory() -> None:
    frame = data("penicillin")
    formula = "diameter ~ 1 + (1 | plate) + (1 | sample)"
    memory = lmerpy.lmer(formula, frame, optimizer="lbfgsb")
    chunked = _chunked(formula, frame, 30, optimizer="lbfgsb")
    assert chunked.devfun.has_gradient and chunked.record.optimizer == "lbfgsb"
    assert_same_fit(chunked, memory)


def test_rows_with_missing_values_are_dropped_and_counted_as_in_memory() -> None:
    frame = data("sleepstudy").copy()
    frame.loc[[3, 50, 51, 120], "Reaction"] = np.nan
    frame.loc[[7], "Days"] = np.nan
    with pytest.warns(lmerpy.errors.RowsDroppedWarning, match="5 of 180 rows"):
        memory = lmerpy.lmer("Reaction ~ Days + (Days | Subject)", frame)
    with pytest.warns(lmerpy.errors.RowsDroppedWarning, match="5 of 180 rows"):
        chunked = _chunked("Reaction ~ Days + (Days | Subject)", frame, 40)
    assert chunked.dropped_rows == 5
    assert_same_fit(chunked, memory)


def test_weights_and_offsets_as_in_memory() -> None:
    rng = np.random.default_rng(4)
    frame = data("sleepstudy").assign(w=rng.uniform(0.5, 2.0, 180))
    formula = "Reaction ~ Days + offset(Days) + (Days | Subject)"
    memory = lmerpy.lmer(formula, frame, weights="w")
    assert_same_fit(_chunked(formula, frame, 50, weights="w"), memory)


def test_rank_deficient_columns_are_dropped_as_in_memory() -> None:
    frame = data("sleepstudy").assign(twice=lambda d: 2.0 * d["Days"] + 1.0)
    formula = "Reaction ~ Days + twice + (1 | Subject)"
    with pytest.warns(lmerpy.errors.RankDeficiencyWarning, match="dropping 1 column"):
        memory = lmerpy.lmer(formula, frame)
    with pytest.warns(lmerpy.errors.RankDeficiencyWarning, match="dropping 1 column"):
        chunked = _chunked(formula, frame, 64)
    assert chunked.design.dropped_columns == ("twice",)
    assert_same_fit(chunked, memory)


def test_a_constant_response_is_refused_as_in_memory() -> None:
    frame = data("sleepstudy").assign(y=3.0)
    with pytest.raises(lmerpy.errors.DataError, match="the response is constant"):
        _chunked("y ~ Days + (1 | Subject)", frame, 50)


def test_a_perfect_fit_is_refused_as_in_memory() -> None:
    frame = data("sleepstudy").assign(y=lambda d: 2.0 * d["Days"] + 1.0)
    with pytest.raises(lmerpy.errors.DataError, match="fit the response exactly"):
        _chunked("y ~ Days + (1 | Subject)", frame, 50)


def test_orthogonal_poly_needs_the_whole_column_and_says_so() -> None:
    with pytest.raises(lmerpy.errors.FormulaSemanticError, match="needs the whole column"):
        lmerpy.cross_products("Reaction ~ poly(Days, 2) + (1 | Subject)", data("sleepstudy"))


def test_raw_poly_is_fine_in_chunks() -> None:
    formula = "Reaction ~ poly(Days, 2, raw = TRUE) + (1 | Subject)"
    assert_same_fit(
        _chunked(formula, data("sleepstudy"), 33), lmerpy.lmer(formula, data("sleepstudy"))
    )


def test_a_missing_column_says_did_you_mean() -> None:
    with pytest.raises(lmerpy.errors.MissingColumnError, match="did you mean 'Days'"):
        lmerpy.cross_products("Reaction ~ Dayz + (1 | Subject)", data("sleepstudy"))


def test_cross_products_of_parts_with_one_schema_add_up_to_the_whole() -> None:
    """The pipeline case: scan everything, compute each part where it lives, add, fit."""
    frame = data("sleepstudy")
    formula = "Reaction ~ Days + (Days | Subject)"
    parts = [frame.iloc[:70], frame.iloc[70:100], frame.iloc[100:]]
    schema = (
        lmerpy.scan(formula, parts[0])
        + lmerpy.scan(formula, parts[1])
        + lmerpy.scan(formula, parts[2])
    )
    total = sum(
        (lmerpy.cross_products(schema, p) for p in parts[1:]),
        lmerpy.cross_products(schema, parts[0]),
    )
    assert_same_fit(lmerpy.lmer_cross_products(total), lmerpy.lmer(formula, frame))


def test_parts_scanned_separately_do_not_add_up() -> None:
    frame = data("sleepstudy")
    formula = "Reaction ~ Days + (1 | Subject)"
    a = lmerpy.cross_products(formula, frame.iloc[:90])
    b = lmerpy.cross_products(formula, frame.iloc[90:])
    with pytest.raises(ValueError, match="different schemas"):
        a + b


def test_saved_cross_products_fit_like_the_data(tmp_path) -> None:  # type: ignore[no-untyped-def]
    formula = "normexam ~ scale(standLRT) + sex + (1 | school)"
    lmerpy.cross_products(formula, data("exam")).save(tmp_path / "exam.npz")
    loaded = lmerpy.CrossProducts.load(tmp_path / "exam.npz")
    fit = lmerpy.lmer_cross_products(loaded)
    assert_same_fit(fit, lmerpy.lmer(formula, data("exam")))
    new = data("exam").iloc[:5]  # the schema travels with the file: predictions encode alike
    np.testing.assert_allclose(
        fit.predict(new, re_form=False),
        lmerpy.lmer(formula, data("exam")).predict(new, re_form=False),
        rtol=1e-7,
    )


def test_rows_are_not_available_from_cross_products() -> None:
    fit = lmerpy.lmer_cross_products(
        lmerpy.cross_products("Reaction ~ Days + (1 | Subject)", data("sleepstudy"))
    )
    with pytest.raises(lmerpy.errors.DataError, match="write_fitted"):
        _ = fit.residuals
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        text = str(fit.summary())
    assert "REML criterion at convergence" in text


def test_a_model_too_large_is_refused_before_allocating_with_the_numbers() -> None:
    rng = np.random.default_rng(0)
    n = 60_000
    frame = pd.DataFrame(
        {"y": rng.normal(size=n), "a": rng.integers(0, 30_000, n), "b": rng.integers(0, 25_000, n)}
    )
    cp = lmerpy.cross_products("y ~ 1 + (1 | a) + (1 | b)", frame)
    pattern = r"3\.8 GiB .*22704 x 22704.*MAX_DENSE_BYTES.*lme4's order: 1: a, 25887 levels"
    with pytest.raises(lmerpy.errors.ModelTooLargeError, match=pattern):
        lmerpy.lmer_cross_products(cp)


def test_refit_by_ml_and_anova_work_from_cross_products() -> None:
    frame = data("sleepstudy")
    small, big = "Reaction ~ Days + (1 | Subject)", "Reaction ~ Days + (Days | Subject)"
    chunked = [lmerpy.lmer_cross_products(lmerpy.cross_products(f, frame)) for f in (small, big)]
    memory = [lmerpy.lmer(f, frame) for f in (small, big)]
    assert chunked[1].refit_ml().objective == pytest.approx(
        memory[1].refit_ml().objective, rel=1e-9
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, b = lmerpy.anova(*chunked), lmerpy.anova(*memory)
    np.testing.assert_allclose(
        a.to_numpy(dtype=float), b.to_numpy(dtype=float), rtol=1e-6, equal_nan=True
    )


def test_per_row_results_point_to_write_fitted() -> None:
    fit = lmerpy.lmer_cross_products(
        lmerpy.cross_products("Reaction ~ Days + (1 | Subject)", data("sleepstudy"))
    )
    for get in (lambda: fit.fitted, lambda: fit.predict(), lambda: fit.simulate()):
        with pytest.raises(lmerpy.errors.DataError, match="write_fitted"):
            get()
    with pytest.raises(lmerpy.errors.DataError, match=r"call lmerpy\.lmer"):
        fit.update(". ~ . - Days")


@settings(max_examples=15, deadline=None)
@given(batch=st.integers(min_value=1, max_value=300))
def test_any_batch_size_gives_the_same_cross_products(batch: int) -> None:
    """Chunks of one row, chunks that miss levels and categories, one chunk: the same blocks."""
    frame = data("cake")
    formula = "angle ~ recipe * temperature + (1 | recipe:replicate)"
    schema = lmerpy.scan(formula, frame)
    whole = lmerpy.cross_products(schema, frame, batch_size=len(frame))
    parts = lmerpy.cross_products(schema, frame, batch_size=batch)
    assert parts.n == whole.n == 270
    np.testing.assert_allclose(parts.xy, whole.xy, rtol=1e-12)
    np.testing.assert_allclose(parts.zxy[0], whole.zxy[0], rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(parts.diag[0], whole.diag[0])
