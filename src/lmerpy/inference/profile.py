"""Likelihood-profile intervals (Bates, Mächler, Bolker & Walker 2015, *J. Stat. Softw.* 67(1),
§5.1; lme4's ``profile.merMod``). Each parameter is held at a value while every other one is
re-optimised; the signed square root ζ of the deviance change is then solved for
ζ = ±qnorm((1 + level) / 2) directly (lme4 interpolates ζ with splines instead). As in lme4, a
REML fit is profiled on the ML deviance, so a REML fit and its ML refit give the same
intervals; the variance parameters are profiled on lme4's scale (``parameters``)."""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.optimize
import scipy.stats
from numpy.typing import NDArray

from ..errors import LmerpyWarning
from ..fitted.base import (
    GeneralizedFit,
    LinearDeviance,
    LinearFit,
)
from .parameters import Layout, layout_of, theta_from_variance, variance_values

__all__ = ["glmm_profile", "lmm_profile"]

FloatArray = NDArray[np.float64]

ZETA_CAP = 1e6  # |ζ| where the deviance is infinite (not positive definite)
NUISANCE_STEP = 0.02  # BOBYQA's first step in the scaled nuisance coordinates
NUISANCE_FTOL = 1e-6  # on the deviance: moves ζ ≈ 2 by < 1e-6
NUISANCE_XTOL = 1e-5
NUISANCE_MAXEVAL = 20_000
MAX_BRACKET_STEPS = 60
MAX_GROWTH = 4.0  # a bracketing step is at most this many times the previous one
OVERSHOOT = 1.2  # secant steps aim this much beyond the crossing, to bracket it
ROOT_XTOL = 1e-4  # Brent's tolerance on a limit, relative to the first step


# ---- the ML deviance in pieces -------------------------------------------------------------------


@dataclass(frozen=True)
class _Pieces:
    """What the PLS solution at θ gives: log det(Λ'Z'WZΛ + I), the penalized weighted RSS at
    β̂(θ), β̂(θ) and R_X (as ``PlsSolution``)."""

    ldL2: float  # noqa: N815 (lme4 name)
    pwrss: float
    beta: FloatArray
    RX: FloatArray


def _pieces(devfun: LinearDeviance, theta: FloatArray) -> _Pieces | None:
    """The PLS pieces at θ (the factorisation alone), or None where the system is not
    positive definite."""
    parts = devfun.decompose(theta, reml=False)
    return None if parts is None else _Pieces(parts.ldL2, parts.pwrss, parts.beta, parts.RX)


@dataclass(frozen=True)
class _MLFit:
    """The ML fit the profiles start from (the fit itself, or its ML refit if REML)."""

    devfun: LinearDeviance
    layout: Layout
    theta: FloatArray
    deviance: float
    sigma: float
    beta: FloatArray
    se: FloatArray

    @property
    def n(self) -> int:
        return self.devfun.design.nobs

    @property
    def sum_log_w(self) -> float:
        w = self.devfun.design.weights
        return 0.0 if w is None else float(np.sum(np.log(w)))


def _ml_fit(fit: LinearFit) -> _MLFit:
    """The ML optimum (lme4's ``profile.merMod`` profiles the ML deviance of a REML fit)."""
    with warnings.catch_warnings():  # the fit itself already said what there was to say
        warnings.simplefilter("ignore", LmerpyWarning)
        ml = fit.refit_ml()
    sol = ml.solution
    rx_inv = np.linalg.inv(sol.RX)
    se = sol.sigma * np.sqrt(np.sum(rx_inv**2, axis=1))
    layout = layout_of(ml.devfun)
    return _MLFit(ml.devfun, layout, ml.record.final, ml.objective, sol.sigma, sol.beta, se)


