"""Response distributions and link functions for generalized linear mixed models (R's
``binomial(link = "logit")``, ``poisson()``).

A ``Family`` pairs a distribution with a ``Link``. Everything PIRLS and the Laplace
approximation need is here, with lme4's numerical guards: inverse links of binomial models
are kept inside [ε, 1 - ε], ``mu_eta`` and the log link's inverse at least ε, the binomial
variance at least ε (ε = machine epsilon).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import special, stats

from ..errors import DataError, FamilyError
from .distributions import DISTRIBUTIONS, Distribution

__all__ = [
    "FAMILY_NAMES",
    "Family",
    "Link",
    "binomial",
    "gamma",
    "gaussian",
    "get_family",
    "inverse_gaussian",
    "poisson",
]

FloatArray = NDArray[np.float64]
EPS = float(np.finfo(np.float64).eps)
_EXP_LIMIT = 700.0  # exp() beyond this overflows; R's cloglog caps η here too
MAX_COUNT = 2.0**53  # the largest count every smaller count of which a double holds exactly


@dataclass(frozen=True)
class Link:
    """A link function g with its inverse and derivative dμ/dη (R's ``make.link``)."""

    name: str
    linkfun: Callable[[FloatArray], FloatArray]
    linkinv: Callable[[FloatArray], FloatArray]
    mu_eta: Callable[[FloatArray], FloatArray]


def _clamp_unit(mu: FloatArray) -> FloatArray:
    np.maximum(mu, EPS, out=mu)
    return np.minimum(mu, 1.0 - EPS, out=mu)


def _logit_mu_eta(eta: FloatArray) -> FloatArray:
    """e / (1 + e)² with e = exp(-|η|), at least EPS (R's binomial()$mu.eta), in one buffer."""
    e = np.abs(np.asarray(eta, dtype=np.float64))
    if e.ndim == 0:  # a scalar: nothing to save, and a numpy scalar is no ``out``
        return np.maximum(np.exp(-e) / (1.0 + np.exp(-e)) ** 2, EPS)
    np.negative(e, out=e)
    np.exp(e, out=e)
    d = e + 1.0
    np.multiply(d, d, out=d)
    np.divide(e, d, out=e)
    return np.maximum(e, EPS, out=e)


def _cloglog_inv(eta: FloatArray) -> FloatArray:
    return _clamp_unit(-np.expm1(-np.exp(np.minimum(eta, _EXP_LIMIT))))


def _cloglog_mu_eta(eta: FloatArray) -> FloatArray:
    eta = np.minimum(eta, _EXP_LIMIT)
    return np.maximum(np.exp(eta - np.exp(eta)), EPS)


def _log_inv(eta: FloatArray) -> FloatArray:
    return np.maximum(np.exp(np.minimum(eta, _EXP_LIMIT)), EPS)


def _log_abs_difference(a: FloatArray, b: FloatArray) -> FloatArray:
    d = np.subtract(a, b)
    np.abs(d, out=d)
    return np.log(d, out=d)


LINKS: dict[str, Link] = {
    "logit": Link(
        "logit",
        lambda mu: np.log(mu / (1.0 - mu)),
        lambda eta: _clamp_unit(special.expit(eta)),
        _logit_mu_eta,
    ),
    "probit": Link(
        "probit",
        lambda mu: special.ndtri(mu),
        lambda eta: _clamp_unit(special.ndtr(eta)),
        lambda eta: np.maximum(stats.norm.pdf(eta), EPS),
    ),
    "cloglog": Link("cloglog", lambda mu: np.log(-np.log1p(-mu)), _cloglog_inv, _cloglog_mu_eta),
    "log": Link("log", np.log, _log_inv, _log_inv),
    "identity": Link("identity", lambda mu: mu, lambda eta: eta, np.ones_like),
    "inverse": Link(
        "inverse", lambda mu: 1.0 / mu, lambda eta: 1.0 / eta, lambda eta: -1.0 / eta**2
    ),
    "1/mu^2": Link(
        "1/mu^2", lambda mu: mu**-2.0, lambda eta: eta**-0.5, lambda eta: -0.5 * eta**-1.5
    ),
}


@dataclass(frozen=True)
class Family:
    """A response distribution with its link (R's ``family`` object).

    Attributes:
        name: ``"binomial"`` or ``"poisson"``.
        link: the link function.
    """

    name: str
    link: Link

    def __str__(self) -> str:
        return f"{self.name}  ( {self.link.name} )"

    @property
    def distribution(self) -> Distribution | None:
        """The distribution with a dispersion parameter, fitted by glmmTMB's Laplace
        approximation (None for binomial and Poisson, fitted as lme4 does)."""
        return DISTRIBUTIONS.get(self.name)

    @property
    def canonical(self) -> bool:
        """Whether dμ/dη = V(μ): the canonical links of the binomial and Poisson families
        (logit, log), where the working weights need no division by V(μ)."""
        return (self.name, self.link.name) in (("binomial", "logit"), ("poisson", "log"))

    def variance(self, mu: FloatArray) -> FloatArray:
        """V(μ)."""
        if self.name == "binomial":
            return np.maximum(mu * (1.0 - mu), EPS)
        return mu

    def dev_resid(self, y: FloatArray, mu: FloatArray, w: FloatArray) -> FloatArray:
        """Each observation's deviance residual, squared (R's ``family$dev.resids``):
        2 w (k(y, y) - k(y, μ)) with k the log-likelihood kernel."""
        return 2.0 * w * (self.saturated_kernel(y) - self.kernel(y, mu))

    def kernel(self, y: FloatArray, mu: FloatArray) -> FloatArray:
        """The part of log p(y | μ) that depends on μ, per unit prior weight: y log μ +
        (1 - y) log(1 - μ) (binomial), y log μ - μ (Poisson); μ strictly inside its range
        (the inverse links keep it there)."""
        return self.kernel_of(y)(mu)

    def kernel_of(self, y: FloatArray) -> Callable[[FloatArray], FloatArray]:
        """μ -> kernel(y, μ) for a fixed response, specialised once (0/1 data: log μ for
        the successes, log(1 - μ) for the failures)."""
        if self.name == "poisson":
            return lambda mu: np.asarray(y * np.log(mu) - mu)
        if np.all((y == 0.0) | (y == 1.0)):
            failure = 1.0 - y  # |1 - y - μ| is μ for a success, 1 - μ for a failure
            return lambda mu: _log_abs_difference(failure, mu)
        failure = 1.0 - y
        return lambda mu: np.asarray(y * np.log(mu) + failure * np.log1p(-mu))

    def saturated_kernel(self, y: FloatArray) -> FloatArray:
        """The kernel at μ = y, with 0 log 0 = 0."""
        if self.name == "binomial":
            return np.asarray(special.xlogy(y, y) + special.xlog1py(1 - y, -y))
        return np.asarray(special.xlogy(y, y) - y)

    def aic(self, y: FloatArray, mu: FloatArray, w: FloatArray, trials: FloatArray) -> float:
        """-2 log-likelihood with every normalising constant (R's ``family$aic`` without the
        2 × parameters): the scale of lme4's Laplace objective.  For a binomial response
        ``y`` is the proportion and ``w`` the prior weights times the trials."""
        if self.name == "binomial":
            m = trials if np.any(trials > 1) else w
            k, size = np.round(m * y), np.round(m)
            scale = np.divide(w, m, out=np.zeros_like(w), where=m > 0)
            return float(-2.0 * np.sum(scale * stats.binom.logpmf(k, size, mu)))
        return float(-2.0 * np.sum(w * stats.poisson.logpmf(y, mu)))

    def mu_start(self, y: FloatArray, w: FloatArray) -> FloatArray:
        """Starting means (R's ``family$initialize``)."""
        if self.name == "binomial":
            return (w * y + 0.5) / (w + 1.0)
        return y + 0.1

    def check_response(self, y: FloatArray, what: str) -> None:
        """Raise a DataError if ``y`` is not a valid response for this family."""
        dist = self.distribution
        if dist is not None and dist.support != "count":
            _check_support(y, dist.support, self.name, what)
            return
        if self.name == "binomial":
            bad = (y < 0) | (y > 1)
            if bad.any():
                raise DataError(
                    f"{what} has {int(bad.sum())} values outside [0, 1] (e.g. {y[bad][0]:g}): "
                    "a binomial response is 0/1, a proportion with weights= the trials, or "
                    "cbind(successes, failures)"
                )
            return
        if np.any(y < 0):
            raise DataError(f"{what} has negative values: {self.name} counts are 0, 1, 2, ...")
        if np.any(y > MAX_COUNT):
            raise DataError(
                f"{what} has counts as large as {np.max(y):.3g}: beyond {MAX_COUNT:g} they are "
                "not whole numbers in double precision; rescale, or model them as continuous"
            )
        fraction = np.abs(y - np.round(y)) > 1e-8
        if fraction.any():
            raise DataError(
                f"{what} has non-integer values (e.g. {y[fraction][0]:g}): {self.name} counts are "
                "whole numbers; for rates, model the count with offset(log(exposure))"
            )


_DEFAULT_LINKS = {"binomial": "logit", "poisson": "log"} | {
    name: d.links[0] for name, d in DISTRIBUTIONS.items()
}
_ALLOWED_LINKS = {"binomial": ("logit", "probit", "cloglog"), "poisson": ("log",)} | {
    name: d.links for name, d in DISTRIBUTIONS.items()
}
FAMILY_NAMES = tuple(_DEFAULT_LINKS)
"""Every family's name, as ``glmer`` and the command line take it."""
_ALIASES = {"Gamma": "gamma", "inverse.gaussian": "inverse_gaussian", "beta_family": "beta"}
"""R's and glmmTMB's spellings."""


def _family(name: str, link: str | None) -> Family:
    chosen = _DEFAULT_LINKS[name] if link is None else link
    if chosen not in _ALLOWED_LINKS[name]:
        allowed = ", ".join(repr(k) for k in _ALLOWED_LINKS[name])
        raise FamilyError(f"the {name} family has no link {chosen!r}: choose from {allowed}")
    return Family(name, LINKS[chosen])


def binomial(link: str = "logit") -> Family:
    """The binomial family (R: ``binomial(link = "logit")``); links logit, probit, cloglog.

    Example:
        >>> from lmerpy import binomial
        >>> str(binomial("probit"))
        'binomial  ( probit )'
    """
    return _family("binomial", link)


def poisson(link: str = "log") -> Family:
    """The Poisson family with the log link (R: ``poisson()``)."""
    return _family("poisson", link)


def gaussian(link: str = "identity") -> Family:
    """The Gaussian family, fitted by glmmTMB's Laplace approximation (R: ``gaussian()``;
    glmmTMB's ``gaussian``); links identity, log, inverse. With the identity link and no
    dispersion model ``lmerpy.lmer(..., reml=False)`` fits the same model exactly."""
    return _family("gaussian", link)


def gamma(link: str = "inverse") -> Family:
    """The Gamma family (R: ``Gamma(link = "inverse")``; glmmTMB's ``Gamma``); links
    inverse, log, identity. ``sigma`` is the coefficient of variation, 1/√shape."""
    return _family("gamma", link)


def inverse_gaussian(link: str = "1/mu^2") -> Family:
    """The inverse Gaussian family, Var(y) = φμ³ (R: ``inverse.gaussian()``); links 1/mu^2,
    log, inverse, identity. ``sigma`` is √φ, as R's ``sigma()`` of a glm."""
    return _family("inverse_gaussian", link)


def get_family(family: str | Family, link: str | None = None) -> Family:
    """A Family from a Family or a name (``"binomial"``, ``"poisson"``, ``"gamma"``,
    ``"nbinom2"``, ..., or R's spellings ``"Gamma"``, ``"inverse.gaussian"``,
    ``"beta_family"``), with ``link`` if not the family's default."""
    if isinstance(family, Family):
        return family
    name = _ALIASES.get(family, family) if isinstance(family, str) else family
    if name not in _DEFAULT_LINKS:
        known = ", ".join(repr(k) for k in _DEFAULT_LINKS)
        raise FamilyError(f"unsupported family {family!r}: choose from {known}")
    return _family(name, link)


_SUPPORT: dict[str, tuple[Callable[[FloatArray], NDArray[np.bool_]], str]] = {
    "positive": (lambda y: y > 0, "positive numbers (y > 0)"),
    "unit": (lambda y: (y > 0) & (y < 1), "proportions strictly between 0 and 1"),
    "proportion": (lambda y: (y >= 0) & (y <= 1), "cbind(successes, failures)"),
    "real": (np.isfinite, "finite numbers"),
}


def _check_support(y: FloatArray, support: str, family: str, what: str) -> None:
    inside, rule = _SUPPORT[support]
    bad = np.flatnonzero(~inside(y))
    if bad.size:
        raise DataError(
            f"{what} has {bad.size} values outside what a {family} response can be "
            f"(e.g. {y[bad[0]]:g}): a {family} response is {rule}"
        )
