"""Confidence intervals for a fitted linear mixed model (lme4's ``confint.merMod``).

Three methods, as lme4 offers them:

* ``"wald"``: β ± z·SE for the fixed effects; NaN for the variance parameters.
* ``"profile"``: likelihood-ratio intervals from the profiled ML deviance (Bates, Mächler,
  Bolker & Walker 2015, *J. Stat. Softw.* 67(1), §5.1; lme4's ``profile.merMod``). Each
  parameter is held at a value while every other one is re-optimised; the signed square
  root ζ of the deviance change is then solved for ζ = ±qnorm((1 + level) / 2) directly
  (lme4 interpolates ζ with splines instead). As in lme4, a REML fit is profiled on the ML
  deviance, so a REML fit and its ML refit give the same intervals. The variance parameters
  are profiled on lme4's scale: standard deviations, correlations and σ.
* ``"boot"``: parametric bootstrap percentile intervals (lme4's ``bootMer`` with
  ``use.u = FALSE``, then ``boot.ci(type = "perc")``).

Row names are lme4's with ``oldNames = FALSE``: ``sd_(Intercept)|g``, ``cor_x.(Intercept)|g``,
``sd_x|g`` ... per term in θ order, then ``sigma``, then the fixed effects.
"""

from __future__ import annotations

import math
import warnings
from typing import cast

import numpy as np
import pandas as pd
import scipy.optimize
import scipy.stats
from numpy.typing import NDArray

from .._util.parallel import parallel_map, replicate_seeds
from .._util.threads import single_blas_thread
from ..errors import ArgumentError, FitError, LmerpyWarning
from ..fitted.base import (
    GeneralizedFit,
    LinearFit,
    MixedModelResult,
)
from .parameters import Layout, layout_of, variance_values
from .profile import glmm_profile, lmm_profile

__all__ = ["METHODS", "confint", "parameter_names"]

FloatArray = NDArray[np.float64]

METHODS = ("profile", "wald", "boot")


# ---- names ---------------------------------------------------------------------------------------


def parameter_names(fit: MixedModelResult) -> list[str]:
    """The rows of ``confint(fit)``, as lme4's ``confint(m, oldNames = FALSE)`` names them
    (no ``sigma`` for a generalized model), then glmmTMB's zero-inflation and dispersion
    coefficients (``zi~x``, ``d~x``)."""
    names = layout_of(fit).names
    if fit.generalized:
        names = names[:-1]
    return names + list(fit.design.x_columns) + list(fit.extra_parameters.index)


def _percent_labels(level: float) -> list[str]:
    """R's ``stats:::.format_perc``: e.g. "2.5 %", "97.5 %" (3 significant digits)."""
    probs = [100 * (1 - level) / 2, 100 * (1 + level) / 2]
    decimals = max(_decimals_needed(p) for p in probs)
    return [f"{p:.{decimals}f} %" for p in probs]


def _decimals_needed(value: float) -> int:
    """Decimals R's ``format(digits = 3)`` shows for ``value`` on its own."""
    if value == 0:
        return 0
    target = float(f"{value:.2e}")
    digits = next(s for s in (1, 2, 3) if math.isclose(float(f"{value:.{s - 1}e}"), target))
    return max(0, digits - 1 - math.floor(math.log10(abs(target))))


# ---- Wald ----------------------------------------------------------------------------------------


def _wald_intervals(fit: MixedModelResult, level: float) -> FloatArray:
    """β ± z·SE, NaN for the variance parameters (lme4: ``confint(m, method = "Wald")``)."""
    z = float(scipy.stats.norm.ppf((1 + level) / 2))
    extra = fit.extra_parameters
    beta = np.concatenate([fit.fixef.to_numpy(), extra["estimate"].to_numpy()])
    se = np.concatenate([np.sqrt(np.diag(fit.vcov.to_numpy())), extra["se"].to_numpy()])
    n_var = len(parameter_names(fit)) - len(beta)
    fixed = np.column_stack([beta - z * se, beta + z * se])
    return np.vstack([np.full((n_var, 2), np.nan), fixed])


# ---- parametric bootstrap ------------------------------------------------------------------------


def _refit_values(fit: LinearFit, layout: Layout, y: FloatArray) -> FloatArray:
    """sd, cor, σ and β of the model refitted to y (lme4's ``refit``), NaN if it fails."""
    try:
        with warnings.catch_warnings():  # singular refits are part of a bootstrap sample
            warnings.simplefilter("ignore", LmerpyWarning)
            again = fit.refit(y)
    except FitError:
        return np.full(len(layout.names) + len(fit.design.x_columns), np.nan)
    values = variance_values(again.devfun, layout, again.record.final, again.sigma)
    return np.concatenate([values, again.solution.beta])


