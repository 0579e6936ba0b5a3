"""Response distributions with a dispersion parameter, as glmmTMB has them: the log density
of each observation and its first two derivatives in the mean, and the link functions'
first two derivatives in η.

What the exact Laplace approximation (``laplace``) needs of a family is ℓ(y | μ, φ) and
dℓ/dμ, d²ℓ/dμ²; the chain rule through the link gives the derivatives in η, whose second is
the observed (not the expected) information. φ is on glmmTMB's scale for each family, the
quantity whose log the dispersion model predicts:

====================  ==============================  ==========================
family                φ                               glmmTMB's ``sigma(m)``
====================  ==============================  ==========================
gaussian              σ² (the residual variance)      σ = √φ
gamma                 shape k                         1/√k (coefficient of variation)
inverse_gaussian      φ, Var(y) = φμ³                 √φ
nbinom1               φ, Var(y) = μ(1 + φ)            φ
nbinom2               θ (size), Var(y) = μ + μ²/θ     θ
beta                  precision φ                     φ
betabinomial          precision φ                     φ
====================  ==============================  ==========================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from scipy import special

if TYPE_CHECKING:
    from .family import Family

__all__ = [
    "DISTRIBUTIONS",
    "POISSON",
    "Distribution",
    "LinkDerivatives",
    "distribution_of",
    "link_derivatives",
]

FloatArray = NDArray[np.float64]
Phi = float | FloatArray  # one dispersion, or one per row (a dispersion model)
Density = Callable[[FloatArray, FloatArray, Phi, FloatArray], FloatArray]
Moment = Callable[[FloatArray, Phi, FloatArray], FloatArray]
Sampler = Callable[[np.random.Generator, FloatArray, Phi, FloatArray], FloatArray]


@dataclass(frozen=True)
class Distribution:
    """ℓ(y | μ, φ, n) and its derivatives in μ, per observation (n: binomial trials).

    Attributes:
        name: lmerpy's name (glmmTMB's, lower case).
        links: the links it accepts, the first the default (R's and glmmTMB's).
        loglik, d1, d2: ℓ, dℓ/dμ, d²ℓ/dμ².
        sigma: φ -> glmmTMB's ``sigma(m)``.
        variance: Var(y) given μ, φ and the trials.
        sample: draws y given μ, φ and the trials.
        support: ``"real"``, ``"positive"``, ``"count"``, ``"unit"`` (0 < y < 1) or
            ``"proportion"`` (successes of n).
    """

    name: str
    links: tuple[str, ...]
    loglik: Density
    d1: Density
    d2: Density
    sigma: Callable[[float], float]
    support: str
    variance: Moment
    sample: Sampler
    dispersion: bool = True


def _gaussian(y: FloatArray, mu: FloatArray, phi: Phi, n: FloatArray) -> FloatArray:
    return np.asarray(-0.5 * np.log(2 * np.pi * phi) - (y - mu) ** 2 / (2 * phi))


def _gamma(y: FloatArray, mu: FloatArray, k: Phi, n: FloatArray) -> FloatArray:
    return np.asarray(k * np.log(k / mu) + (k - 1) * np.log(y) - k * y / mu - special.gammaln(k))


def _inverse_gaussian(y: FloatArray, mu: FloatArray, phi: Phi, n: FloatArray) -> FloatArray:
    return np.asarray(-0.5 * np.log(2 * np.pi * phi * y**3) - (y - mu) ** 2 / (2 * phi * mu**2 * y))


def _nbinom2(y: FloatArray, mu: FloatArray, theta: Phi, n: FloatArray) -> FloatArray:
    return np.asarray(
        special.gammaln(y + theta) - special.gammaln(theta) - special.gammaln(y + 1)
        + theta * np.log(theta / (theta + mu)) + special.xlogy(y, mu / (theta + mu))
    )  # fmt: skip


def _nbinom1(y: FloatArray, mu: FloatArray, phi: Phi, n: FloatArray) -> FloatArray:
    size = mu / phi
    return np.asarray(
        special.gammaln(y + size) - special.gammaln(size) - special.gammaln(y + 1)
        - size * np.log1p(phi) + y * np.log(phi / (1 + phi))
    )  # fmt: skip


def _beta(y: FloatArray, mu: FloatArray, phi: Phi, n: FloatArray) -> FloatArray:
    a, b = mu * phi, (1 - mu) * phi
    return np.asarray(
        special.gammaln(phi) - special.gammaln(a) - special.gammaln(b)
        + (a - 1) * np.log(y) + (b - 1) * np.log1p(-y)
    )  # fmt: skip


def _betabinomial(y: FloatArray, mu: FloatArray, phi: Phi, n: FloatArray) -> FloatArray:
    k = np.round(y * n)
    a, b = mu * phi, (1 - mu) * phi
    choose = special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)
    return np.asarray(choose + special.betaln(k + a, n - k + b) - special.betaln(a, b))


DISTRIBUTIONS: dict[str, Distribution] = {
    "gaussian": Distribution(
        "gaussian", ("identity", "log", "inverse"), _gaussian,
        lambda y, mu, phi, n: (y - mu) / phi,
        lambda y, mu, phi, n: np.full_like(mu, -1.0 / phi),
        lambda phi: float(np.sqrt(phi)), "real",
        lambda mu, phi, n: np.full_like(mu, phi),
        lambda rng, mu, phi, n: rng.normal(mu, np.sqrt(phi)),
    ),
    "gamma": Distribution(
        "gamma", ("inverse", "log", "identity"), _gamma,
        lambda y, mu, k, n: k * (y - mu) / mu**2,
        lambda y, mu, k, n: k / mu**2 - 2 * k * y / mu**3,
        lambda k: float(1 / np.sqrt(k)), "positive",
        lambda mu, k, n: mu**2 / k,
        lambda rng, mu, k, n: rng.gamma(k, mu / k),
    ),
    "inverse_gaussian": Distribution(
        "inverse_gaussian", ("1/mu^2", "log", "inverse", "identity"), _inverse_gaussian,
        lambda y, mu, phi, n: (y - mu) / (phi * mu**3),
        lambda y, mu, phi, n: (2 * mu - 3 * y) / (phi * mu**4),
        lambda phi: float(np.sqrt(phi)), "positive",
        lambda mu, phi, n: phi * mu**3,
        lambda rng, mu, phi, n: rng.wald(mu, 1.0 / phi),
    ),
    "nbinom2": Distribution(
        "nbinom2", ("log",), _nbinom2,
        lambda y, mu, t, n: y / mu - (t + y) / (t + mu),
        lambda y, mu, t, n: -y / mu**2 + (t + y) / (t + mu) ** 2,
        float, "count",
        lambda mu, t, n: mu + mu**2 / t,
        lambda rng, mu, t, n: rng.negative_binomial(t, t / (t + mu)).astype(np.float64),
    ),
    "nbinom1": Distribution(
        "nbinom1", ("log",), _nbinom1,
        lambda y, mu, phi, n: (
            special.digamma(y + mu / phi) - special.digamma(mu / phi) - np.log1p(phi)
        ) / phi,
        lambda y, mu, phi, n: (
            special.polygamma(1, y + mu / phi) - special.polygamma(1, mu / phi)
        ) / phi**2,
        float, "count",
        lambda mu, phi, n: mu * (1 + phi),
        lambda rng, mu, phi, n: rng.negative_binomial(mu / phi, 1 / (1 + phi)).astype(np.float64),
    ),
    "beta": Distribution(
        "beta", ("logit",), _beta,
        lambda y, mu, phi, n: phi * (
            special.digamma((1 - mu) * phi) - special.digamma(mu * phi) + np.log(y / (1 - y))
        ),
        lambda y, mu, phi, n: -phi**2 * (
            special.polygamma(1, mu * phi) + special.polygamma(1, (1 - mu) * phi)
        ),
        float, "unit",
        lambda mu, phi, n: mu * (1 - mu) / (1 + phi),
        lambda rng, mu, phi, n: rng.beta(mu * phi, (1 - mu) * phi),
    ),
    "betabinomial": Distribution(
        "betabinomial", ("logit",), _betabinomial,
        lambda y, mu, phi, n: phi * (
            special.digamma(np.round(y * n) + mu * phi)
            - special.digamma(n - np.round(y * n) + (1 - mu) * phi)
            - special.digamma(mu * phi) + special.digamma((1 - mu) * phi)
        ),
        lambda y, mu, phi, n: phi**2 * (
            special.polygamma(1, np.round(y * n) + mu * phi)
            + special.polygamma(1, n - np.round(y * n) + (1 - mu) * phi)
            - special.polygamma(1, mu * phi) - special.polygamma(1, (1 - mu) * phi)
        ),
        float, "proportion",
        lambda mu, phi, n: mu * (1 - mu) * (1 + (n - 1) / (phi + 1)) / n,
        lambda rng, mu, phi, n: rng.binomial(
            np.round(n).astype(np.int64), rng.beta(mu * phi, (1 - mu) * phi)
        ) / n,
    ),
}  # fmt: skip


POISSON = Distribution(
    "poisson", ("log",),
    lambda y, mu, phi, n: np.asarray(special.xlogy(y, mu) - mu - special.gammaln(y + 1)),
    lambda y, mu, phi, n: y / mu - 1,
    lambda y, mu, phi, n: -y / mu**2,
    lambda phi: 1.0, "count",
    lambda mu, phi, n: mu,
    lambda rng, mu, phi, n: rng.poisson(mu).astype(np.float64),
    dispersion=False,
)  # fmt: skip
"""The Poisson log density, for zero-inflated Poisson models (without zero inflation, Poisson
models are fitted as lme4 does, where the two approximations coincide)."""


def distribution_of(family: Family) -> Distribution | None:
    """The log density the exact Laplace approximation uses for ``family``."""
    return POISSON if family.name == "poisson" else DISTRIBUTIONS.get(family.name)


@dataclass(frozen=True)
class LinkDerivatives:
    """μ(η) and its first two derivatives."""

    name: str
    mu: Callable[[FloatArray], FloatArray]
    d1: Callable[[FloatArray], FloatArray]
    d2: Callable[[FloatArray], FloatArray]


def _expit(eta: FloatArray) -> FloatArray:
    return np.asarray(special.expit(eta))


def _expit1(eta: FloatArray) -> FloatArray:
    p = special.expit(eta)
    return np.asarray(p * (1 - p))


def _expit2(eta: FloatArray) -> FloatArray:
    p = special.expit(eta)
    return np.asarray(p * (1 - p) * (1 - 2 * p))


_LINKS: dict[str, LinkDerivatives] = {
    "identity": LinkDerivatives(
        "identity", lambda e: e, lambda e: np.ones_like(e), lambda e: np.zeros_like(e)
    ),
    "log": LinkDerivatives("log", np.exp, np.exp, np.exp),
    "inverse": LinkDerivatives("inverse", lambda e: 1 / e, lambda e: -1 / e**2, lambda e: 2 / e**3),
    "1/mu^2": LinkDerivatives(
        "1/mu^2", lambda e: e**-0.5, lambda e: -0.5 * e**-1.5, lambda e: 0.75 * e**-2.5
    ),
    "logit": LinkDerivatives("logit", _expit, _expit1, _expit2),
}


def link_derivatives(name: str) -> LinkDerivatives:
    """The link ``name`` with μ'(η) and μ''(η)."""
    return _LINKS[name]
