"""Bryk & Raudenbush level-1 intervals (Kaplan 2010, ch. 3) against the formulas.

The independent computations below use the data directly (pandas groupby, plain numpy
inverses of eqs. 3.2-3.16) and only lmer's σ and VarCorr; ``level1_intervals`` works in
precision form, so agreement checks the algebra as well as the code. At lmer's variance
estimates the GLS γ̂ is lmer's fixef, Var(γ̂) its vcov and β*_j − W_j γ̂ its ranef: those
identities are checked for models with and without level-2 predictors, prior weights
and an offset. Tolerances: 1e-9 (same numbers by other algebra), 1e-5 against
lme4 1.1-31 (whose estimates differ from lmerpy's by the optimizer's tolerance).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import lmerpy
from lmerpy.errors import DataError, FormulaSemanticError
from lmerpy.kaplan2010.level1 import level1_intervals
from lmerpy.lmm.result import LmerResult
from tests.fits import data, fit

HLM = "normexam ~ standLRT + (standLRT | school)"
CROSS_LEVEL = "normexam ~ standLRT * schavg + (standLRT | school)"
R_LEVEL1 = json.loads(
    (Path(__file__).parents[1] / "reference/report/report_lme4.json").read_text()
)["level1_m3"]
Z95 = stats.norm.ppf(0.975)


def exam() -> pd.DataFrame:
    return data("exam")


def school_T(m: LmerResult) -> np.ndarray:
    """T from VarCorr: variances and the covariance of (Intercept) and standLRT."""
    vc = m.varcorr[m.varcorr["group"] == "school"]
    var = {r.var1: r.vcov for r in vc.itertuples() if pd.isna(r.var2)}
    cov = vc[vc["var2"].notna()]["vcov"].iloc[0]
    return np.array([[var["(Intercept)"], cov], [cov, var["standLRT"]]])


def direct(data: pd.DataFrame, sigma2: float, T: np.ndarray, level2: str | None = None):
    """Eqs. (3.2)-(3.16) as printed, one school at a time (W_j = I, or the block-diagonal
    [[1, w_j, 0, 0], [0, 0, 1, w_j]] with γ ordered (γ00, γ01, γ10, γ11))."""
    groups = []
    for school, d in data.groupby("school", observed=True, sort=True):
        X = np.column_stack([np.ones(len(d)), d["standLRT"].to_numpy()])
        y = d["normexam"].to_numpy()
        bhat = np.linalg.solve(X.T @ X, X.T @ y)  # (3.2)
        V = sigma2 * np.linalg.inv(X.T @ X)  # (3.3)
        if level2 is None:
            W = np.eye(2)
        else:
            w = d[level2].iloc[0]
            W = np.array([[1.0, w, 0.0, 0.0], [0.0, 0.0, 1.0, w]])
        groups.append((str(school), bhat, V, T + V, W))  # Δ_j (3.10)
    info = sum(W.T @ np.linalg.inv(D) @ W for _, _, _, D, W in groups)
    var_gamma = np.linalg.inv(info)  # (3.12)
    gamma = var_gamma @ sum(W.T @ np.linalg.inv(D) @ b for _, b, _, D, W in groups)  # (3.11)
    rows = []
    for school, bhat, V, D, W in groups:
        L = T @ np.linalg.inv(D)  # (3.14)
        bstar = L @ bhat + (np.eye(2) - L) @ W @ gamma  # (3.13)
        var_prior = W @ var_gamma @ W.T
        Vstar = (
            np.linalg.inv(np.linalg.inv(V) + np.linalg.inv(T))
            + (np.eye(2) - L) @ (var_prior) @ (np.eye(2) - L).T
        )  # (3.16)
        half = Z95 * np.sqrt(np.diag(Vstar))  # (3.15)
        rows.append((school, bhat, V, D, L, bstar, bstar - half, bstar + half))
    return gamma, var_gamma, rows


def test_eq_3_16_intervals_for_all_65_schools_agree_with_a_direct_computation() -> None:
    m = fit(HLM)
    ci = level1_intervals(m)
    gamma, var_gamma, rows = direct(exam(), m.sigma**2, school_T(m))
    assert len(rows) == 65 and ci.no_ols == []
    table = ci.table.set_index(["group", "term"])
    for school, bhat, V, D, L, bstar, lower, upper in rows:
        j = ci.levels.get_loc(school)
        for q, term in enumerate(["(Intercept)", "standLRT"]):
            assert table.loc[(school, term), "estimate"] == pytest.approx(bstar[q], abs=1e-9)
            assert table.loc[(school, term), "lower"] == pytest.approx(lower[q], abs=1e-9)
            assert table.loc[(school, term), "upper"] == pytest.approx(upper[q], abs=1e-9)
        np.testing.assert_allclose(ci.ols.loc[school].to_numpy(), bhat, atol=1e-9)
        np.testing.assert_allclose(ci.V[j], V, atol=1e-12)
        np.testing.assert_allclose(ci.Delta[j], D, atol=1e-12)
        np.testing.assert_allclose(ci.Lambda[j], L, atol=1e-9)
    np.testing.assert_allclose(ci.gamma.to_numpy(), gamma, atol=1e-10)
    np.testing.assert_allclose(ci.gamma_vcov.to_numpy(), var_gamma, atol=1e-12)
    np.testing.assert_allclose(ci.T.to_numpy(), school_T(m), atol=1e-14)


def test_eq_3_16_intervals_agree_with_lme4_1_1_31_estimates() -> None:
    ci = level1_intervals(fit(HLM))
    table = ci.table.set_index(["group", "term"])
    for row in R_LEVEL1["schools"]:
        for q, term in enumerate(row["term"]):
            ours = table.loc[(row["school"], term)]
            assert ours["estimate"] == pytest.approx(row["estimate"][q], abs=1e-5)
            assert ours["lower"] == pytest.approx(row["lower_eq316"][q], abs=1e-5)
            assert ours["upper"] == pytest.approx(row["upper_eq316"][q], abs=1e-5)
    np.testing.assert_allclose(ci.gamma.to_numpy(), R_LEVEL1["gamma"], atol=1e-6)


def test_cross_level_interaction_gives_the_block_diagonal_W_of_eq_3_5() -> None:
    m = fit(CROSS_LEVEL)
    ci = level1_intervals(m)
    assert ci.terms == ["(Intercept)", "standLRT"]
    assert list(ci.gamma.index) == ["(Intercept)", "standLRT", "schavg", "standLRT:schavg"]
    schavg = exam().groupby("school", observed=True)["schavg"].first()
    for j, school in enumerate(ci.levels):
        w = schavg[school]
        np.testing.assert_allclose(ci.W[j], [[1, 0, w, 0], [0, 1, 0, w]], atol=1e-14)
    # the direct computation orders γ as (γ00, γ01, γ10, γ11)
    gamma, var_gamma, rows = direct(exam(), m.sigma**2, school_T(m), level2="schavg")
    order = [0, 2, 1, 3]
    np.testing.assert_allclose(ci.gamma.to_numpy()[order], gamma, atol=1e-10)
    np.testing.assert_allclose(
        ci.gamma_vcov.to_numpy()[np.ix_(order, order)], var_gamma, atol=1e-12
    )
    table = ci.table.set_index(["group", "term"])
    for school, *_, bstar, lower, upper in rows:
        for q, term in enumerate(ci.terms):
            assert table.loc[(school, term), "estimate"] == pytest.approx(bstar[q], abs=1e-9)
            assert table.loc[(school, term), "lower"] == pytest.approx(lower[q], abs=1e-9)
            assert table.loc[(school, term), "upper"] == pytest.approx(upper[q], abs=1e-9)


def _with_weights_and_offset() -> pd.DataFrame:
    d = exam().copy()
    rng = np.random.default_rng(1)
    d["w"] = rng.uniform(0.5, 2.0, len(d))
    d["off"] = 0.1 * d["standLRT"]
    return d


@pytest.mark.parametrize(
    ("formula", "options"),
    [
        (HLM, {}),
        ("normexam ~ standLRT + (1 | school)", {}),
        ("normexam ~ standLRT + (standLRT - 1 | school)", {}),
        (CROSS_LEVEL, {}),
        ("normexam ~ standLRT + sex + schgend + (1 | school) + (0 + standLRT | school)", {}),
        ("normexam ~ standLRT + offset(off) + (standLRT | school)", {"weights": "w"}),
    ],
)
def test_gls_and_shrinkage_reproduce_lmer(formula: str, options: dict[str, str]) -> None:
    """γ̂ = fixef, Var(γ̂) = vcov, β*_j − W_j γ̂ = ranef, (V_j⁻¹ + T⁻¹)⁻¹ = condVar."""
    m = lmerpy.lmer(formula, _with_weights_and_offset(), **options)
    ci = level1_intervals(m)
    np.testing.assert_allclose(ci.gamma.to_numpy(), m.fixef.to_numpy(), atol=1e-8)
    np.testing.assert_allclose(ci.gamma_vcov.to_numpy(), m.vcov.to_numpy(), atol=1e-10)
    ranef = m.ranef["school"]
    u = ci.beta_star.to_numpy() - np.einsum("jab,b->ja", ci.W, ci.gamma.to_numpy())
    u = pd.DataFrame(u, index=ci.levels, columns=ci.terms)
    np.testing.assert_allclose(u[ranef.columns].to_numpy(), ranef.to_numpy(), atol=1e-8)
    fixed_only = [t for t in ci.terms if t not in ci.random_terms]
    np.testing.assert_allclose(u[fixed_only].to_numpy(), 0.0, atol=1e-12)
    if len(m.design.terms) == 1:
        k = [ci.terms.index(c) for c in ranef.columns]
        cond = ci.conditional_cov[:, k][:, :, k]
        np.testing.assert_allclose(cond, m.ranef_condvar["school"], atol=1e-10)


def test_coefficient_without_random_variation_has_the_fixed_effect_interval() -> None:
    """Random intercept model: the slope has T = 0, so β*_1j = γ̂_1 and V*_11j = Var(γ̂_1)."""
    m = fit("normexam ~ standLRT + (1 | school)")
    ci = level1_intervals(m)
    assert ci.terms == ["(Intercept)", "standLRT"] and ci.random_terms == ["(Intercept)"]
    assert ci.T.loc["standLRT"].tolist() == [0.0, 0.0]
    slope = ci.table[ci.table["term"] == "standLRT"]
    se = np.sqrt(m.vcov.loc["standLRT", "standLRT"])
    np.testing.assert_allclose(slope["estimate"], m.fixef["standLRT"], atol=1e-10)
    np.testing.assert_allclose(slope["upper"] - slope["lower"], 2 * Z95 * se, atol=1e-10)


def _with_thin_schools() -> pd.DataFrame:
    """Exam plus school 900 (one student) and 901 (two students, the same standLRT)."""
    d = exam()[["school", "normexam", "standLRT", "schavg"]]
    extra = pd.DataFrame(
        {
            "school": ["900", "901", "901"],
            "normexam": [0.5, 0.1, 0.3],
            "standLRT": [0.2, -0.4, -0.4],
            "schavg": [0.1, -0.2, -0.2],
        }
    )
    out = pd.concat([d.astype({"school": str}), extra], ignore_index=True)
    levels = [*d["school"].cat.categories, "900", "901"]
    return out.assign(school=pd.Categorical(out["school"], categories=levels))


@pytest.mark.parametrize("formula", [HLM, CROSS_LEVEL])
def test_groups_without_an_ols_fit_still_get_intervals(formula: str) -> None:
    m = lmerpy.lmer(formula, _with_thin_schools())
    ci = level1_intervals(m)
    assert ci.no_ols == ["900", "901"]
    thin = ["900", "901"]
    assert ci.ols.loc[thin].isna().all().all()
    assert np.isnan(ci.V[-2:]).all() and np.isnan(ci.Delta[-2:]).all()
    assert np.isfinite(ci.V[:-2]).all() and ci.ols.iloc[:-2].notna().all().all()
    table = ci.table.set_index("group").loc[thin]
    assert np.isfinite(table[["estimate", "lower", "upper"]].to_numpy()).all()
    assert (table["upper"] > table["lower"]).all()
    # β*_j as the posterior mean (X_jᵀX_j/σ² + T⁻¹)⁻¹ (X_jᵀy_j/σ² + T⁻¹ W_j γ̂), written out
    T_inv = np.linalg.inv(ci.T.to_numpy())
    s2 = ci.sigma**2
    data = _with_thin_schools()
    for school in thin:
        d = data[data["school"] == school]
        X = np.column_stack([np.ones(len(d)), d["standLRT"]])
        j = ci.levels.get_loc(school)
        prior = ci.W[j] @ ci.gamma.to_numpy()
        post = np.linalg.solve(X.T @ X / s2 + T_inv, X.T @ d["normexam"] / s2 + T_inv @ prior)
        np.testing.assert_allclose(ci.beta_star.loc[school], post, atol=1e-10)
    np.testing.assert_allclose(ci.gamma.to_numpy(), m.fixef.to_numpy(), atol=1e-8)


def test_level_sets_the_width() -> None:
    m = fit(HLM)
    wide, narrow = level1_intervals(m, 0.95).table, level1_intervals(m, 0.5).table
    ratio = (narrow["upper"] - narrow["lower"]) / (wide["upper"] - wide["lower"])
    np.testing.assert_allclose(ratio, stats.norm.ppf(0.75) / Z95, rtol=1e-12)
    assert repr(level1_intervals(m, 0.5)).startswith("<Level1Intervals 50% for (Intercept)")


@pytest.mark.parametrize("level", [0.0, 1.0, -0.5, 95])
def test_bad_level_is_a_data_error(level: float) -> None:
    with pytest.raises(DataError, match="between 0 and 1"):
        level1_intervals(fit(HLM), level)


def test_two_grouping_factors_are_refused() -> None:
    d = exam().assign(band=exam()["vr"])
    m = lmerpy.lmer("normexam ~ standLRT + (1 | school) + (1 | band)", d)
    with pytest.raises(FormulaSemanticError, match="one grouping factor") as info:
        level1_intervals(m)
    assert "band" in info.value.formula[info.value.pos : info.value.end]


def test_docstring_examples_run() -> None:
    import doctest

    import lmerpy.kaplan2010.level1 as module

    assert doctest.testmod(module).failed == 0
