"""Families with a dispersion parameter against glmmTMB 1.1.5 (tests/reference/families: every
number below comes from the ``glmmTMB(...)`` call named in each model's JSON ``call``, made by
``glmmtmb_reference.R``; the inverse Gaussian from that script's ``laplace_fit``)."""

from __future__ import annotations

import json
import runpy
import warnings
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import lmerpy
from lmerpy.glmm.family import get_family
from lmerpy.glmm.fit import _extra_models, glformula
from lmerpy.glmm.laplace import LaplaceDeviance
from lmerpy.glmm.result import GlmerResult

FAMILIES = Path(__file__).parents[1] / "reference" / "families"
MODELS = sorted(p.stem for p in (FAMILIES / "models").glob("*.json"))
DISPERSION = {  # glmmTMB's sigma(m) -> phi, whose log is lmerpy's dispersion parameter
    "gamma": lambda s: 1 / s**2, "inverse_gaussian": lambda s: s**2, "nbinom2": lambda s: s,
    "nbinom1": lambda s: s, "beta": lambda s: s, "betabinomial": lambda s: s,
}  # fmt: skip


@cache
def reference(model: str) -> dict[str, Any]:
    return dict(json.loads((FAMILIES / "models" / f"{model}.json").read_text()))


@cache
def corpus_data(name: str) -> pd.DataFrame:
    """A corpus CSV with its factors as Categoricals in R's level order (its schema)."""
    return lmerpy.datasets.read_csv(FAMILIES / "data" / f"{name}.csv")


def options(ref: dict[str, Any]) -> dict[str, str]:
    """glmer's zi= and disp= as the model has them (glmmTMB's ziformula, dispformula)."""
    out = {"zi": ref["zi"]} if ref.get("zi") else {}
    if ref.get("disp") and ref["disp"].replace(" ", "") != "~1":
        out["disp"] = ref["disp"]
    return out


def family_of(ref: dict[str, Any]) -> lmerpy.Family:
    return get_family(ref["family"]) if ref["link"] == get_family(ref["family"]).link.name \
        else getattr(lmerpy, ref["family"])(link=ref["link"])  # fmt: skip


@cache
def fitted(model: str) -> GlmerResult:
    ref = reference(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmerpy.errors.DataWarning)  # grouseticks' scales
        warnings.simplefilter(
            "ignore", lmerpy.errors.SingularFitWarning
        )  # cbpp: sd 1.4e-4, as glmmTMB
        return lmerpy.glmer(
            ref["formula"], corpus_data(ref["data"]), family_of(ref), **options(ref)
        )


def glmmtmb_point(devfun: LaplaceDeviance, ref: dict[str, Any]) -> np.ndarray:
    """(theta, beta, log phi) at glmmTMB's estimates, theta from its VarCorr."""
    theta = []
    for term in devfun.design.terms:
        cols = term.columns
        S = np.zeros((len(cols), len(cols)))
        for row in (r for r in ref["varcorr"] if r["group"] == term.group):
            i = cols.index(row["var1"])
            j = i if row["var2"] is None else cols.index(row["var2"])
            S[i, j] = S[j, i] = row["vcov"]
        L = np.linalg.cholesky(S)
        theta += [L[i, j] for j in range(len(cols)) for i in range(j, len(cols))]
    beta = [ref["fixef"][c] for c in devfun.design.x_columns]
    zi = [ref["fixef_zi"][c] for c in devfun.zi_columns]
    if devfun.disp_columns == ["(Intercept)"]:
        disp = [np.log(DISPERSION[ref["family"]](ref["sigma"]))]
    else:
        disp = [ref["fixef_disp"][c] for c in devfun.disp_columns]
    return np.r_[theta, beta, zi, disp]


@pytest.mark.parametrize("model", [m for m in MODELS if m != "cbpp_binomial_tmb"])  # lme4's
def test_the_objective_at_glmmtmbs_estimates_is_its_minus_2_loglik(model: str) -> None:
    """The exact Laplace approximation itself, apart from any optimizer: glmmTMB's logLik at
    its own estimates, to 1e-7 (measured: 1e-12 to 4e-10)."""
    ref = reference(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmerpy.errors.DataWarning)
        design, trials = glformula(ref["formula"], corpus_data(ref["data"]), family_of(ref))
    opts = options(ref)
    extra = _extra_models(design, family_of(ref), opts.get("zi"), opts.get("disp"))
    devfun = LaplaceDeviance(design, family_of(ref), trials, zi=extra[0], disp=extra[1])
    assert devfun(glmmtmb_point(devfun, ref)) == pytest.approx(-2 * ref["logLik"], abs=1e-7)


