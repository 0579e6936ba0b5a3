"""Satterthwaite and Kenward-Roger tests of fixed effects against lmerTest and pbkrtest.

References (every number names the R call that made it):

* ``tests/reference/NAME.json`` (made by ``../shared/tools/lme4_reference.R``, see
  ``tests/reference/README.md``), for ``m <- lmer(formula, data, REML = TRUE)``:
  ``satterthwaite`` = df and p of ``summary(as_lmerModLmerTest(m))$coefficients``;
  ``kenward_roger`` = df, p and Std. Error of
  ``summary(as_lmerModLmerTest(m), ddf = "Kenward-Roger")$coefficients``.
* ``tests/reference/lmertest/anova_type3.json`` (``make_anova_type3.R``): per model the fit
  call (``fit``) and ``anova(m, type = "III", ddf = "Satterthwaite")`` /
  ``anova(m, type = "III", ddf = "Kenward-Roger")`` (each table's ``call``), and
  ``show_tests(anova(m))`` (``hypotheses``).
* ``tests/reference/lmertest/summary_extra.json`` (``make_summary_extra.R``): ML and boundary
  fits, ``summary(m, ddf = "Satterthwaite")$coefficients`` and (REML)
  ``summary(m, ddf = "Kenward-Roger")$coefficients``.

Tolerances: df, standard errors, F values, Sum Sq and DenDF within 1% (lmerpy's θ̂ is lme4's
to the optimizer's tolerance; at lme4's θ̂ the df agree to ~1e-6); p-values within 2%
relative (a small p moves by |t|·Δt relative when t moves by Δt) or 1e-10 absolute.
"""

from __future__ import annotations

import json
import warnings
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import lmerpy
from lmerpy.errors import FitError
from lmerpy.inference import ddf, kenward_roger, type3
from lmerpy.lmm.result import LmerResult

REFERENCE = Path(__file__).parents[1] / "reference"
LMERTEST = REFERENCE / "lmertest"
RTOL = 0.01
P_RTOL, P_ATOL = 0.02, 1e-10

# lme4 needs ~30 s for InstEval; the df are evaluated at lme4's θ̂ there instead of refitting.
AT_LME4_THETA = {"insteval_crossed"}
# pbkrtest 0.5.2 builds Σ without the prior weights but takes vcov(β̂) from the weighted
# fit, so its KR df for a weighted model are not those of the model
# (test_pbkrtest_reference_for_weighted_fit_ignores_the_weights).
PBKRTEST_IGNORES_WEIGHTS = {"cbpp_weighted"}


