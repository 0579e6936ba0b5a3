"""Every linear mixed model of lme4's reference corpus, fitted by lmerpy and compared.

The JSON files in ``tests/reference/`` were made by lme4 1.1-31 (R 4.2) with
``../shared/tools/lme4_reference.R``; for a fit ``m <- lmer(formula, data, REML = REML)``
each key holds the value of one R call:

    fixef            fixef(m)
    se               sqrt(diag(vcov(m)))
    theta            getME(m, "theta")
    sigma            sigma(m)
    varcorr          as.data.frame(VarCorr(m))
    REMLcrit         REMLcrit(m)                      (REML fits)
    deviance_ML      deviance(m)                      (ML fits)
    logLik, AIC, BIC logLik(m), AIC(m), BIC(m)
    is_singular      isSingular(m)
    ranef            ranef(m, condVar = TRUE): values, and condvar = the diagonal of
                     attr(ranef(m, condVar = TRUE)[[g]], "postVar")
    fitted           fitted(m)                        (small data sets)

Tolerances are those of the fit issue: criterion never worse than lme4's by more than
2e-4; fixed effects within 1% of their SE; SEs within 1%; sigma within 0.1%; VarCorr
SDs and correlations within 1% (correlations also pass within 1e-3 absolute, their
scale being [-1, 1]); conditional modes within 2% of their conditional SD; conditional
variances within 1%.
"""

from __future__ import annotations

import json
import math
import warnings
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import lmerpy
from lmerpy.lmm.result import LmerResult

REFERENCE = Path(__file__).parent / "reference"
LMM = sorted(
    p.stem
    for p in REFERENCE.glob("*.json")
    if "formula" in (d := json.loads(p.read_text())) and "family" not in d and "coef" not in d
)


def reference(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((REFERENCE / f"{name}.json").read_text())
    return data


@cache
def fitted(name: str) -> LmerResult:
    ref = reference(name)
    data = lmerpy.datasets.load(ref["data"])
    weights = ref.get("weights")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmerpy.errors.SingularFitWarning)
        return lmerpy.lmer(ref["formula"], data, reml=ref["REML"], weights=weights)


def close(ours: float, theirs: float, rel: float, abs_: float = 0.0) -> bool:
    return abs(ours - theirs) <= max(abs_, rel * max(abs(ours), abs(theirs)))


def test_the_corpus_holds_every_lmm() -> None:
    assert len(LMM) == 19


@pytest.mark.parametrize("name", LMM)
def test_criterion_is_never_worse_than_lme4(name: str) -> None:
    ref, fit = reference(name), fitted(name)
    if ref["REML"]:
        assert fit.reml_criterion is not None
        ours, theirs = fit.reml_criterion, ref["REMLcrit"]
    else:
        assert fit.reml_criterion is None
        ours, theirs = fit.deviance, ref["deviance_ML"]
    assert ours <= theirs + 2e-4
    assert abs(ours - theirs) < 1e-2  # and at the same optimum, not a different model


@pytest.mark.parametrize("name", LMM)
def test_fixed_effects_and_standard_errors(name: str) -> None:
    ref, fit = reference(name), fitted(name)
    assert list(fit.fixef.index) == list(ref["fixef"])  # lme4's names, lme4's order
    se = np.sqrt(np.diag(fit.vcov.to_numpy()))
    for i, (term, value) in enumerate(ref["fixef"].items()):
        assert abs(fit.fixef[term] - value) <= 0.01 * ref["se"][term], term
        assert close(se[i], ref["se"][term], 0.01), term


@pytest.mark.parametrize("name", LMM)
def test_sigma_and_likelihood(name: str) -> None:
    ref, fit = reference(name), fitted(name)
    assert close(fit.sigma, ref["sigma"], 1e-3)
    assert fit.loglik == pytest.approx(ref["logLik"], abs=1e-3)
    assert fit.aic == pytest.approx(ref["AIC"], abs=2e-3)
    assert fit.bic == pytest.approx(ref["BIC"], abs=2e-3)
    assert fit.npar == ref["df"]
    assert fit.nobs == ref["nobs"]
    assert fit.ngroups == ref["ngrps"]