@pytest.mark.parametrize("model", MODELS)
def test_fits_match_glmmtmb(model: str) -> None:
    """The corpus README's tolerances: -2 logLik within [-1e-2, +2e-3] of glmmTMB's; fixed
    effects within 1% of their SE (+1e-6); SEs 2%; sigma 1%; VarCorr sd/cor 1% or 2e-3."""
    ref, fit = reference(model), fitted(model)
    assert -1e-2 <= -2 * fit.loglik - (-2 * ref["logLik"]) <= 2e-3
    assert fit.npar == ref["df"]
    for name, value in ref["fixef"].items():
        assert abs(fit.fixef[name] - value) <= 0.01 * ref["se"][name] + 1e-6, name
    se = np.sqrt(np.diag(fit.vcov.to_numpy()))
    np.testing.assert_allclose(se, [ref["se"][c] for c in fit.vcov.index], rtol=0.02)
    if ref["sigma"] is not None:
        assert fit.sigma == pytest.approx(ref["sigma"], rel=0.01)
    for part, fixef in [("zi", fit.fixef_zi), ("disp", fit.fixef_disp)]:
        if part not in options(ref):
            continue
        for name, value in ref[f"fixef_{part}"].items():
            assert abs(fixef[name] - value) <= 0.01 * ref[f"se_{part}"][name] + 1e-6, name
    ours = {
        (r.group, r.var1, r.var2 if isinstance(r.var2, str) else ""): r.sdcor
        for r in fit.varcorr.itertuples()
    }
    for row in ref["varcorr"]:
        got = ours[(row["group"], row["var1"], row["var2"] or "")]
        assert abs(got - row["sdcor"]) <= max(0.01 * abs(row["sdcor"]), 2e-3), row


def test_conditional_modes_and_variances_match_glmmtmb() -> None:
    """Salamanders nbinom2: modes within 2% of their conditional SD; conditional variances
    (TMB's sdreport with the parameters fixed, the corpus' ``condvar``) within 2%."""
    ref, fit = reference("salamanders_nbinom2"), fitted("salamanders_nbinom2")
    block = ref["ranef"][0]
    modes = fit.ranef[block["group"]].loc[block["levels"]].to_numpy()[:, 0]
    condvar = fit.ranef_condvar[block["group"]][:, 0, 0]
    order = list(fit.ranef[block["group"]].index)
    condvar = condvar[[order.index(level) for level in block["levels"]]]
    want, want_var = np.ravel(block["values"]), np.ravel(block["condvar"])
    np.testing.assert_array_less(np.abs(modes - want), 0.02 * np.sqrt(want_var))
    np.testing.assert_allclose(condvar, want_var, rtol=0.02)


def test_simulated_responses_follow_the_family() -> None:
    gamma_fit = fitted("sleepstudy_gamma_log")
    sims = gamma_fit.simulate(200, seed=1).to_numpy()
    assert (sims > 0).all()
    # the coefficient of variation of y around its conditional mean is sigma (0.081);
    # with random effects redrawn the spread is wider, but of that order
    assert 0.05 < np.std(sims / gamma_fit.fitted.to_numpy()[:, None]) < 0.3
    counts = fitted("salamanders_nbinom2").simulate(3, seed=1).to_numpy()
    assert (counts >= 0).all() and np.array_equal(counts, np.round(counts))
    props = fitted("cbpp_betabinomial").simulate(3, seed=1).to_numpy()
    assert ((props >= 0) & (props <= 1)).all()