def reference(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((REFERENCE / f"{name}.json").read_text())
    return data


def _with(key: str) -> list[str]:
    return sorted(p.stem for p in REFERENCE.glob("*.json") if key in json.loads(p.read_text()))


SATTERTHWAITE = _with("satterthwaite")
KENWARD_ROGER = [n for n in _with("kenward_roger") if n not in PBKRTEST_IGNORES_WEIGHTS]
ANOVA = json.loads((LMERTEST / "anova_type3.json").read_text())["models"]
EXTRA = json.loads((LMERTEST / "summary_extra.json").read_text())["models"]


@cache
def fitted(name: str) -> LmerResult:
    ref = reference(name)
    data = lmerpy.datasets.load(ref["data"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmerpy.errors.LmerpyWarning)
        if name in AT_LME4_THETA:
            return _at_theta(ref["formula"], data, ref["REML"], ref["theta"])
        return lmerpy.lmer(ref["formula"], data, reml=ref["REML"], weights=ref.get("weights"))


def _at_theta(formula: str, data: pd.DataFrame, reml: bool, theta: list[float]) -> LmerResult:
    """The fit at a given θ (lme4's): the modular steps with a one-point optimizer record."""
    design = lmerpy.lformula(formula, data)
    devfun = lmerpy.make_deviance(design, reml=reml)
    th = np.asarray(theta, dtype=np.float64)
    value = devfun(th)
    record = lmerpy.OptimizerRecord(th, value, th, value, devfun.lower, 1, "lme4", True, ())
    return lmerpy.make_result(devfun, record)


@cache
def fitted_formula(data: str, formula: str, reml: bool = True) -> LmerResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmerpy.errors.LmerpyWarning)
        return lmerpy.lmer(formula, lmerpy.datasets.load(data), reml=reml)


def assert_p_close(ours: Any, theirs: Any) -> None:
    np.testing.assert_allclose(ours, np.atleast_1d(theirs), rtol=P_RTOL, atol=P_ATOL)


# ---- coefficient tables against tests/reference/*.json ---------------------------------------


@pytest.mark.parametrize("name", SATTERTHWAITE)
def test_satterthwaite_coefficient_table(name: str) -> None:
    """df and p of summary(as_lmerModLmerTest(m))$coefficients."""
    ref, fit = reference(name)["satterthwaite"], fitted(name)
    table = ddf.coef_table(fit)
    np.testing.assert_allclose(table["df"], np.atleast_1d(ref["df"]), rtol=RTOL)
    assert_p_close(table["Pr(>|t|)"], ref["p"])


@pytest.mark.parametrize("name", KENWARD_ROGER)
def test_kenward_roger_coefficient_table(name: str) -> None:
    """df, p and Std. Error of summary(as_lmerModLmerTest(m), ddf = "Kenward-Roger")."""
    ref, fit = reference(name)["kenward_roger"], fitted(name)
    table = ddf.coef_table(fit, ddf="kenward-roger")
    np.testing.assert_allclose(table["df"], np.atleast_1d(ref["df"]), rtol=RTOL)
    np.testing.assert_allclose(table["Std. Error"], np.atleast_1d(ref["se"]), rtol=RTOL)
    assert_p_close(table["Pr(>|t|)"], ref["p"])


@pytest.mark.parametrize("name", sorted(EXTRA))
def test_ml_and_boundary_coefficient_tables(name: str) -> None:
    """summary(m, ddf = "Satterthwaite" / "Kenward-Roger")$coefficients for ML fits (the
    Hessian of the ML deviance) and singular fits with vector-valued random effects."""
    ref = EXTRA[name]
    fit = fitted_formula(ref["data"], ref["formula"], ref["REML"])
    assert fit.is_singular == ref["is_singular"]
    for method, key in [("satterthwaite", "satterthwaite"), ("kenward-roger", "kenward_roger")]:
        if key not in ref:
            continue
        table = ddf.coef_table(fit, ddf=method)
        assert list(table.index) == ref[key]["names"]
        np.testing.assert_allclose(table["df"], ref[key]["df"], rtol=RTOL)
        np.testing.assert_allclose(table["Std. Error"], ref[key]["se"], rtol=RTOL)
        assert_p_close(table["Pr(>|t|)"], ref[key]["p"])


def test_coefficient_table_layout_and_residual_df() -> None:
    fit = fitted("sleepstudy_corr")
    table = ddf.coef_table(fit, ddf="residual")
    assert list(table.columns) == ["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"]
    assert list(table.index) == list(fit.fixef.index)
    np.testing.assert_allclose(table["Estimate"], fit.fixef)
    np.testing.assert_allclose(table["Std. Error"], np.sqrt(np.diag(fit.vcov)))
    assert (table["df"] == fit.nobs - 2).all()
    np.testing.assert_allclose(table["t value"], table["Estimate"] / table["Std. Error"])


def test_unknown_ddf_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="satterthwaite, kenward-roger, residual"):
        ddf.coef_table(fitted("dyestuff"), ddf="containment")
    with pytest.raises(ValueError, match="satterthwaite, kenward-roger, residual"):
        type3.anova_type3(fitted("dyestuff"), ddf="lme4")


def test_kenward_roger_needs_a_reml_fit() -> None:
    """lmerTest: "Kenward-Roger's method is only available for REML model fits"."""
    fit = fitted_formula("sleepstudy", "Reaction ~ Days + (Days | Subject)", reml=False)
    with pytest.raises(ValueError, match="REML"):
        ddf.coef_table(fit, ddf="Kenward-Roger")