def _variance_deviance(ml: _MLFit, values: FloatArray) -> float:
    """ML deviance at sd, cor and σ with β profiled out (lme4's ``devfun2``):
    ldL2 + n log(2πσ²) + pwrss/σ² − Σ log w."""
    sigma = float(values[-1])
    theta = theta_from_variance(ml.layout, values) if sigma > 0 else None
    pieces = None if theta is None else _pieces(ml.devfun, theta)
    if pieces is None:
        return math.inf
    n = ml.n
    return (
        pieces.ldL2 + n * math.log(2 * math.pi * sigma**2) + pieces.pwrss / sigma**2 - ml.sum_log_w
    )


def _fixed_deviance(ml: _MLFit, j: int, value: float, theta: FloatArray) -> float:
    """ML deviance at θ with βⱼ = value and the other β (and σ) profiled out: the penalized
    RSS grows by (value − β̂ⱼ)² / [(R_X'R_X)⁻¹]ⱼⱼ."""
    pieces = _pieces(ml.devfun, theta)
    if pieces is None:
        return math.inf
    rx_inv = np.linalg.inv(pieces.RX)
    v_jj = float(np.sum(rx_inv[j] ** 2))
    rss = pieces.pwrss + (value - float(pieces.beta[j])) ** 2 / v_jj
    n = ml.n
    return pieces.ldL2 - ml.sum_log_w + n * (1 + math.log(2 * math.pi * rss / n))


# ---- the nuisance optimisation -------------------------------------------------------------------


def _minimize(
    fn: Callable[[FloatArray], float], x0: FloatArray, lower: FloatArray, upper: FloatArray
) -> tuple[FloatArray, float]:
    """Bounded BOBYQA (NLopt) from x0: the best point and value seen."""
    import nlopt

    best: list[tuple[float, FloatArray]] = [(math.inf, x0)]

    def objective(x: FloatArray, _grad: FloatArray) -> float:
        value = fn(x)
        value = value if math.isfinite(value) else math.inf
        if value < best[0][0]:
            best[0] = (value, np.array(x, dtype=np.float64))
        return value

    opt = nlopt.opt(nlopt.LN_BOBYQA, len(x0))
    opt.set_lower_bounds(lower)
    opt.set_upper_bounds(upper)
    opt.set_min_objective(objective)
    opt.set_initial_step(NUISANCE_STEP)
    opt.set_ftol_abs(NUISANCE_FTOL)
    opt.set_xtol_abs(NUISANCE_XTOL)
    opt.set_maxeval(NUISANCE_MAXEVAL)
    with contextlib.suppress(nlopt.RoundoffLimited):  # the best point seen is kept either way
        opt.optimize(np.clip(x0, lower, upper))
    return best[0][1], best[0][0]


class _Profile:
    """The profiled deviance of one parameter: the minimum over all the others, each
    minimisation started from the solution at the nearest value already profiled."""

    def __init__(
        self,
        fn: Callable[[float, FloatArray], float],
        x_hat: FloatArray,
        lower: FloatArray,
        upper: FloatArray,
    ) -> None:
        self.fn, self.lower, self.upper = fn, lower, upper
        self.solved: list[tuple[float, FloatArray]] = []
        self.x_hat = x_hat

    def __call__(self, value: float) -> float:
        start = min(self.solved, key=lambda s: abs(s[0] - value), default=(value, self.x_hat))[1]
        x, dev = _minimize(lambda x: self.fn(value, x), start, self.lower, self.upper)
        self.solved.append((value, x))
        return dev


def _variance_profile(ml: _MLFit, k: int, est: FloatArray) -> _Profile:
    """Profile of the k-th variance parameter. The others are optimised in scaled
    coordinates: sd / scale, correlations and θ as they are, log(σ / σ̂)."""
    kinds, layout = ml.layout.kinds, ml.layout
    others = [i for i in range(len(est)) if i != k]
    floor = 0.1 * ml.sigma
    scale = np.asarray([max(est[i], floor) if kinds[i] == "sd" else 1.0 for i in others])
    is_sigma = np.asarray([kinds[i] == "sigma" for i in others])

    def values(fixed: float, x: FloatArray) -> FloatArray:
        out = est.copy()
        out[k] = fixed
        out[others] = np.where(is_sigma, ml.sigma * np.exp(x), scale * x)
        return out

    def fn(fixed: float, x: FloatArray) -> float:
        return _variance_deviance(ml, values(fixed, x))

    x_hat = np.where(is_sigma, 0.0, est[others] / scale)
    lower = np.where(is_sigma, -np.inf, layout.lower[others] / scale)
    upper = np.where(is_sigma, np.inf, layout.upper[others] / scale)
    return _Profile(fn, x_hat, lower, upper)