def test_responses_outside_the_family_are_clear_errors() -> None:
    sleep = corpus_data("sleepstudy")
    with pytest.raises(lmerpy.errors.DataError, match="a gamma response is positive numbers"):
        lmerpy.glmer("y ~ Days + (1 | Subject)", sleep.assign(y=sleep.Reaction - 300), "gamma")
    beta = corpus_data("betasim")
    with pytest.raises(lmerpy.errors.DataError, match="strictly between 0 and 1"):
        lmerpy.glmer("y ~ x + (1 | g)", beta.assign(y=beta.y.round()), "beta")
    sal = corpus_data("salamanders")
    with pytest.raises(lmerpy.errors.DataError, match="nbinom2 counts are whole numbers"):
        lmerpy.glmer("y ~ mined + (1 | site)", sal.assign(y=sal["count"] + 0.5), "nbinom2")
    with pytest.raises(lmerpy.errors.ArgumentError, match="nagq = 5"):
        lmerpy.glmer("count ~ mined + (1 | site)", sal, "nbinom2", nagq=5)


def test_separated_counts_are_refused_for_the_negative_binomial_too() -> None:
    frame = pd.DataFrame(
        {"y": [2, 0, 0, 1, 3, 0], "x": [2, 0, 0, 2, 2, 0], "g": [0, 0, 1, 1, 2, 2]}
    )
    with pytest.raises(lmerpy.errors.SeparationError):
        lmerpy.glmer("y ~ x + (1 | g)", frame, "nbinom2")


def test_profile_intervals_bracket_the_estimates_and_agree_with_wald_for_beta() -> None:
    """Gamma(log) on sleepstudy: the profile limits of beta, with log phi and theta
    re-optimised, lie within 10% of the Wald limits' distance from the estimate (the
    likelihood is close to quadratic in beta here); the sd limits bracket the estimate."""
    fit = fitted("sleepstudy_gamma_log")
    profile, wald = fit.confint(), fit.confint("wald")
    for name in fit.fixef.index:
        est = fit.fixef[name]
        for got, want in zip(profile.loc[name], wald.loc[name], strict=True):
            assert abs(got - want) <= 0.1 * abs(want - est), name
    sd = fit.varcorr.set_index(["var1"]).loc["(Intercept)"].iloc[0]["sdcor"]
    lower, upper = profile.loc["sd_(Intercept)|Subject"]
    assert lower < sd < upper