def test_kenward_roger_refuses_models_too_large(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kenward_roger, "KR_MAX_ELEMENTS", 1000)
    fit = fitted_formula("sleepstudy", "Reaction ~ Days + (1 | Subject)")
    with pytest.raises(FitError, match="satterthwaite"):
        ddf.coef_table(fit, ddf="kenward-roger")


# ---- Kenward-Roger with prior weights -------------------------------------------------------


def _dense_kr(fit: LmerResult, residual: np.ndarray, phi: np.ndarray | None = None) -> Any:
    """Kenward & Roger (1997) with dense n x n matrices: Σ = σ²(R + ZΛΛᵀZᵀ), ∂Σ/∂σ²_b =
    ZZᵀ, ∂Σ/∂σ² = R (a single random intercept); Φ = (XᵀΣ⁻¹X)⁻¹ unless given."""
    X, Z = fit.design.X, fit.design.Z.toarray()
    lam = sp.block_diag(
        [
            sp.kron(sp.eye(t.factor.n_levels), lam_t)
            for t, lam_t in zip(fit.design.terms, fit.devfun.lambdas(fit.record.final), strict=True)
        ]
    ).toarray()
    sigma_inv = np.linalg.inv(fit.sigma**2 * (residual + Z @ lam @ lam.T @ Z.T))
    phi = np.linalg.inv(X.T @ sigma_inv @ X) if phi is None else phi
    comps = [Z @ Z.T, residual]
    P = [X.T @ sigma_inv @ D @ sigma_inv @ X for D in comps]
    Q = [[X.T @ sigma_inv @ Di @ sigma_inv @ Dj @ sigma_inv @ X for Dj in comps] for Di in comps]
    info = np.array(
        [
            [
                0.5 * np.trace(sigma_inv @ Di @ sigma_inv @ Dj)
                - np.trace(phi @ Q[i][j])
                + 0.5 * np.trace(phi @ P[i] @ phi @ P[j])
                for j, Dj in enumerate(comps)
            ]
            for i, Di in enumerate(comps)
        ]
    )
    W = np.linalg.inv(info)
    middle = sum(W[i, j] * (Q[i][j] - P[i] @ phi @ P[j]) for i in range(2) for j in range(2))
    kr = kenward_roger._KenwardRoger(phi, phi + 2 * phi @ middle @ phi, np.array(P), W)
    p = X.shape[1]
    df = [kr.test(e[None, :], fit.fixef.to_numpy()).den_df for e in np.eye(p)]
    return np.array(df), np.sqrt(np.diag(kr.phi_adj))


def test_kenward_roger_weighted_fit_uses_the_weights() -> None:
    """With prior weights the residual covariance is σ²W⁻¹: lmerpy's sparse computation
    equals the dense textbook one (cbpp: prop ~ period + (1 | herd), weights = size)."""
    fit = fitted("cbpp_weighted")
    df, se = _dense_kr(fit, np.diag(1 / fit.design.weights))
    table = ddf.coef_table(fit, ddf="kenward-roger")
    np.testing.assert_allclose(table["df"], df, rtol=1e-8)
    np.testing.assert_allclose(table["Std. Error"], se, rtol=1e-8)
    assert (table["df"] < 60).all()  # 56 observations in 15 herds


def test_pbkrtest_reference_for_weighted_fit_ignores_the_weights() -> None:
    """Why cbpp_weighted's kenward_roger reference (df ~ 4000-10800 from 56 observations) is
    not tested against lmerpy: pbkrtest's numbers are reproduced by Σ = σ²(I + ZΛΛᵀZᵀ),
    the weights left out, with Φ = vcov(m) of the weighted fit."""
    fit, ref = fitted("cbpp_weighted"), reference("cbpp_weighted")["kenward_roger"]
    df, se = _dense_kr(fit, np.eye(fit.nobs), phi=fit.vcov.to_numpy())
    np.testing.assert_allclose(df, ref["df"], rtol=RTOL)
    np.testing.assert_allclose(se, ref["se"], rtol=RTOL)


# ---- contrasts and type III ANOVA ------------------------------------------------------------


