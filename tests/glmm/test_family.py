"""Families and links against R's: each number from tests/reference/glmer/references.json,
``families`` (made by make_references.R: ``binomial(link)$linkinv(eta)``, ``$mu.eta``,
``$variance``, ``$dev.resids(y, mu, w)``, ``$aic(y, n = 1, mu, w, dev)``; ``poisson()``
likewise). ``aic`` is R's -2 log-likelihood with every constant (R's family$aic adds no
2 × parameters)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import lmerpy
from lmerpy.errors import FamilyError
from lmerpy.glmm.family import EPS, binomial, get_family, poisson

REFS: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "reference" / "glmer" / "references.json").read_text()
)["families"]
Y01 = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
CASES = {
    "logit": (binomial("logit"), Y01, np.ones(5)),
    "probit": (binomial("probit"), Y01, np.ones(5)),
    "cloglog": (binomial("cloglog"), Y01, np.ones(5)),
    "proportion": (binomial(), np.array([0.25, 0.5, 1, 0, 0.75]), np.array([4.0, 2, 3, 5, 4])),
    "poisson": (poisson(), np.array([0.0, 2, 1, 5, 11]), np.array([1, 1, 2, 1, 0.5])),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_family_functions_match_r(name: str) -> None:
    family, y, w = CASES[name]
    ref = REFS[name]
    eta = np.array(ref["eta"], dtype=np.float64)
    mu = family.link.linkinv(eta)
    np.testing.assert_allclose(mu, ref["mu"], rtol=1e-13)
    np.testing.assert_allclose(family.link.mu_eta(eta), ref["mu_eta"], rtol=1e-12)
    np.testing.assert_allclose(family.link.linkfun(mu), eta, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(family.variance(mu), ref["variance"], rtol=1e-13)
    np.testing.assert_allclose(family.dev_resid(y, mu, w), ref["dev_resids"], rtol=1e-12,
                               atol=1e-14)  # fmt: skip
    np.testing.assert_allclose(family.aic(y, mu, w, np.ones(5)), ref["aic"], rtol=1e-12)


@pytest.mark.parametrize("name", ["logit", "probit", "cloglog", "poisson"])
def test_links_take_scalars_and_integers_and_leave_their_input_alone(name: str) -> None:
    family = CASES[name][0]
    ref = REFS[name]
    eta = np.array(ref["eta"], dtype=np.float64)
    kept = eta.copy()
    assert family.link.mu_eta(float(eta[1])) == pytest.approx(ref["mu_eta"][1], rel=1e-12)
    np.testing.assert_allclose(family.link.mu_eta(eta), ref["mu_eta"], rtol=1e-12)
    np.testing.assert_array_equal(eta, kept)
    ints = np.array([-2, 0, 3])
    np.testing.assert_allclose(family.link.mu_eta(ints), family.link.mu_eta(ints.astype(float)))


def test_inverse_links_stay_inside_the_unit_interval() -> None:
    """lme4's guards (src/glmFamily.cpp): μ in [ε, 1 - ε], dμ/dη at least ε."""
    eta = np.array([-800.0, -40.0, 40.0, 800.0])
    for link in ("logit", "probit", "cloglog"):
        family = binomial(link)
        mu = family.link.linkinv(eta)
        assert np.all(mu >= EPS) and np.all(mu <= 1 - EPS), link
        assert np.all(family.link.mu_eta(eta) >= EPS), link
        assert np.all(np.isfinite(family.kernel(np.array([0.0, 1, 0, 1]), mu))), link
    assert np.all(poisson().link.linkinv(np.array([-800.0, 700.0])) > 0)


def test_families_by_name_and_their_errors() -> None:
    assert str(get_family("binomial")) == "binomial  ( logit )"
    assert str(get_family("poisson")) == "poisson  ( log )"
    with pytest.raises(FamilyError, match="no link 'log'"):
        binomial("log")
    with pytest.raises(FamilyError, match="unsupported family 'tweedie'"):
        get_family("tweedie")
    # R's and glmmTMB's spellings, and the default links of R's family constructors
    assert str(get_family("Gamma")) == "gamma  ( inverse )"
    assert str(get_family("inverse.gaussian")) == "inverse_gaussian  ( 1/mu^2 )"
    assert str(get_family("beta_family")) == "beta  ( logit )"
    assert str(get_family("nbinom2")) == "nbinom2  ( log )"
    with pytest.raises(FamilyError, match="no link 'logit'"):
        lmerpy.gamma("logit")


def test_counts_beyond_double_precision_are_refused() -> None:
    from lmerpy.errors import DataError

    with pytest.raises(DataError, match=r"counts as large as 1\.34e"):
        poisson().check_response(np.array([0.0, 3.0, 1.34e154]), "the response y")


@pytest.mark.parametrize("name", ["logit", "poisson", "probit"])
def test_working_weights_are_prior_times_mu_eta_squared_over_the_variance(name: str) -> None:
    """PIRLS's weights w = prior μ_η² / V(μ) (a canonical link's shortcut prior μ_η included)
    and working response z = η - offset + (y - μ)/μ_η, from R's numbers in the references."""
    from lmerpy.glmm.pirls import working

    family, y, _ = CASES[name]
    ref = REFS[name]
    eta = np.array(ref["eta"], dtype=np.float64)
    mu, prior, offset = np.array(ref["mu"]), np.array([1.0, 2.0, 0.5, 1.0, 3.0]), np.full(5, 0.1)
    w, z = working(family, y, prior, offset, eta, mu)
    mu_eta, variance = np.array(ref["mu_eta"]), np.array(ref["variance"])
    np.testing.assert_allclose(w, prior * mu_eta**2 / variance, rtol=1e-12)
    np.testing.assert_allclose(z, eta - offset + (y - mu) / mu_eta, rtol=1e-12)
    assert family.canonical == (name != "probit")


def test_the_binary_kernel_is_log_mu_for_successes_and_log_one_minus_mu_for_failures() -> None:
    mu = np.array([0.2, 0.7, EPS, 1 - EPS, 0.5])  # y = 0, 1, 1, 0, 1
    expected = [np.log(0.8), np.log(0.7), np.log(EPS), np.log(EPS), np.log(0.5)]
    np.testing.assert_allclose(binomial().kernel(Y01, mu), expected, rtol=1e-15)