def test_a_likelihood_ratio_test_of_the_dispersion() -> None:
    """Poisson nested in nbinom2 (theta -> inf): Salamanders' counts are overdispersed."""
    nb = fitted("salamanders_nbinom2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmerpy.errors.ConvergenceWarning)
        pois = lmerpy.glmer(
            "count ~ spp + mined + (1 | site)", corpus_data("salamanders"), "poisson"
        )
    table = lmerpy.anova(pois, nb)
    assert list(table["npar"]) == [9, 10]
    assert table["Chisq"].iloc[1] == pytest.approx(2 * (nb.loglik - pois.loglik))
    assert table["Pr(>Chisq)"].iloc[1] < 1e-10


def test_zero_inflation_and_dispersion_models_refuse_what_they_cannot_model() -> None:
    sleep, sal = corpus_data("sleepstudy"), corpus_data("salamanders")
    with pytest.raises(lmerpy.errors.ArgumentError, match="the gamma family has no zeros"):
        lmerpy.glmer("Reaction ~ Days + (1 | Subject)", sleep, "gamma", zi="~ 1")
    with pytest.raises(lmerpy.errors.ArgumentError, match="the poisson family has none"):
        lmerpy.glmer("count ~ mined + (1 | site)", sal, "poisson", disp="~ mined")
    with pytest.raises(lmerpy.errors.FormulaSemanticError, match="one-sided"):
        lmerpy.glmer("count ~ mined + (1 | site)", sal, "poisson", zi="count ~ mined")
    with pytest.raises(lmerpy.errors.MissingColumnError, match="minned"):
        lmerpy.glmer("count ~ mined + (1 | site)", sal, "poisson", zi="~ minned")


def test_lme4s_families_have_no_zero_inflation_or_dispersion_coefficients() -> None:
    fit = fitted("cbpp_binomial_tmb")
    assert fit.fixef_zi.empty and fit.fixef_disp.empty and fit.vcov_zi.empty
    zip_fit = fitted("salamanders_zipoisson")
    assert list(zip_fit.fixef_zi.index) == list(reference("salamanders_zipoisson")["fixef_zi"])
    np.testing.assert_allclose(
        np.sqrt(np.diag(zip_fit.vcov_zi)),
        list(reference("salamanders_zipoisson")["se_zi"].values()),
        rtol=0.02,
    )
    assert zip_fit.sigma == 1.0  # a Poisson model's, zero-inflated or not


@pytest.mark.parametrize(
    "model", ["salamanders_zipoisson", "salamanders_nbinom2", "sleepstudy_gamma_log"]
)
def test_fitted_means_match_glmmtmb(model: str) -> None:
    """glmmTMB's fitted(m), the response-scale mean with zero inflation, within 1e-3
    (relative; measured 2e-5 to 1.3e-4: the estimates differ within 1% of their SEs)."""
    fit = fitted(model)
    np.testing.assert_allclose(fit.predict(type="response"), reference(model)["fitted"], rtol=1e-3)
    np.testing.assert_allclose(fit.fitted, fit.predict(type="response"), rtol=1e-12)


def test_prediction_types_on_new_data() -> None:
    fit = fitted("salamanders_zipoisson")
    new = corpus_data("salamanders").iloc[[0, 1, 300]]
    p, mu = fit.predict(new, type="zprob"), fit.predict(new, type="conditional")
    zi = fit.fixef_zi
    # the zero-inflation model's linear predictor on its own, checked term by term
    row = new.iloc[0]
    eta_zi = (
        zi["(Intercept)"] + zi.get(f"spp{row['spp']}", 0.0) + zi.get(f"mined{row['mined']}", 0.0)
    )
    assert p.iloc[0] == pytest.approx(1 / (1 + np.exp(-eta_zi)))
    np.testing.assert_allclose(fit.predict(new, type="response"), (1 - p) * mu)
    np.testing.assert_allclose(np.log(mu), fit.predict(new, type="link"))
    with pytest.raises(lmerpy.errors.ArgumentError, match="zprob"):
        fit.predict(new, type="probability")


def test_the_summary_shows_the_dispersion_and_the_other_models() -> None:
    text = str(fitted("salamanders_nbinom2").summary())
    assert "Dispersion parameter for nbinom2 family (): 0.942" in text  # glmmTMB: 0.942
    text = str(fitted("salamanders_zipoisson").summary())
    assert "Zero-inflation model:" in text and "Dispersion" not in text
    text = str(fitted("sleepstudy_gaussian_disp").summary())
    assert "Dispersion model:" in text


def test_the_families_example_counts_zeros_as_the_docs_say() -> None:
    """examples/families.py (docs/families.md's figure): the Poisson fit expects too few
    zeros; the negative binomial and the zero-inflated Poisson recover them (within 5%)."""
    example = runpy.run_path(str(Path(__file__).parents[2] / "examples" / "families.py"))
    data = lmerpy.datasets.load("salamanders")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmerpy.errors.ConvergenceWarning)
        pois = lmerpy.glmer(example["FORMULA"], data, "poisson")
    models = {"Poisson": pois, "negative binomial": fitted("salamanders_nbinom2"),
              "zero-inflated Poisson": fitted("salamanders_zipoisson")}  # fmt: skip
    totals = example["zeros_by_species"](data, models).sum()
    assert totals["Poisson"] < 0.85 * totals["observed"]
    for name in ["negative binomial", "zero-inflated Poisson"]:
        assert totals[name] == pytest.approx(totals["observed"], rel=0.05)


def test_intervals_for_the_dispersion_model() -> None:
    """Wald limits of the dispersion coefficients against glmmTMB's estimates ± z SE (the
    corpus' fixef_disp, se_disp): within 1% of an SE for the estimate plus z times 2% of it
    for the SE, the corpus tolerances (5% of an SE in all); profile limits within 10% of the Wald
    limits' distance from the estimate (the likelihood is near quadratic in them)."""
    fit, ref = fitted("sleepstudy_gaussian_disp"), reference("sleepstudy_gaussian_disp")
    wald, profile = fit.confint("wald"), fit.confint()
    z = 1.959963984540054
    for name, est in ref["fixef_disp"].items():
        se = ref["se_disp"][name]
        np.testing.assert_allclose(
            wald.loc[f"d~{name}"], [est - z * se, est + z * se], atol=0.05 * se
        )
        ours = fit.fixef_disp[name]
        for got, want in zip(profile.loc[f"d~{name}"], wald.loc[f"d~{name}"], strict=True):
            assert abs(got - want) <= 0.1 * abs(want - ours), name