@pytest.mark.parametrize("name", LMM)
def test_varcorr(name: str) -> None:
    ref, fit = reference(name), fitted(name)
    ours = {
        (r.group, r.var1 or "", r.var2 or ""): r.sdcor
        for r in fit.varcorr.replace({np.nan: None}).itertuples()
    }
    assert len(ours) == len(ref["varcorr"])
    for row in ref["varcorr"]:
        key = (row["group"], row["var1"] or "", row["var2"] or "")
        is_corr = row["var2"] is not None
        assert close(ours[key], row["sdcor"], 0.01, 1e-3 if is_corr else 0.0), key


@pytest.mark.parametrize("name", LMM)
def test_theta(name: str) -> None:
    ref, fit = reference(name), fitted(name)
    names = ref["theta_names"] if isinstance(ref["theta_names"], list) else [ref["theta_names"]]
    assert list(fit.theta.index) == names  # (R writes a length-1 vector as a scalar)
    np.testing.assert_allclose(
        fit.theta.to_numpy(), np.atleast_1d(ref["theta"]), rtol=0.01, atol=2e-3
    )


@pytest.mark.parametrize("name", LMM)
def test_conditional_modes_and_variances(name: str) -> None:
    ref, fit = reference(name), fitted(name)
    assert sorted(fit.ranef) == sorted(g["group"] for g in ref["ranef"])
    for group in ref["ranef"]:
        modes, condvar = fit.ranef[group["group"]], fit.ranef_condvar[group["group"]]
        terms = group["terms"] if isinstance(group["terms"], list) else [group["terms"]]
        assert list(modes.columns) == terms
        assert [str(level) for level in modes.index] == group["levels"]
        cv = group["condvar"]
        cv = [cv[t] for t in terms] if isinstance(cv, dict) else cv
        for t, term in enumerate(terms):
            sd = np.sqrt(np.asarray(cv[t]))
            diff = np.abs(modes[term].to_numpy() - np.asarray(group["values"][t]))
            assert np.all(diff <= 0.02 * np.maximum(sd, 1e-6 * ref["sigma"])), term
            np.testing.assert_allclose(condvar[:, t, t], cv[t], rtol=0.01, atol=1e-12)


@pytest.mark.parametrize("name", [n for n in LMM if reference(n).get("fitted")])
def test_fitted_values(name: str) -> None:
    ref, fit = reference(name), fitted(name)
    np.testing.assert_allclose(fit.fitted.to_numpy(), ref["fitted"], atol=1e-3 * ref["sigma"])


@pytest.mark.parametrize("name", LMM)
def test_singular_fits_are_flagged(name: str) -> None:
    assert fitted(name).is_singular == reference(name)["is_singular"]


def test_dyestuff2_singular_fit_warns_and_keeps_the_message() -> None:
    data = lmerpy.datasets.load("dyestuff2")
    with pytest.warns(lmerpy.errors.SingularFitWarning, match="singular"):
        fit = lmerpy.lmer("Yield ~ 1 + (1 | Batch)", data)
    assert fit.is_singular
    assert any("singular" in m for m in fit.messages)
    assert fit.theta.iloc[0] == 0.0


def test_reml_deviance_is_the_ml_criterion_at_the_reml_optimum() -> None:
    # lme4 1.1-31: deviance(lmer(Reaction ~ Days + (Days | Subject), sleepstudy), REML = FALSE)
    fit = fitted("sleepstudy_corr")
    assert fit.deviance == pytest.approx(1751.986, abs=1e-3)


def test_coef_adds_fixed_and_random_effects() -> None:
    fit = fitted("sleepstudy_corr")
    coef, ranef = fit.coef["Subject"], fit.ranef["Subject"]
    expected = ranef + fit.fixef.to_numpy()
    pd.testing.assert_frame_equal(coef, expected)


def test_residuals_are_response_minus_fitted() -> None:
    fit = fitted("exam_hlm")
    y = lmerpy.datasets.load("exam")["normexam"]
    np.testing.assert_allclose(fit.residuals + fit.fitted, y.to_numpy())
    assert math.isfinite(fit.residuals.std())
