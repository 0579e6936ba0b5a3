"""``lmerpy.inference.confint.confint`` against lme4 1.1-31's ``confint.merMod``.

References (see ``reference/README.md``): ``confint_wald`` is ``confint(m, method = "Wald")``
(lme4's old ``.sig01`` names), ``confint_profile`` is ``confint(m, method = "profile",
oldNames = FALSE)``. Tolerances: Wald limits to 1e-6 relative; profile limits within 1% or
0.002·σ, whichever is larger (lme4 interpolates its profile with splines, lmerpy solves for
the crossing).

Not compared with lme4: the fixed-effect profile intervals of ``cbpp_weighted``. lme4's
``profile()`` mishandles prior weights (it warns "non-monotonic profile"; lme4 issue #192)
and returns intervals ~40 times narrower than Wald's. They are compared instead with
``reference/confint/cbpp_weighted_fixed.json``: the same intervals computed in R by refitting
with the coefficient moved into the offset (``cbpp_weighted_fixed.R``).
``insteval_crossed`` (73,421 rows) is excluded: it has no confint reference, and its profile
takes ~270 s here (well over the 60 s allowed), its Wald intervals a few ms.
"""

from __future__ import annotations

import doctest
import json
import math
import warnings
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.stats

import lmerpy
from lmerpy.inference import confint as ci_module
from lmerpy.inference import parameters, profile
from lmerpy.inference.confint import confint
from lmerpy.lmm.result import LmerResult

REFERENCE = Path(__file__).parents[1] / "reference"
CBPP_FIXED = json.loads((REFERENCE / "confint" / "cbpp_weighted_fixed.json").read_text())


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


REFS = {p.stem: _load(p) for p in sorted(REFERENCE.glob("*.json"))}
PROFILED = [name for name, ref in REFS.items() if "confint_profile" in ref]
WALD = [name for name, ref in REFS.items() if "confint_wald" in ref and "family" not in ref]