def test_contrast_df_one_row_is_the_t_test() -> None:
    fit = fitted("exam_factors")
    for method in ddf.DDF_METHODS:
        table = ddf.coef_table(fit, ddf=method)
        test = ddf.contrast_df(fit, [0, 1, 0, 0, 0], ddf=method)
        den_df, f_value, num_df, p_value, _ = test
        assert num_df == 1
        np.testing.assert_allclose(den_df, table["df"].iloc[1], rtol=1e-10)
        np.testing.assert_allclose(f_value, table["t value"].iloc[1] ** 2, rtol=1e-10)
        np.testing.assert_allclose(p_value, table["Pr(>|t|)"].iloc[1], rtol=1e-8)


def test_contrast_df_counts_independent_rows() -> None:
    """NumDF = rank of L (lmerTest's contestMD); a zero L tests nothing."""
    fit = fitted("exam_factors")
    L = np.array([[0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 1, 1]])
    both = ddf.contrast_df(fit, L)
    assert both.num_df == 2
    np.testing.assert_allclose(both.f_value, ddf.contrast_df(fit, L[:2]).f_value, rtol=1e-10)
    assert ddf.contrast_df(fit, np.zeros(5)).num_df == 0
    with pytest.raises(ValueError, match="5 columns"):
        ddf.contrast_df(fit, np.ones(4))


@pytest.mark.parametrize("name", sorted(ANOVA))
@pytest.mark.parametrize("method", ["satterthwaite", "kenward-roger"])
def test_anova_type3(name: str, method: str) -> None:
    """anova(m, type = "III", ddf = ...) of lmerTest (ANOVA[name][key]["call"])."""
    ref = ANOVA[name]
    table_ref = ref[method.replace("-", "_")]
    fit = fitted_formula(ref["data"], ref["formula"])
    table = type3.anova_type3(fit, ddf=method)
    assert list(table.columns) == ["Sum Sq", "Mean Sq", "NumDF", "DenDF", "F value", "Pr(>F)"]
    assert list(table.index) == table_ref["terms"]
    np.testing.assert_array_equal(table["NumDF"], np.array(table_ref["num_df"], dtype=float))
    for ours, theirs in [
        ("Sum Sq", "sum_sq"),
        ("Mean Sq", "mean_sq"),
        ("DenDF", "den_df"),
        ("F value", "f_value"),
    ]:
        expected = np.array(table_ref[theirs], dtype=float)  # null (R's NA) -> NaN
        np.testing.assert_allclose(table[ours], expected, rtol=RTOL, err_msg=ours)
    assert_p_close(table["Pr(>F)"], np.array(table_ref["p_value"], dtype=float))


@pytest.mark.parametrize("name", sorted(ANOVA))
def test_type3_hypotheses_are_lmertests(name: str) -> None:
    """show_tests(anova(m)): the same hypothesis matrices (R prints them to 7 digits)."""
    ref = ANOVA[name]
    ours = type3.type3_hypotheses(fitted_formula(ref["data"], ref["formula"]))
    assert list(ours) == list(ref["hypotheses"])
    for term, hyp in ref["hypotheses"].items():
        theirs = np.array(hyp["L"], dtype=float).reshape(len(hyp["rows"]), len(hyp["columns"]))
        assert list(ours[term].columns) == hyp["columns"]
        np.testing.assert_allclose(ours[term].to_numpy(), theirs, atol=1e-6, err_msg=term)


def test_type3_does_not_depend_on_the_contrasts() -> None:
    """Type III tests with sum contrasts equal those with treatment contrasts."""
    treatment = fitted_formula("cake", "angle ~ recipe * temperature + (1 | recipe:replicate)")
    summed = fitted_formula(
        "cake", "angle ~ C(recipe, contr.sum) * temperature + (1 | recipe:replicate)"
    )
    a, b = type3.anova_type3(treatment), type3.anova_type3(summed)
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-6)


def test_type3_of_an_intercept_only_model_is_empty() -> None:
    table = type3.anova_type3(fitted("dyestuff"))
    assert table.empty
    assert list(table.columns) == ["Sum Sq", "Mean Sq", "NumDF", "DenDF", "F value", "Pr(>F)"]
