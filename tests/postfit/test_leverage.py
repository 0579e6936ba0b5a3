"""lme4's ``hatvalues(m)`` and ``cooks.distance(m)`` (lme4 1.1-31, corpus; 1%), prediction
standard errors of the fixed part (``sqrt(diag(X vcov(m) X'))``, corpus; 1%) and, keeping the
random effects, of xᵀβ̂ + zᵀb̂ against Henderson's mixed-model equations computed directly in R
(postfit_extra.R's ``sleep_pev``; lme4 1.1-31 has no ``se.fit``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmerpy.errors import ArgumentError

from .corpus import EXTRA, MODELS, data, extra_fit, fit, numbers, reference

LINEAR = [m for m in MODELS if "family" not in reference(m)]


@pytest.mark.parametrize("model", LINEAR)
def test_hatvalues_and_cooks_match_lme4(model: str) -> None:
    pf = reference(model)["postfit"]
    np.testing.assert_allclose(
        fit(model).hatvalues(), numbers(pf["hatvalues"]), rtol=0.01, atol=1e-6
    )
    np.testing.assert_allclose(
        fit(model).cooks_distance(), numbers(pf["cooks_distance"]), rtol=0.01, atol=1e-6
    )


def test_hat_values_sum_to_the_effective_degrees_of_freedom() -> None:
    """tr(H) lies between p and p + q, and H y reproduces the fitted values."""
    m = fit("sleepstudy_corr")
    h = m.hatvalues()
    assert 2 < h.sum() < 2 + 36


@pytest.mark.parametrize("model", MODELS)
def test_prediction_se_of_the_fixed_part(model: str) -> None:
    p = reference(model)["postfit"]["predict"]
    nd = pd.DataFrame(p["newdata"])
    frame = data(reference(model)["data"])
    for c in nd.columns:
        if isinstance(frame[c].dtype, pd.CategoricalDtype):
            nd[c] = pd.Categorical(nd[c].astype(str), categories=frame[c].cat.categories)
    out = fit(model).predict(nd, re_form="~0", se_fit=True)
    se = numbers(p["se_fit"])
    assert np.all(np.abs(out["fit"].to_numpy() - numbers(p["fit"])) <= 1e-3 * se)
    np.testing.assert_allclose(out["se_fit"], se, rtol=0.01)


def test_prediction_error_se_keeping_random_effects() -> None:
    ref = EXTRA["sleep_pev"]
    out = extra_fit("sleep").predict(se_fit=True)
    rows = ref["rows"]
    np.testing.assert_allclose(out["fit"].iloc[rows], ref["fit"], rtol=1e-6)
    np.testing.assert_allclose(out["se_fit"].iloc[rows], ref["se_fit"], rtol=1e-3)


def test_intervals() -> None:
    m = extra_fit("sleep")
    nd = pd.DataFrame({"Days": [0.0, 5.0], "Subject": ["308", "309"]})
    conf = m.predict(nd, interval="confidence")
    pred = m.predict(nd, interval="prediction")
    assert list(conf.columns) == ["fit", "se_fit", "lower", "upper"]
    width = (pred["upper"] - pred["lower"]).to_numpy()
    conf_width = (conf["upper"] - conf["lower"]).to_numpy()
    # a prediction interval adds the residual variance: width² = 1.96²·4·(se² + σ²)
    np.testing.assert_allclose(
        width**2, (2 * 1.959963984540054) ** 2 * (conf["se_fit"] ** 2 + m.sigma**2)
    )
    assert np.all(width > conf_width)
    population = m.predict(nd, re_form="~0", interval="prediction")
    assert np.all((population["upper"] - population["lower"]).to_numpy() > width)


def test_linear_only_and_bad_arguments() -> None:
    with pytest.raises(ArgumentError, match="linear fits"):
        fit("cbpp_binomial").hatvalues()
    with pytest.raises(ArgumentError, match="interval must be"):
        extra_fit("sleep").predict(interval="credible")