def _fixed_profile(ml: _MLFit, j: int) -> _Profile:
    """Profile of the j-th fixed effect, θ re-optimised at each value."""

    def fn(value: float, theta: FloatArray) -> float:
        return _fixed_deviance(ml, j, value, theta)

    return _Profile(fn, ml.theta, ml.devfun.lower, ml.devfun.upper)


# ---- root finding on ζ ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Search:
    """How to look for one parameter's limits: its estimate, a first step, and the
    bounds of its range (``attainable``: whether a bound itself can be evaluated)."""

    est: float
    step: float
    lower: float
    upper: float
    attainable: bool


def _zeta(
    profile: Callable[[float], float], est: float, minimum: float
) -> Callable[[float], float]:
    """ζ(v) = sign(v − est)·sqrt(profiled deviance − minimum) (lme4's ``zeta``), memoised."""
    cache: dict[float, float] = {}

    def zeta(value: float) -> float:
        if value not in cache:
            change = max(profile(value) - minimum, 0.0)
            z = min(math.sqrt(change), ZETA_CAP) if math.isfinite(change) else ZETA_CAP
            cache[value] = math.copysign(z, value - est)
        return cache[value]

    return zeta


def _next_try(
    x: float, zx: float, prev: float, zprev: float, target: float, search: _Search
) -> float:
    """The next point toward the crossing: a secant step with 20% overshoot, growth-limited,
    kept inside the parameter's range."""
    last = x - prev
    slope = (zx - zprev) / last
    guess = x + OVERSHOOT * (target - zx) / slope if slope * last * target > 0 else x + 2 * last
    guess = x + float(np.clip(guess - x, -MAX_GROWTH * abs(last), MAX_GROWTH * abs(last)))
    bound = search.upper if target > 0 else search.lower
    if (guess - bound) * target < 0:
        return guess
    return bound if search.attainable else (x + bound) / 2


def _crossing(zeta: Callable[[float], float], target: float, search: _Search) -> float:
    """Where ζ crosses ``target`` beyond the estimate (bracket, then Brent's method); the
    range's bound if ζ never gets there (lme4: 0 for an sd, ±1 for a correlation)."""
    bound = search.upper if target > 0 else search.lower
    if search.est == bound:
        return bound
    prev, zprev = search.est, 0.0
    x = search.est + math.copysign(search.step, target)
    if (x - bound) * target >= 0:
        x = bound if search.attainable else (search.est + bound) / 2
    for _ in range(MAX_BRACKET_STEPS):
        zx = zeta(x)
        if zx * target >= target * target:
            tol = ROOT_XTOL * search.step
            return float(scipy.optimize.brentq(lambda v: zeta(v) - target, prev, x, xtol=tol))
        if x == bound:
            return bound
        prev, zprev, x = x, zx, _next_try(x, zx, prev, zprev, target, search)
    return math.nan


def _interval(
    profile: Callable[[float], float], minimum: float, search: _Search, z: float
) -> tuple[float, float]:
    """Both limits of one parameter's profile interval."""
    zeta = _zeta(profile, search.est, minimum)
    return _crossing(zeta, -z, search), _crossing(zeta, z, search)


def _variance_search(ml: _MLFit, k: int, est: float) -> _Search:
    """Range and first step of the k-th variance parameter."""
    kind, lower, upper = ml.layout.kinds[k], ml.layout.lower[k], ml.layout.upper[k]
    return _search(kind, est, float(lower), float(upper), 0.1 * ml.sigma)


