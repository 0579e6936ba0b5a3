"""The bootstrap, case deletion and power by simulation. Case deletion against lme4 1.1-31's
``influence(m, groups = "Subject")`` (postfit_extra.R: the deleted fits' fixed effects and
``cooks.distance(inf)``); the rest by what must hold: the same replicates for a seed in one
process or two, bootstrap spreads near the standard errors, power near its analytic value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import lmerpy
from lmerpy.errors import ArgumentError

from .corpus import EXTRA, extra_fit, fit, numbers


def test_influence_matches_lme4() -> None:
    ref = EXTRA["sleep_influence"]
    inf = extra_fit("sleep").influence("Subject")
    assert list(inf.index) == ref["levels"]
    for name, values in ref["fixef"].items():
        np.testing.assert_allclose(inf[name], numbers(values), rtol=1e-5)
    np.testing.assert_allclose(inf["cooks_distance"], ref["cooks"], rtol=1e-3)


def test_influence_in_two_processes_is_the_same() -> None:
    m = extra_fit("sleep")
    pd.testing.assert_frame_equal(m.influence(n_jobs=2), m.influence())


def test_parametric_bootstrap_reproducible_across_processes() -> None:
    m = fit("sleepstudy_corr")
    one = m.bootstrap(16, seed=11)
    two = m.bootstrap(16, seed=11, n_jobs=2)
    pd.testing.assert_frame_equal(one, two)
    assert list(one.columns) == [*m.fixef.index, *m.theta.index, "sigma"]


def test_bootstrap_spread_matches_the_standard_errors() -> None:
    """200 parametric replicates: the SD of the Days slope within 20% of its SE (the SE of a
    SD from 200 draws is 5%)."""
    m = fit("sleepstudy_corr")
    reps = m.bootstrap(200, seed=5, statistic=lambda f: f.fixef)
    se = np.sqrt(np.diag(m.vcov))
    np.testing.assert_allclose(reps.std(), se, rtol=0.2)


def test_case_bootstrap_and_custom_statistic() -> None:
    m = fit("sleepstudy_corr")
    reps = m.bootstrap(12, type="case", seed=4, statistic=lambda f: [f.sigma])
    assert list(reps.columns) == ["t1"] and reps["t1"].notna().all()


def test_power_sim_matches_the_analytic_power() -> None:
    """The Days slope's t test has power ≈ P(|T| > t_crit) with T noncentral at effect/SE;
    120 replicates estimate it to ± 0.09 (2 SE)."""
    m = fit("sleepstudy_corr")
    effect = 3.0
    result = lmerpy.power_sim(m, {"Days": effect}, nsim=120, seed=21, n_jobs=2)
    se = float(np.sqrt(m.vcov.loc["Days", "Days"]))
    df = 17.0
    crit = stats.t.ppf(0.975, df)
    analytic = stats.nct.sf(crit, df, effect / se) + stats.nct.cdf(-crit, df, effect / se)
    assert abs(result.power - analytic) < 0.12
    assert result.interval[0] < result.power < result.interval[1]
    assert "Power for Days = 3" in repr(result)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda m: m.bootstrap(0), "nsim"),
        (lambda m: m.bootstrap(5, type="wild"), "type must be"),
        (lambda m: m.influence("nonesuch"), "groups must be"),
        (lambda m: lmerpy.power_sim(m, {"nonesuch": 1.0}), "not fixed effects"),
        (lambda m: m.bootstrap(5, n_jobs=0), "n_jobs"),
    ],
)
def test_bad_arguments(call: object, match: str) -> None:
    with pytest.raises(ArgumentError, match=match):
        call(fit("sleepstudy_corr"))  # type: ignore[operator]


def test_generalized_bootstrap_and_power() -> None:
    """cbpp: the bootstrap's spread of the period effects near their Wald SEs (60 replicates,
    within 35%), the same in two processes; a large effect's power near 1."""
    m = fit("cbpp_binomial")
    reps = m.bootstrap(60, seed=8, statistic=lambda f: f.fixef, n_jobs=2)
    np.testing.assert_allclose(reps.std(), np.sqrt(np.diag(m.vcov)), rtol=0.35)
    pd.testing.assert_frame_equal(
        reps.iloc[:6], m.bootstrap(6, seed=8, statistic=lambda f: f.fixef)
    )
    power = lmerpy.power_sim(m, {"period4": -3.0}, nsim=20, seed=2)
    assert power.power >= 0.8


def test_glmmtmb_families_are_refused() -> None:
    owls = lmerpy.datasets.load("owls")
    m = lmerpy.glmer("SiblingNegotiation ~ FoodTreatment + (1 | Nest)", owls, "nbinom2")
    with pytest.raises(ArgumentError, match="binomial and Poisson"):
        m.bootstrap(5)