@cache
def fitted(name: str) -> LmerResult:
    ref = REFS[name]
    data = lmerpy.datasets.load(ref["data"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmerpy.errors.SingularFitWarning)
        return lmerpy.lmer(ref["formula"], data, reml=ref["REML"], weights=ref.get("weights"))


@cache
def profiled(name: str) -> pd.DataFrame:
    return confint(fitted(name))


def test_every_linear_mixed_model_with_a_reference_is_covered() -> None:
    assert len(PROFILED) == 18
    assert set(PROFILED) <= set(WALD)


@pytest.mark.parametrize("name", PROFILED)
def test_rows_are_lme4s_in_lme4s_order(name: str) -> None:
    names = REFS[name]["confint_profile"]["names"]
    assert list(profiled(name).index) == names
    assert list(confint(fitted(name), "wald").index) == names
    assert list(profiled(name).columns) == ["2.5 %", "97.5 %"]


@pytest.mark.parametrize("name", WALD)
def test_wald(name: str) -> None:
    """lme4's limits to 1e-6 relative, or to 1e-3 SE where lmerpy's optimum itself differs
    from lme4's by more: on 6 of 18 models the limits differ by 1e-6 to 1.5e-4 relative, at
    most 1.2e-4 SE (orthodont, exam_factors, ...: the optimizer's tolerance; test_reference
    allows 1% SE).
    The next test shows the formula itself reproduces lme4's limits to 1e-12."""
    ref, fit = REFS[name]["confint_wald"], fitted(name)
    ours = confint(fit, method="Wald")
    se = dict(zip(fit.fixef.index, np.sqrt(np.diag(fit.vcov.to_numpy())), strict=True))
    assert len(ours) == len(ref["names"])
    for i, row in enumerate(ref["names"]):
        lower, upper = ours.iloc[i]
        if ref["lower"][i] is None:  # variance parameters: NA in lme4 (old names .sig01...)
            assert row.startswith(".sig") and math.isnan(lower) and math.isnan(upper)
            continue
        assert ours.index[i] == row
        tol = max(1e-6 * abs(ref["lower"][i]), 1e-3 * se[row])
        assert lower == pytest.approx(ref["lower"][i], abs=tol)
        tol = max(1e-6 * abs(ref["upper"][i]), 1e-3 * se[row])
        assert upper == pytest.approx(ref["upper"][i], abs=tol)


def test_wald_is_beta_plus_minus_z_se_with_lmes_estimates() -> None:
    """With lme4's own β and SE, β ± qnorm(0.975)·SE is lme4's Wald interval to 1e-12, so
    the differences above are the fits', not the formula's; lmerpy's uses its own exactly."""
    z = scipy.stats.norm.ppf(0.975)
    for name in WALD:
        ref = REFS[name]
        beta, se = np.array(list(ref["fixef"].values())), np.array(list(ref["se"].values()))
        k = len(beta)
        np.testing.assert_allclose(beta - z * se, ref["confint_wald"]["lower"][-k:], rtol=1e-12)
        np.testing.assert_allclose(beta + z * se, ref["confint_wald"]["upper"][-k:], rtol=1e-12)
    fit = fitted("exam_factors")
    ours = confint(fit, "wald").iloc[-len(fit.fixef) :]
    se = np.sqrt(np.diag(fit.vcov.to_numpy()))
    np.testing.assert_allclose(ours.iloc[:, 0], fit.fixef - z * se, rtol=1e-14)
    np.testing.assert_allclose(ours.iloc[:, 1], fit.fixef + z * se, rtol=1e-14)


@pytest.mark.parametrize("name", PROFILED)
def test_profile(name: str) -> None:
    ref, fit, ours = REFS[name]["confint_profile"], fitted(name), profiled(name)
    expected = pd.DataFrame({"lower": ref["lower"], "upper": ref["upper"]}, index=ref["names"])
    if name == "cbpp_weighted":  # lme4's weighted fixed-effect profile is wrong: see above
        fixed = pd.DataFrame(
            {"lower": CBPP_FIXED["lower"], "upper": CBPP_FIXED["upper"]},
            index=CBPP_FIXED["names"],
        )
        expected.loc[fixed.index] = fixed
    tol = np.maximum(0.01 * np.abs(expected.to_numpy()), 0.002 * fit.sigma)
    np.testing.assert_array_less(np.abs(ours.to_numpy() - expected.to_numpy()), tol)


def test_boundaries_as_lme4() -> None:
    singular = profiled("dyestuff2_singular")  # sd estimated as 0
    assert singular.loc["sd_(Intercept)|Batch", "2.5 %"] == 0.0
    ortho = profiled("orthodont")  # profiles that never reach the cutoff in range
    assert ortho.loc["cor_age.(Intercept)|Subject"].tolist() == [-1.0, 1.0]
    assert ortho.loc["sd_(Intercept)|Subject", "2.5 %"] == 0.0


@pytest.mark.parametrize(
    ("formula", "name", "renamed"),
    [
        ("Reaction ~ Days + diag(Days | Subject)", "sleepstudy_uncorr", {}),
        ("Reaction ~ Days + cs(Days | Subject)", "sleepstudy_corr",
         {"cor_Days.(Intercept)|Subject": "rho|Subject"}),
    ],
)  # fmt: skip
def test_structured_terms_profile_as_their_lme4_equivalents(
    formula: str, name: str, renamed: dict[str, str]
) -> None:
    """diag(x | g) is (x || g), and cs with two columns is (x | g): same profile intervals
    as lme4's for those, the correlation named ``rho|g`` (after the sds: θ order)."""
    fit = lmerpy.lmer(formula, lmerpy.datasets.load("sleepstudy"))
    ref = REFS[name]["confint_profile"]
    expected = pd.DataFrame({"lower": ref["lower"], "upper": ref["upper"]}, index=ref["names"])
    expected = expected.rename(index=renamed)
    ours = confint(fit)
    assert sorted(ours.index) == sorted(expected.index)
    expected = expected.loc[ours.index]
    tol = np.maximum(0.01 * np.abs(expected.to_numpy()), 0.002 * fit.sigma)
    np.testing.assert_array_less(np.abs(ours.to_numpy() - expected.to_numpy()), tol)


def test_profile_limit_is_where_an_ml_refit_crosses_the_cutoff() -> None:
    """Independent check of the fixed-effect profile: move Days into the offset at its upper
    limit, refit by ML through the public API; the deviance rises by qnorm(0.975)²."""
    fit = fitted("sleepstudy_corr")
    upper = profiled("sleepstudy_corr").loc["Days", "97.5 %"]
    design = fit.design
    reduced = replace(
        design, X=design.X[:, :1], x_columns=["(Intercept)"], offset=upper * design.X[:, 1]
    )
    ml_full = lmerpy.make_deviance(design, reml=False)
    ml_reduced = lmerpy.make_deviance(reduced, reml=False)
    full = lmerpy.optimize_deviance(ml_full, lower=ml_full.lower, start=fit.record.final)
    held = lmerpy.optimize_deviance(ml_reduced, lower=ml_reduced.lower, start=fit.record.final)
    assert held.f_final - full.f_final == pytest.approx(scipy.stats.norm.ppf(0.975) ** 2, abs=2e-3)


def test_variance_deviance_at_the_ml_optimum_is_the_ml_deviance() -> None:
    fit = fitted("sleepstudy_corr_ml")
    ml = profile._ml_fit(fit)
    values = parameters.variance_values(ml.devfun, ml.layout, ml.theta, ml.sigma)
    assert profile._variance_deviance(ml, values) == pytest.approx(fit.deviance, abs=1e-8)
    theta = parameters.theta_from_variance(ml.layout, values)
    assert theta is not None
    np.testing.assert_allclose(theta, ml.theta, rtol=1e-10)


@pytest.mark.parametrize(
    ("level", "labels"),
    [
        (0.95, ["2.5 %", "97.5 %"]),
        (0.9, ["5 %", "95 %"]),
        (0.99, ["0.5 %", "99.5 %"]),
        (0.999, ["0.05 %", "99.95 %"]),
        (0.5, ["25 %", "75 %"]),
        (0.683, ["15.8 %", "84.2 %"]),
        (0.9999, ["0.005 %", "99.995 %"]),
        (0.123456, ["43.8 %", "56.2 %"]),
    ],
)
def test_column_labels_are_rs(level: float, labels: list[str]) -> None:  # R 4.2's confint()
    assert list(confint(fitted("dyestuff"), "wald", level=level).columns) == labels


def test_level_sets_the_width() -> None:
    fit = fitted("sleepstudy_corr")
    z90, z95 = scipy.stats.norm.ppf([0.95, 0.975])
    w90 = confint(fit, "wald", level=0.9).diff(axis=1).iloc[-1, -1]
    w95 = confint(fit, "wald").diff(axis=1).iloc[-1, -1]
    assert w90 / w95 == pytest.approx(z90 / z95)


def test_unknown_method_and_bad_level() -> None:
    fit = fitted("dyestuff")
    with pytest.raises(ValueError, match="profile, wald, boot"):
        confint(fit, method="bayes")
    for level in (0.0, 1.0, 1.5, -0.1, math.nan):
        with pytest.raises(ValueError, match="level"):
            confint(fit, "wald", level=level)
    with pytest.raises(ValueError, match="nsim"):
        confint(fit, "boot", nsim=0)


def test_bootstrap_is_reproducible_with_a_seed(capsys: pytest.CaptureFixture[str]) -> None:
    fit = fitted("sleepstudy_corr")
    first = confint(fit, "boot", nsim=20, seed=7)
    again = confint(fit, "boot", nsim=20, seed=7, progress=True)
    other = confint(fit, "boot", nsim=20, seed=8)
    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(first.to_numpy(), other.to_numpy())
    assert list(first.index) == list(profiled("sleepstudy_corr").index)
    pd.testing.assert_frame_equal(fit.confint("boot", nsim=20, seed=7), first)
    assert "bootstrap:" in capsys.readouterr().err  # tqdm's bar


def test_bootstrap_is_the_same_in_two_processes() -> None:
    """Each replicate draws from its own child seed, so the processes change nothing."""
    fit = fitted("sleepstudy_corr")
    serial = confint(fit, "boot", nsim=12, seed=3)
    pd.testing.assert_frame_equal(confint(fit, "boot", nsim=12, seed=3, n_jobs=2), serial)


def test_bootstrap_agrees_with_the_profile() -> None:
    fit = fitted("sleepstudy_corr")
    boot = confint(fit, "boot", nsim=200, seed=2015).loc["Days"]
    prof = profiled("sleepstudy_corr").loc["Days"]
    width = prof.iloc[1] - prof.iloc[0]
    assert abs((boot.iloc[1] - boot.iloc[0]) - width) < 0.15 * width
    assert np.all(np.abs(boot.to_numpy() - prof.to_numpy()) < 0.15 * width)
    assert boot.iloc[0] < fit.fixef["Days"] < boot.iloc[1]


def test_bootstrap_with_prior_weights() -> None:
    fit = fitted("cbpp_weighted")
    boot = confint(fit, "boot", nsim=40, seed=1)
    assert boot.loc["sigma", "2.5 %"] < fit.sigma < boot.loc["sigma", "97.5 %"]
    for name, value in fit.fixef.items():
        assert boot.loc[name, "2.5 %"] < value < boot.loc[name, "97.5 %"]


def test_bootstrap_percentile_is_boots() -> None:
    """``boot:::norm.inter`` on a fixed sample (R 4.2, boot 1.3-28.1): interpolation on the
    normal quantile scale, extreme order statistics at the ends."""
    t = np.array([-0.961933, -0.292526, 0.258788, -1.152132, 0.195783, 0.030124, 0.085418,
                  1.11661, -1.218857, 1.267369, -0.744782, -1.131219, -0.716358, 0.252652,
                  0.152046, -0.307656, -0.953017, -0.648243, 1.224314, 0.199812, -0.578484,
                  -0.942301, -0.203728, -1.666475, -0.484455, -0.741073, 1.160616, 1.012067,
                  -0.072078, -1.136782, 0.900625, 0.85177, 0.727715, 0.736502, -0.35213,
                  0.705516, 1.300358])  # fmt: skip
    ours = [ci_module._percentile(t, p) for p in (0.025, 0.975, 0.5, 0.1)]
    np.testing.assert_allclose(ours, [-1.666475, 1.300358, -0.072078, -1.139604], atol=1e-6)


def test_docstring_example() -> None:
    assert doctest.testmod(ci_module).failed == 0
