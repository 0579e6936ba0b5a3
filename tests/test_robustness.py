"""Hostile and odd data: only lmerpy's own errors and warnings, never a foreign traceback;
numerical edge cases handled as lme4 handles them."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lmerpy
from lmerpy.errors import LmerpyError, LmerpyWarning

FORMULAS = [
    "y ~ x + (1 | g)",
    "y ~ x + (x | g)",
    "y ~ f + (1 | g) + (1 | f)",
    "y ~ log(x) + (1 | g/f)",
    "`my y` ~ `x é` + (1 | g)",
]

cells = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.integers(-3, 3).map(float),
    st.just(np.nan),
)


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(0, 40))
    levels = draw(st.integers(1, 8))
    y = draw(st.lists(cells, min_size=n, max_size=n))
    x = draw(st.lists(cells, min_size=n, max_size=n))
    g = draw(st.lists(st.integers(0, levels - 1), min_size=n, max_size=n))
    f = draw(st.lists(st.sampled_from(["a", "b", "ç", None]), min_size=n, max_size=n))
    frame = pd.DataFrame({"y": y, "x": x, "g": g, "f": f})
    frame["my y"], frame["x é"] = frame["y"], frame["x"]
    if draw(st.booleans()):
        frame["y"] = frame["f"]  # a categorical response
    return frame


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames(), st.sampled_from(FORMULAS), st.booleans())
def test_fuzzed_data_give_only_lmerpy_errors(data: pd.DataFrame, formula: str, reml: bool) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning that is not lmerpy's fails the test
        warnings.simplefilter("ignore", LmerpyWarning)
        try:
            fit = lmerpy.lmer(formula, data, reml=reml)
        except LmerpyError:
            return
    assert np.isfinite(fit.objective)


def _counts(cell: float) -> float:
    """Fuzzed cells made mostly 0/1 and small counts, still with NaN, inf and odd values."""
    return abs(round(cell)) % 4 if np.isfinite(cell) and abs(cell) < 1e6 else cell


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames(), st.sampled_from(FORMULAS[:4]), st.sampled_from(["binomial", "poisson"]))
def test_fuzzed_data_give_only_lmerpy_errors_in_glmer(
    data: pd.DataFrame, formula: str, family: str
) -> None:
    if pd.api.types.is_numeric_dtype(data["y"]):
        data = data.assign(y=data["y"].map(_counts))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", LmerpyWarning)
        try:
            fit = lmerpy.glmer(formula, data, family)
        except LmerpyError:
            return
    assert np.isfinite(fit.objective)


def test_a_separated_poisson_fit_is_a_separation_error_on_every_machine() -> None:
    # found by the fuzzing above: zero counts wherever x = 0, so beta_x -> +inf and the
    # intercept -> -inf; the optimizer used to stop at a BLAS-dependent point (a fit with
    # warnings on one kernel, a singular fixed-effects system on another). The data are
    # refused before any optimization, by a test that involves no BLAS call.
    frame = pd.DataFrame({"y": [2, 0, 0, 1], "x": [2, 0, 0, 2], "g": [0, 0, 0, 1]})
    with pytest.raises(lmerpy.errors.SeparationError, match="quasi-complete separation") as info:
        lmerpy.glmer("y ~ x + (1 | g)", frame, family="poisson")
    assert isinstance(info.value, lmerpy.errors.FitError)
    assert "(Intercept), x" in str(info.value) and "2 rows with zero counts" in str(info.value)


@pytest.mark.parametrize("reml", [True, False])
def test_response_scaled_by_1e6_and_predictor_by_1e_6_scale_the_results(reml: bool) -> None:
    # theta is relative to sigma: scaling y leaves it alone, and so does scaling a predictor
    # that has no random slope; the estimates scale with the data.
    data = lmerpy.datasets.load("sleepstudy")
    base = lmerpy.lmer("Reaction ~ Days + (1 | Subject)", data, reml=reml)
    scaled_data = data.assign(y=data["Reaction"] * 1e6, x=data["Days"] * 1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmerpy.design.checks.DataWarning)  # the scale hint
        scaled = lmerpy.lmer("y ~ x + (1 | Subject)", scaled_data, reml=reml)
    np.testing.assert_allclose(scaled.theta, base.theta, rtol=1e-5)
    assert scaled.sigma == pytest.approx(base.sigma * 1e6, rel=1e-6)
    assert scaled.fixef["x"] == pytest.approx(base.fixef["Days"] * 1e12, rel=1e-6)
    assert scaled.fixef["(Intercept)"] == pytest.approx(base.fixef["(Intercept)"] * 1e6, rel=1e-6)
    # -2 log L shifts by 2n log(1e6); REML uses n - p and log|R_X|² gains 2 log(1e-6)
    n, p = base.nobs, 2
    shift = 2 * (n - p - 1) * np.log(1e6) if reml else 2 * n * np.log(1e6)
    assert scaled.objective == pytest.approx(base.objective + shift, abs=1e-5)
    ranef = scaled.ranef["Subject"].to_numpy()
    np.testing.assert_allclose(ranef, base.ranef["Subject"].to_numpy() * 1e6, rtol=1e-5)


def test_a_zero_variance_slope_is_a_singular_fit() -> None:
    rng = np.random.default_rng(1)  # a draw whose slope variance estimate is 0 (half of them are)
    g = np.repeat(np.arange(20), 10)
    x = np.tile(np.arange(10.0), 20)
    y = 1 + 0.5 * x + rng.normal(0, 1, 20)[g] + rng.normal(0, 1, 200)
    with pytest.warns(lmerpy.errors.SingularFitWarning):
        fit = lmerpy.lmer("y ~ x + (x || g)", pd.DataFrame({"y": y, "x": x, "g": g}))
    assert fit.is_singular


def test_one_observation_groups_are_fine_beside_others() -> None:
    data = lmerpy.datasets.load("sleepstudy")
    data = pd.concat([data, pd.DataFrame({"Reaction": [300.0], "Days": [4], "Subject": ["999"]})])
    fit = lmerpy.lmer("Reaction ~ Days + (1 | Subject)", data.reset_index(drop=True))
    assert fit.ngroups["Subject"] == 19 and np.isfinite(fit.reml_criterion)


def test_collinear_random_effect_columns_are_a_clear_error() -> None:
    data = lmerpy.datasets.load("sleepstudy").assign(D2=lambda d: 2 * d["Days"])
    with pytest.raises(lmerpy.errors.DataError, match="column\\(s\\) D2 are zero or linear"):
        lmerpy.lmer("Reaction ~ Days + (Days + D2 | Subject)", data)


def test_a_perfect_fit_is_an_error_not_a_crash() -> None:
    data = lmerpy.datasets.load("sleepstudy").assign(y=lambda d: 2.0 * d["Days"] + 1.0)
    with pytest.raises(lmerpy.errors.DataError, match="fit the response exactly"):
        lmerpy.lmer("y ~ Days + (1 | Subject)", data)


@pytest.mark.timeout(120)  # a safety net against hanging, not a speed assertion
def test_a_model_needing_huge_dense_blocks_is_refused_before_allocating() -> None:
    rng = np.random.default_rng(0)
    n = 60_000
    data = pd.DataFrame(
        {"y": rng.normal(size=n), "a": rng.integers(0, 30_000, n), "b": rng.integers(0, 25_000, n)}
    )
    with pytest.raises(lmerpy.errors.ModelTooLargeError, match="GiB"):
        lmerpy.lmer("y ~ 1 + (1 | a) + (1 | b)", data)


@pytest.mark.timeout(120)  # a safety net against hanging, not a speed assertion
def test_too_many_random_effects_per_level_is_refused_before_allocating() -> None:
    rng = np.random.default_rng(1)
    n = 20_000  # 4,000 groups x (0 + f | g) with 200 levels of f: 4,000 x 200² x 8 bytes
    data = pd.DataFrame(
        {"y": rng.normal(size=n), "f": rng.integers(0, 200, n), "g": np.arange(n) % 4000}
    )
    with pytest.raises(lmerpy.errors.ModelTooLargeError, match="per-level blocks"):
        lmerpy.lmer("y ~ 1 + (0 + factor(f) | g)", data, checks=lmerpy.Checks(nobs_vs_nre="ignore"))