def _percentile(sample: FloatArray, prob: float) -> float:
    """``boot.ci(type = "perc")``'s quantile: order statistic (R + 1)·prob, interpolated on
    the normal quantile scale between neighbours (Davison & Hinkley 1997, eq. 5.8)."""
    t = np.sort(sample[np.isfinite(sample)])
    r = len(t)
    if r == 0:
        return math.nan
    rank = (r + 1) * prob
    k = math.floor(rank + 1e-10)
    if k < 1 or k >= r:
        return float(t[0] if k < 1 else t[-1])
    if math.isclose(rank, k):
        return float(t[k - 1])
    qa, qk, qk1 = (float(scipy.stats.norm.ppf(q)) for q in (prob, k / (r + 1), (k + 1) / (r + 1)))
    return float(t[k - 1] + (qa - qk) / (qk1 - qk) * (t[k] - t[k - 1]))


def _boot_intervals(
    fit: LinearFit,
    level: float,
    nsim: int,
    seed: int | np.random.SeedSequence | None,
    progress: bool,
    n_jobs: int | None = 1,
) -> FloatArray:
    """Percentile intervals from ``nsim`` parametric bootstrap refits (lme4:
    ``confint(m, method = "boot")``), each replicate from its own seed, in ``n_jobs``
    processes."""
    if nsim < 1:
        raise ArgumentError(f"nsim must be a positive integer, not {nsim!r}")
    layout = layout_of(fit.devfun)
    seeds = replicate_seeds(seed, nsim)

    def replicate(i: int) -> FloatArray:
        return _refit_values(fit, layout, fit.simulate_once(np.random.default_rng(seeds[i])))

    sims = np.asarray(
        parallel_map(replicate, nsim, n_jobs=n_jobs, progress=progress, desc="bootstrap")
    )
    probs = ((1 - level) / 2, (1 + level) / 2)
    limits = [[_percentile(sims[:, i], p) for p in probs] for i in range(sims.shape[1])]
    return np.asarray(limits, dtype=np.float64)


# ---- the entry point -----------------------------------------------------------------------------


@single_blas_thread
def confint(
    fit: MixedModelResult,
    method: str = "profile",
    level: float = 0.95,
    *,
    nsim: int = 500,
    seed: int | np.random.SeedSequence | None = None,
    progress: bool = False,
    n_jobs: int | None = 1,
) -> pd.DataFrame:
    """Confidence intervals for every parameter of a fit (lme4: ``confint.merMod``).

    Args:
        fit: a fitted model (``lmerpy.lmer`` or ``lmerpy.glmer``; for the latter
            ``"profile"`` and ``"wald"``).
        method: ``"profile"`` (likelihood profile, lme4's default), ``"wald"`` (fixed
            effects only; NaN for the variance parameters) or ``"boot"`` (parametric
            bootstrap percentile intervals). Case-insensitive, so lme4's ``"Wald"`` works.
        level: the confidence level, in (0, 1).
        nsim: bootstrap simulations (``"boot"`` only).
        seed: seed (or ``numpy.random.SeedSequence``) of the bootstrap; each replicate
            draws from its own child seed, so the intervals are the same for any ``n_jobs``.
        progress: show a progress bar while bootstrapping (tqdm).
        n_jobs: processes for the bootstrap's refits (-1: one per core), one BLAS thread each.

    Returns:
        A DataFrame with one row per parameter, named as lme4's ``oldNames = FALSE``
        (``sd_(Intercept)|g``, ``cor_x.(Intercept)|g``, ..., ``sigma``, then the fixed
        effects), and R's columns, e.g. ``"2.5 %"`` and ``"97.5 %"``.

    Example:
        >>> import lmerpy
        >>> from lmerpy.inference.confint import confint
        >>> fit = lmerpy.lmer("Yield ~ 1 + (1 | Batch)", lmerpy.datasets.load("dyestuff"))
        >>> confint(fit).round(1)
                               2.5 %  97.5 %
        sd_(Intercept)|Batch    12.2    84.1
        sigma                   38.2    67.7
        (Intercept)           1486.5  1568.5
    """
    key = str(method).lower()
    if key not in METHODS:
        raise ArgumentError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if not 0 < level < 1:
        raise ArgumentError(f"level must be strictly between 0 and 1, not {level!r}")
    if key == "wald":
        limits = _wald_intervals(fit, level)
    elif fit.generalized:
        if key == "boot":
            raise ArgumentError(
                "bootstrap intervals are not available for generalized models: use "
                "method='profile' or 'wald'"
            )
        limits = glmm_profile(cast(GeneralizedFit, fit), level)
    elif key == "boot":
        limits = _boot_intervals(cast(LinearFit, fit), level, nsim, seed, progress, n_jobs)
    else:
        limits = lmm_profile(cast(LinearFit, fit), level)
    return pd.DataFrame(limits, index=parameter_names(fit), columns=_percent_labels(level))
