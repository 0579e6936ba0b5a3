"""diag, cs and ar1 against glmmTMB 1.1.5 (REML = TRUE), and hom variants against
equivalent models. References: tests/reference/glmmtmb/references.json, made by
tests/reference/glmmtmb/make_references.R (each entry names its glmmTMB call)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmerpy
from lmerpy.terms import AR1, CompoundSymmetry, Diagonal

HERE = Path(__file__).parents[1] / "reference" / "glmmtmb"
REFS = {m["id"]: m for m in json.loads((HERE / "references.json").read_text())["models"]}


def load(name: str) -> pd.DataFrame:
    if (HERE / f"{name}.csv").exists():
        return pd.read_csv(HERE / f"{name}.csv")
    return lmerpy.datasets.load(name)


def fit(ref_id: str) -> lmerpy.LmerResult:
    ref = REFS[ref_id]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmerpy.errors.SingularFitWarning)
        return lmerpy.lmer(ref["lmerpy_formula"], load(ref["data"]))


def term_sd_and_corr(result: lmerpy.LmerResult) -> tuple[np.ndarray, np.ndarray]:
    (term,) = result.design.terms
    theta = result.record.final
    T = term.term_type.lambda_block(theta, len(term.columns))
    cov = result.sigma**2 * T @ T.T
    sd = np.sqrt(np.diag(cov))
    corr = cov / np.outer(sd, sd)
    cols, rows = np.triu_indices(len(sd), 1)  # R's lower.tri order: column by column
    return sd, corr[rows, cols]


@pytest.mark.parametrize("ref_id", sorted(REFS))
def test_agrees_with_glmmtmb(ref_id: str) -> None:
    ref, result = REFS[ref_id], fit(ref_id)
    # glmmTMB's REML -2 logLik is lme4's REML criterion (scale_check in the references)
    assert result.loglik == pytest.approx(ref["logLik"], abs=2e-3)
    sd, corr = term_sd_and_corr(result)
    np.testing.assert_allclose(sd, ref["sd"], rtol=0.01)
    np.testing.assert_allclose(corr, np.atleast_1d(ref["corr"]) if ref["corr"] != 0 else 0 * corr,
                               rtol=0.01, atol=2e-3)  # fmt: skip
    assert result.sigma == pytest.approx(ref["sigma"], rel=0.01)
    for name, value in ref["fixef"].items():
        lme4_name = "(Intercept)" if name == "(Intercept)" else name
        assert result.fixef[lme4_name] == pytest.approx(value, rel=1e-3, abs=1e-4)


def test_parameter_counts_match_glmmtmbs_table() -> None:
    p = 4
    assert Diagonal().n_theta(p) == p and Diagonal(hom=True).n_theta(p) == 1
    assert CompoundSymmetry().n_theta(p) == p + 1 and CompoundSymmetry(hom=True).n_theta(p) == 2
    assert AR1().n_theta(p) == 2 and AR1(het=True).n_theta(p) == p + 1


def test_us_equals_the_plain_bar() -> None:
    data = lmerpy.datasets.load("sleepstudy")
    a = lmerpy.lmer("Reaction ~ Days + us(Days | Subject)", data)
    b = lmerpy.lmer("Reaction ~ Days + (Days | Subject)", data)
    assert a.reml_criterion == b.reml_criterion


def test_diag_of_numeric_slope_equals_the_double_bar() -> None:
    data = lmerpy.datasets.load("sleepstudy")
    a = lmerpy.lmer("Reaction ~ Days + diag(Days | Subject)", data)
    b = lmerpy.lmer("Reaction ~ Days + (Days || Subject)", data)
    assert a.reml_criterion == pytest.approx(b.reml_criterion, abs=1e-7)


def test_homogeneous_cs_is_lme4s_nested_intercepts() -> None:
    # cs(0 + f | g, hom = TRUE) has covariance s²((1-ρ)I + ρJ) with ρ ≥ 0: the same model as
    # (1 | g) + (1 | g:f), with var(g) = s²ρ and var(g:f) = s²(1-ρ).
    data = load("cs_sim")
    a = lmerpy.lmer("y ~ 1 + cs(0 + cond | g, hom = TRUE)", data)
    b = lmerpy.lmer("y ~ 1 + (1 | g) + (1 | g:cond)", data)
    assert a.reml_criterion == pytest.approx(b.reml_criterion, abs=1e-5)
    sd, corr = term_sd_and_corr(a)
    var_g, var_gf = (b.varcorr.set_index("group").loc[["g", "g:cond"], "vcov"]).to_numpy()
    assert sd[0] ** 2 == pytest.approx(var_g + var_gf, rel=1e-3)
    assert corr[0] == pytest.approx(var_g / (var_g + var_gf), rel=1e-3)


def test_homogeneous_diag_is_one_variance_for_every_column() -> None:
    # diag(0 + f | g, hom = TRUE) is lme4's (1 | g:f) (independent, one variance)
    data = load("cs_sim")
    a = lmerpy.lmer("y ~ 1 + diag(0 + cond | g, hom = TRUE)", data)
    b = lmerpy.lmer("y ~ 1 + (1 | g:cond)", data)
    assert a.reml_criterion == pytest.approx(b.reml_criterion, abs=1e-6)


@pytest.mark.parametrize("rho", [-1 / 3, 0.0, 0.5, 1.0])
def test_cs_factor_is_exact_up_to_the_bounds(rho: float) -> None:
    T = CompoundSymmetry().lambda_block(np.array([1.0, 2.0, 3.0, 0.5, rho]), 4)
    sd = np.array([1.0, 2.0, 3.0, 0.5])
    R = np.full((4, 4), rho) + (1 - rho) * np.eye(4)
    np.testing.assert_allclose(T @ T.T, np.outer(sd, sd) * R, atol=1e-12)
    assert np.allclose(T, np.tril(T))


@pytest.mark.parametrize("rho", [-1.0, -0.3, 0.0, 0.8, 1.0])
def test_ar1_factor_is_exact_up_to_the_bounds(rho: float) -> None:
    T = AR1().lambda_block(np.array([2.0, rho]), 5)
    i, j = np.indices((5, 5))
    np.testing.assert_allclose(T @ T.T, 4.0 * rho ** np.abs(i - j), atol=1e-12)


def test_structured_options_are_literals_checked_at_parse_time() -> None:
    with pytest.raises(lmerpy.errors.FormulaSemanticError, match="hom must be TRUE or FALSE"):
        lmerpy.parse_formula("y ~ diag(x | g, hom = 2)")
    with pytest.raises(lmerpy.errors.FormulaSemanticError, match="bad options for ar1"):
        lmerpy.parse_formula("y ~ ar1(0 + t | g, hom = TRUE)")