def _search(kind: str, est: float, lower: float, upper: float, sd_floor: float) -> _Search:
    """Range and first step of a variance parameter of the given kind (``sd_floor``: the
    smallest first step of a standard deviation, in multiples of 4)."""
    if kind == "sigma":
        return _Search(est, 0.1 * est, 0.0, math.inf, False)
    if kind == "sd":
        return _Search(est, 0.25 * max(est, sd_floor), 0.0, math.inf, True)
    room = min(est - lower, upper - est) if kind == "cor" else abs(est)
    return _Search(est, 0.25 * max(room, 0.05), lower, upper, True)


def lmm_profile(fit: LinearFit, level: float) -> FloatArray:
    """(lower, upper) per parameter from the likelihood profile (lme4: ``confint(profile(m))``)."""
    ml = _ml_fit(fit)
    z = float(scipy.stats.norm.ppf((1 + level) / 2))
    est = variance_values(ml.devfun, ml.layout, ml.theta, ml.sigma)
    est = np.where(np.isnan(est), 0.0, est)  # a correlation of a zero sd: any value fits
    rows = []
    for k in range(len(est)):
        search = _variance_search(ml, k, float(est[k]))
        rows.append(_interval(_variance_profile(ml, k, est), ml.deviance, search, z))
    for j, beta in enumerate(ml.beta):
        search = _Search(float(beta), z * float(ml.se[j]), -math.inf, math.inf, False)
        rows.append(_interval(_fixed_profile(ml, j), ml.deviance, search, z))
    return np.asarray(rows, dtype=np.float64)


def glmm_profile(fit: GeneralizedFit, level: float) -> FloatArray:
    """Profile intervals of a generalized fit (lme4: ``confint(profile(m))`` of a glmer fit):
    sd and cor of each term (σ = 1), then β; every other parameter re-optimised, β in units
    of its standard error, and so are the zero-inflation and dispersion coefficients after
    β (glmmTMB's ``confint(m, method = "profile")``)."""
    dev, layout = fit.devfun, layout_of(fit.devfun)
    k = len(dev.layout.lower)
    variances = np.concatenate(
        [t.values(th, 1.0) for t, th in zip(layout.terms, fit._term_thetas(), strict=True)]
    )
    n_var = len(variances)
    # β, then the zero-inflation and dispersion coefficients: each profiled like β
    se = np.concatenate([np.sqrt(np.diag(fit.vcov_matrix)), fit.extra_parameters["se"]])
    est = np.concatenate([np.nan_to_num(variances), fit.record.final[k:]])
    kinds = layout.kinds[:-1] + ["beta"] * len(se)
    scale = np.concatenate([[max(v, 0.1) if kd == "sd" else 1.0 for v, kd in
                             zip(variances, kinds, strict=False)], se])  # fmt: skip
    lower = np.concatenate([layout.lower[:-1], np.full(len(se), -np.inf)])
    upper = np.concatenate([layout.upper[:-1], np.full(len(se), np.inf)])

    def deviance(values: FloatArray) -> float:
        theta = theta_from_variance(layout, np.concatenate([values[:n_var], [1.0]]))
        return math.inf if theta is None else dev.laplace(np.concatenate([theta, values[n_var:]]))

    z = float(scipy.stats.norm.ppf((1 + level) / 2))
    rows = []
    for i in range(len(est)):
        others = np.array([j for j in range(len(est)) if j != i])

        def fn(fixed: float, x: FloatArray, i: int = i, others: FloatArray = others) -> float:
            values = est.copy()
            values[i], values[others] = fixed, scale[others] * x
            return deviance(values)

        profile = _Profile(fn, est[others] / scale[others], lower[others] / scale[others],
                           upper[others] / scale[others])  # fmt: skip
        if kinds[i] == "beta":
            search = _Search(float(est[i]), z * float(se[i - n_var]), -math.inf, math.inf, False)
        else:
            search = _search(kinds[i], float(est[i]), float(lower[i]), float(upper[i]), 0.1)
        rows.append(_interval(profile, fit.objective, search, z))
    return np.asarray(rows, dtype=np.float64)
