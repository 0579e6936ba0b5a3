"""Nakagawa's R² and the intraclass correlation (performance's ``r2_nakagawa`` and ``icc``,
from insight's ``get_variance``; Nakagawa, Johnson & Schielzeth 2017, *J. R. Soc. Interface*
14: 20170213; Johnson 2014 for random slopes)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ArgumentError, LmerpyWarning, warn
from ..fitted.base import MixedModelResult

__all__ = ["VarianceComponents", "icc", "r2", "variance_components"]

_LINK_VARIANCE = {"logit": math.pi**2 / 3, "probit": 1.0, "cloglog": math.pi**2 / 6}
"""The latent-scale residual variance of a binomial model, by link."""


@dataclass(frozen=True)
class VarianceComponents:
    """insight's ``get_variance(m)``: ``fixed`` the variance of Xβ̂ over the rows fitted
    (n - 1 divisor), ``random`` the mean over rows of zᵢᵀΣzᵢ summed over random terms (zᵢ the
    row's values of the term's columns), ``residual`` σ² (linear) or the link's
    distribution-specific variance (binomial: π²/3 for logit, 1 for probit, π²/6 for
    cloglog)."""

    fixed: float
    random: float
    residual: float


def variance_components(fit: MixedModelResult) -> VarianceComponents:
    """The variances behind R² and the ICC (insight: ``get_variance(m)``)."""
    fit._require_rows("variance components")
    design = fit.design
    fixed = float(np.var(design.X @ fit.fixef.to_numpy(), ddof=1))
    random = 0.0
    for _, term, cov in fit.term_covariances:
        z = term.lhs.values
        random += float(np.mean(np.einsum("ij,jk,ik->i", z, cov, z)))
    return VarianceComponents(fixed, random, _residual_variance(fit))


def r2(fit: MixedModelResult) -> dict[str, float]:
    """Nakagawa's marginal and conditional R² (performance: ``r2_nakagawa(m)``):
    marginal = fixed / total, conditional = (fixed + random) / total."""
    v = variance_components(fit)
    total = v.fixed + v.random + v.residual
    return {"conditional": (v.fixed + v.random) / total, "marginal": v.fixed / total}


def icc(fit: MixedModelResult) -> dict[str, float]:
    """The intraclass correlation (performance: ``icc(m)``): adjusted = random / (random +
    residual), unadjusted = random / total."""
    v = variance_components(fit)
    total = v.fixed + v.random + v.residual
    return {"adjusted": v.random / (v.random + v.residual), "unadjusted": v.random / total}


def _residual_variance(fit: MixedModelResult) -> float:
    if not fit.generalized:
        return fit.sigma**2
    family = getattr(fit, "family", None)
    name, link = getattr(family, "name", ""), getattr(getattr(family, "link", None), "name", "")
    extra = fit.extra_parameters
    if name == "binomial" and link in _LINK_VARIANCE and extra.empty:
        return _LINK_VARIANCE[link]
    if name == "poisson" and link == "log" and extra.empty:
        if "poisson-variance" not in fit.memo:  # one null refit per fit, for R² and the ICC
            fit.memo["poisson-variance"] = _poisson_variance(fit)
        return float(fit.memo["poisson-variance"])
    raise ArgumentError(
        f"R² and the ICC are available for linear fits, binomial fits (logit, probit, "
        f"cloglog links) and Poisson fits (log link); not for {name} ({link})"
    )


def _poisson_variance(fit: MixedModelResult) -> float:
    """log(1 + 1/μ), μ = exp(β₀) of the model with the intercept alone and the same random
    effects (insight's lognormal approximation); it warns, as performance does, when μ < 6."""
    spec = fit.design.spec
    random = " + ".join(f"({term})" for term in spec.random)
    null = fit.update(f"{spec.response} ~ 1 + {random}")  # type: ignore[attr-defined]
    mu = math.exp(float(null.fixef.iloc[0]))
    if mu < 6:
        warn(f"mu of {mu:.2g} is too close to zero: the estimate of the distribution-specific "
             "variance may be unreliable (performance's warning)", LmerpyWarning)  # fmt: skip
    return math.log1p(1 / mu)
