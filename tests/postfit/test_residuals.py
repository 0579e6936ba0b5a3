"""DHARMa-style simulated residuals, checked by simulation (DHARMa is not in Debian's archive):
under the model that made the data the residuals are uniform and the tests' p-values are
uniform; under overdispersion or zero inflation the dispersion and zero-inflation tests
reject. Each check is far from its threshold for the seeds used."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import lmerpy
from lmerpy.errors import ArgumentError
from lmerpy.postfit.residuals import scaled_residuals

from .corpus import fit


def _poisson_data(rng: np.random.Generator, *, extra: str = "none") -> pd.DataFrame:
    groups, per = 25, 8
    g = np.repeat(np.arange(groups), per)
    x = rng.normal(size=groups * per)
    eta = 0.6 + 0.5 * x + rng.normal(0, 0.5, groups)[g]
    if extra == "overdispersed":
        eta = eta + rng.normal(0, 0.8, len(eta))  # an observation-level effect the fit lacks
    y = rng.poisson(np.exp(eta)).astype(float)
    if extra == "zeros":
        y[rng.uniform(size=len(y)) < 0.3] = 0.0
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{k}" for k in g]})


def _fit(data: pd.DataFrame) -> lmerpy.GlmerResult:
    return lmerpy.glmer("y ~ x + (1 | g)", data, family="poisson")


def test_residuals_are_uniform_under_the_model_that_made_the_data() -> None:
    """Data drawn from a fitted model, residuals against that model's simulations: a given
    observation's residual over 300 such data sets is uniform (KS p > 0.01 for each of three
    observations). Within one data set the residuals share the data's group effects, so they
    are uniform but not independent (the reason DHARMa's tests on one data set are
    approximate)."""
    m = _fit(_poisson_data(np.random.default_rng(2024)))
    rng = np.random.default_rng(99)
    rows = [0, 77, 150]
    picked = []
    for _ in range(300):
        y = m.simulate_once(rng)
        sims = np.column_stack([m.simulate_once(rng) for _ in range(50)])
        picked.append(scaled_residuals(y, sims, rng)[rows])
    for column in np.asarray(picked).T:
        assert stats.kstest(column, "uniform").pvalue > 0.01


def test_tests_are_calibrated_on_refitted_data() -> None:
    """Refitting each simulated data set makes the residuals conservative, never liberal:
    of 30 fits of the true model, at most 10% reject uniformity or dispersion at 0.05."""
    rng = np.random.default_rng(2024)
    ks, dispersion = [], []
    for _ in range(30):
        res = _fit(_poisson_data(rng)).simulated_residuals(nsim=100, seed=rng.integers(1 << 30))
        ks.append(res.test_uniformity()["p_value"])
        dispersion.append(res.test_dispersion()["p_value"])
    assert np.mean(np.asarray(ks) < 0.05) <= 0.1
    assert np.mean(np.asarray(dispersion) < 0.05) <= 0.1


def test_dispersion_test_rejects_overdispersion() -> None:
    res = _fit(_poisson_data(np.random.default_rng(7), extra="overdispersed")).simulated_residuals(
        seed=1
    )
    d = res.test_dispersion()
    assert d["ratio"] > 1.5 and d["p_value"] < 0.01
    assert res.test_dispersion("simulation")["ratio"] > 1.5
    assert res.test_uniformity()["p_value"] < 0.05


def test_zero_inflation_test_rejects_extra_zeros() -> None:
    res = _fit(_poisson_data(np.random.default_rng(8), extra="zeros")).simulated_residuals(seed=2)
    z = res.test_zero_inflation()
    assert z["ratio"] > 1.3 and z["p_value"] < 0.01


def test_linear_fit_residuals_and_table() -> None:
    res = fit("sleepstudy_corr").simulated_residuals(nsim=200, seed=3)
    r = res.residuals
    assert r.between(0, 1).all() and len(r) == 180
    table = res.tests()
    assert list(table.columns) == ["statistic", "p_value"] and len(table) == 3  # no counts
    assert table["p_value"].between(0, 1).all()


def test_reproducible_and_plot(tmp_path: object) -> None:
    m = fit("cbpp_binomial")
    a, b = m.simulated_residuals(nsim=50, seed=9), m.simulated_residuals(nsim=50, seed=9)
    pd.testing.assert_series_equal(a.residuals, b.residuals)
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    figure = a.plot()
    assert len(figure.axes) == 2


def test_bad_nsim() -> None:
    with pytest.raises(ArgumentError, match="nsim"):
        fit("sleepstudy_corr").simulated_residuals(nsim=1)
