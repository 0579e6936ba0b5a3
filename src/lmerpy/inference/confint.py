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

import contextlib
import importlib
import math
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import pandas as pd
import scipy.optimize
import scipy.stats
from numpy.typing import NDArray

from .._util.threads import single_blas_thread
from ..design import RandomEffectsTerm
from ..errors import ArgumentError, FitError, LmerpyWarning
from ..fitted.predict import simulate
from ..glmm.pirls import GlmmDeviance
from ..glmm.result import GlmerResult
from ..lmm.deviance import DevianceFunction
from ..lmm.fit import refit
from ..lmm.result import LmerResult

__all__ = ["METHODS", "confint", "parameter_names"]

FloatArray = NDArray[np.float64]
Kind = Literal["sd", "cor", "theta", "sigma"]

METHODS = ("profile", "wald", "boot")
PIVOT_TOL = 1e-8  # a Cholesky pivot below this is taken as 0 (a correlation at ±1)
ZETA_CAP = 1e6  # |ζ| where the deviance is infinite (not positive definite)
NUISANCE_STEP = 0.02  # BOBYQA's first step in the scaled nuisance coordinates
NUISANCE_FTOL = 1e-6  # on the deviance: moves ζ ≈ 2 by < 1e-6
NUISANCE_XTOL = 1e-5
NUISANCE_MAXEVAL = 20_000
MAX_BRACKET_STEPS = 60
MAX_GROWTH = 4.0  # a bracketing step is at most this many times the previous one
OVERSHOOT = 1.2  # secant steps aim this much beyond the crossing, to bracket it
ROOT_XTOL = 1e-4  # Brent's tolerance on a limit, relative to the first step


# ---- names and the variance parameters -----------------------------------------------------------


class _TermParameters(Protocol):
    """One term's variance parameters on the reported scale, and the map to and from θᵢ."""

    names: list[str]
    kinds: list[Kind]
    lower: FloatArray
    upper: FloatArray

    def values(self, theta: FloatArray, sigma: float) -> FloatArray: ...

    def theta(self, values: FloatArray, sigma: float) -> FloatArray | None: ...


class _Cholesky:
    """``us`` (and any type placing each θ entry in one cell of Tᵢ): standard deviations and
    correlations from σ²TᵢTᵢᵀ, in θ order (lme4's ``Cv_to_Sv`` / ``Sv_to_Cv``)."""

    def __init__(self, term: RandomEffectsTerm, cells: list[tuple[int, int]]) -> None:
        self.term_type, self.p, self.cells = term.term_type, len(term.columns), cells
        cols, group = term.columns, term.group
        diagonal = [r == c for r, c in cells]
        self.names = [
            f"sd_{cols[r]}|{group}" if r == c else f"cor_{cols[r]}.{cols[c]}|{group}"
            for r, c in cells
        ]
        self.kinds: list[Kind] = ["sd" if d else "cor" for d in diagonal]
        self.lower = np.where(diagonal, 0.0, -1.0)
        self.upper = np.where(diagonal, np.inf, 1.0)

    def values(self, theta: FloatArray, sigma: float) -> FloatArray:
        """sd and cor; a correlation of a zero standard deviation is NaN."""
        factor = self.term_type.lambda_block(theta, self.p)
        cov = factor @ factor.T
        sd = np.sqrt(np.maximum(np.diag(cov), 0.0))
        out = []
        for r, c in self.cells:
            denom = float(sd[r] * sd[c])
            if r == c:
                out.append(sigma * float(sd[r]))
            else:
                out.append(float(cov[r, c]) / denom if denom > 0 else math.nan)
        return np.asarray(out, dtype=np.float64)

    def theta(self, values: FloatArray, sigma: float) -> FloatArray | None:
        """θᵢ = the cells of diag(sd / σ)·chol(R); None if R is not a correlation matrix."""
        sd, corr = np.zeros(self.p), np.eye(self.p)
        for (r, c), v in zip(self.cells, values, strict=True):
            if r == c:
                sd[r] = v
            else:
                corr[r, c] = corr[c, r] = v
        low = _psd_cholesky(corr)
        if low is None:
            return None
        factor = (sd / sigma)[:, None] * low
        return np.asarray([factor[r, c] for r, c in self.cells], dtype=np.float64)


class _Scaled:
    """``diag``, ``cs``, ``ar1`` (types with ``n_sd``): θᵢ is the standard deviations relative
    to σ, then correlation parameters reported as they are (``sd_x|g``, ``rho|g``; a shared
    standard deviation is ``sd|g``)."""

    def __init__(self, term: RandomEffectsTerm, n_sd: int) -> None:
        cols, group, p = term.columns, term.group, len(term.columns)
        n_corr = term.n_theta - n_sd
        sds = [f"sd_{c}|{group}" for c in cols] if n_sd == p else [f"sd|{group}"] * n_sd
        rhos = [f"rho|{group}"] if n_corr == 1 else [f"rho{k + 1}|{group}" for k in range(n_corr)]
        self.n_sd, self.names = n_sd, sds + rhos
        self.kinds: list[Kind] = ["cor" if k >= n_sd else "sd" for k in range(n_sd + n_corr)]
        self.lower = np.concatenate([np.zeros(n_sd), term.term_type.lower_bounds(p)[n_sd:]])
        self.upper = np.concatenate([np.full(n_sd, np.inf), term.term_type.upper_bounds(p)[n_sd:]])

    def values(self, theta: FloatArray, sigma: float) -> FloatArray:
        return np.concatenate([sigma * theta[: self.n_sd], theta[self.n_sd :]])

    def theta(self, values: FloatArray, sigma: float) -> FloatArray | None:
        return np.concatenate([values[: self.n_sd] / sigma, values[self.n_sd :]])


class _Relative:
    """Any other term type: its own θᵢ (relative to σ), named ``theta_<lme4 θ name>``."""

    def __init__(self, term: RandomEffectsTerm) -> None:
        p = len(term.columns)
        self.names = [f"theta_{n}" for n in term.term_type.theta_names(term.columns, term.group)]
        self.kinds: list[Kind] = ["theta"] * term.n_theta
        self.lower = term.term_type.lower_bounds(p)
        self.upper = term.term_type.upper_bounds(p)

    def values(self, theta: FloatArray, sigma: float) -> FloatArray:
        return theta

    def theta(self, values: FloatArray, sigma: float) -> FloatArray | None:
        return values


def _cells(term: RandomEffectsTerm) -> list[tuple[int, int]] | None:
    """The cell of Tᵢ each θ entry fills (probed with unit vectors), or None if some entry
    does not fill exactly one lower-triangular cell."""
    n, p = term.n_theta, len(term.columns)
    out = []
    for k in range(n):
        hits = np.argwhere(term.term_type.lambda_block(np.eye(n)[k], p) != 0)
        if len(hits) != 1 or hits[0, 0] < hits[0, 1]:
            return None
        out.append((int(hits[0, 0]), int(hits[0, 1])))
    return out


def _term_parameters(term: RandomEffectsTerm) -> _TermParameters:
    n_sd = getattr(term.term_type, "n_sd", None)
    if callable(n_sd):
        return _Scaled(term, int(n_sd(len(term.columns))))
    cells = _cells(term)
    return _Relative(term) if cells is None else _Cholesky(term, cells)


@dataclass(frozen=True)
class _Layout:
    """The variance parameters in lme4's order: per term (θ order), then σ."""

    terms: list[_TermParameters]

    @property
    def names(self) -> list[str]:
        return [n for t in self.terms for n in t.names] + ["sigma"]

    @property
    def kinds(self) -> list[Kind]:
        return [k for t in self.terms for k in t.kinds] + ["sigma"]

    @property
    def lower(self) -> FloatArray:
        return np.concatenate([*(t.lower for t in self.terms), [0.0]])

    @property
    def upper(self) -> FloatArray:
        return np.concatenate([*(t.upper for t in self.terms), [np.inf]])


def _layout(devfun: DevianceFunction | GlmmDeviance) -> _Layout:
    return _Layout([_term_parameters(t) for t in devfun.design.terms])


def parameter_names(fit: LmerResult | GlmerResult) -> list[str]:
    """The rows of ``confint(fit)``, as lme4's ``confint(m, oldNames = FALSE)`` names them
    (no ``sigma`` for a generalized model)."""
    names = _layout(fit.devfun).names
    if isinstance(fit, GlmerResult):
        names = names[:-1]
    return names + list(fit.design.x_columns)


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


# ---- θ, σ <-> sd, cor, σ -------------------------------------------------------------------------


def _variance_values(
    devfun: DevianceFunction, layout: _Layout, theta: FloatArray, sigma: float
) -> FloatArray:
    """The variance parameters at (θ, σ), in the layout's order, σ last."""
    parts = [
        t.values(th, sigma) for t, th in zip(layout.terms, devfun.term_thetas(theta), strict=True)
    ]
    return np.concatenate([*parts, [sigma]])


def _psd_cholesky(corr: FloatArray) -> FloatArray | None:
    """Lower Cholesky factor of a positive semi-definite correlation matrix (a zero pivot
    gives a zero column); None when it is not positive semi-definite."""
    p = len(corr)
    low = np.zeros((p, p))
    for j in range(p):
        d = corr[j, j] - low[j, :j] @ low[j, :j]
        if d < -PIVOT_TOL:
            return None
        low[j, j] = math.sqrt(d) if d > PIVOT_TOL**2 else 0.0
        for i in range(j + 1, p):
            rest = corr[i, j] - low[i, :j] @ low[j, :j]
            if low[j, j] > 0:
                low[i, j] = rest / low[j, j]
            elif abs(rest) > math.sqrt(PIVOT_TOL):
                return None
    return low


def _theta_from_variance(layout: _Layout, values: FloatArray) -> FloatArray | None:
    """θ for given variance parameters and σ (last); None if they are not a covariance."""
    sigma, start, parts = float(values[-1]), 0, []
    for term in layout.terms:
        part = term.theta(values[start : start + len(term.names)], sigma)
        if part is None:
            return None
        parts.append(part)
        start += len(term.names)
    return np.concatenate(parts)


# ---- the ML deviance in pieces -------------------------------------------------------------------


@dataclass(frozen=True)
class _Pieces:
    """What the PLS solution at θ gives: log det(Λ'Z'WZΛ + I), the penalized weighted RSS at
    β̂(θ), β̂(θ) and R_X (as ``PlsSolution``)."""

    ldL2: float  # noqa: N815 (lme4 name)
    pwrss: float
    beta: FloatArray
    RX: FloatArray


def _pieces(devfun: DevianceFunction, theta: FloatArray) -> _Pieces | None:
    """The PLS pieces at θ (the factorisation alone), or None where the system is not
    positive definite."""
    parts = devfun.decompose(theta, reml=False)
    return None if parts is None else _Pieces(parts.ldL2, parts.pwrss, parts.beta, parts.RX)


@dataclass(frozen=True)
class _MLFit:
    """The ML fit the profiles start from (the fit itself, or its ML refit if REML)."""

    devfun: DevianceFunction
    layout: _Layout
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


def _ml_fit(fit: LmerResult) -> _MLFit:
    """The ML optimum (lme4's ``profile.merMod`` profiles the ML deviance of a REML fit)."""
    with warnings.catch_warnings():  # the fit itself already said what there was to say
        warnings.simplefilter("ignore", LmerpyWarning)
        ml = fit.refit_ml()
    sol = ml.solution
    rx_inv = np.linalg.inv(sol.RX)
    se = sol.sigma * np.sqrt(np.sum(rx_inv**2, axis=1))
    layout = _layout(ml.devfun)
    return _MLFit(ml.devfun, layout, ml.record.final, ml.objective, sol.sigma, sol.beta, se)


def _variance_deviance(ml: _MLFit, values: FloatArray) -> float:
    """ML deviance at sd, cor and σ with β profiled out (lme4's ``devfun2``):
    ldL2 + n log(2πσ²) + pwrss/σ² − Σ log w."""
    sigma = float(values[-1])
    theta = _theta_from_variance(ml.layout, values) if sigma > 0 else None
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


def _profile_intervals(fit: LmerResult, level: float) -> FloatArray:
    """(lower, upper) per parameter from the likelihood profile (lme4: ``confint(profile(m))``)."""
    ml = _ml_fit(fit)
    z = float(scipy.stats.norm.ppf((1 + level) / 2))
    est = _variance_values(ml.devfun, ml.layout, ml.theta, ml.sigma)
    est = np.where(np.isnan(est), 0.0, est)  # a correlation of a zero sd: any value fits
    rows = []
    for k in range(len(est)):
        search = _variance_search(ml, k, float(est[k]))
        rows.append(_interval(_variance_profile(ml, k, est), ml.deviance, search, z))
    for j, beta in enumerate(ml.beta):
        search = _Search(float(beta), z * float(ml.se[j]), -math.inf, math.inf, False)
        rows.append(_interval(_fixed_profile(ml, j), ml.deviance, search, z))
    return np.asarray(rows, dtype=np.float64)


def _glmm_profile_intervals(fit: GlmerResult, level: float) -> FloatArray:
    """Profile intervals of a generalized fit (lme4: ``confint(profile(m))`` of a glmer fit):
    sd and cor of each term (σ = 1), then β; every other parameter re-optimised, β in units
    of its standard error."""
    dev, layout = fit.devfun, _layout(fit.devfun)
    k = len(dev.layout.lower)
    variances = np.concatenate(
        [t.values(th, 1.0) for t, th in zip(layout.terms, fit._term_thetas(), strict=True)]
    )
    n_var, se = len(variances), np.sqrt(np.diag(fit.vcov_matrix))
    est = np.concatenate([np.nan_to_num(variances), fit.record.final[k:]])
    kinds = layout.kinds[:-1] + ["beta"] * len(se)
    scale = np.concatenate([[max(v, 0.1) if kd == "sd" else 1.0 for v, kd in
                             zip(variances, kinds, strict=False)], se])  # fmt: skip
    lower = np.concatenate([layout.lower[:-1], np.full(len(se), -np.inf)])
    upper = np.concatenate([layout.upper[:-1], np.full(len(se), np.inf)])

    def deviance(values: FloatArray) -> float:
        theta = _theta_from_variance(layout, np.concatenate([values[:n_var], [1.0]]))
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


# ---- Wald ----------------------------------------------------------------------------------------


def _wald_intervals(fit: LmerResult | GlmerResult, level: float) -> FloatArray:
    """β ± z·SE, NaN for the variance parameters (lme4: ``confint(m, method = "Wald")``)."""
    z = float(scipy.stats.norm.ppf((1 + level) / 2))
    beta = fit.fixef.to_numpy()
    se = np.sqrt(np.diag(fit.vcov.to_numpy()))
    n_var = len(parameter_names(fit)) - len(beta)
    fixed = np.column_stack([beta - z * se, beta + z * se])
    return np.vstack([np.full((n_var, 2), np.nan), fixed])


# ---- parametric bootstrap ------------------------------------------------------------------------


def _simulate(fit: LmerResult, rng: np.random.Generator) -> FloatArray:
    """One response from the fitted model (lme4's ``simulate(m, use.u = FALSE)``)."""
    return np.asarray(simulate(fit, 1, rng)["sim_1"], dtype=np.float64)


def _refit_values(fit: LmerResult, layout: _Layout, y: FloatArray) -> FloatArray:
    """sd, cor, σ and β of the model refitted to y (lme4's ``refit``), NaN if it fails."""
    try:
        with warnings.catch_warnings():  # singular refits are part of a bootstrap sample
            warnings.simplefilter("ignore", LmerpyWarning)
            again = refit(fit, y)
    except FitError:
        return np.full(len(layout.names) + len(fit.design.x_columns), np.nan)
    values = _variance_values(again.devfun, layout, again.record.final, again.sigma)
    return np.concatenate([values, again.solution.beta])


def _counter(n: int, enabled: bool) -> Iterator[int]:
    """range(n) with a progress bar: tqdm's if it is installed, else a counter on stderr."""
    if not enabled:
        yield from range(n)
        return
    try:
        tqdm = importlib.import_module("tqdm")
    except ImportError:
        for i in range(n):
            yield i
            print(f"\rbootstrap {i + 1}/{n}", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        return
    yield from tqdm.tqdm(range(n), desc="bootstrap", file=sys.stderr)


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
    fit: LmerResult, level: float, nsim: int, seed: int | np.random.Generator | None, progress: bool
) -> FloatArray:
    """Percentile intervals from ``nsim`` parametric bootstrap refits (lme4:
    ``confint(m, method = "boot")``)."""
    if nsim < 1:
        raise ArgumentError(f"nsim must be a positive integer, not {nsim!r}")
    rng = np.random.default_rng(seed)
    layout = _layout(fit.devfun)
    sims = np.asarray(
        [_refit_values(fit, layout, _simulate(fit, rng)) for _ in _counter(nsim, progress)]
    )
    probs = ((1 - level) / 2, (1 + level) / 2)
    limits = [[_percentile(sims[:, i], p) for p in probs] for i in range(sims.shape[1])]
    return np.asarray(limits, dtype=np.float64)


# ---- the entry point -----------------------------------------------------------------------------


@single_blas_thread
def confint(
    fit: LmerResult | GlmerResult,
    method: str = "profile",
    level: float = 0.95,
    *,
    nsim: int = 500,
    seed: int | np.random.Generator | None = None,
    progress: bool = False,
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
        seed: seed or ``numpy.random.Generator`` for the bootstrap.
        progress: show a progress bar while bootstrapping.

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
    elif isinstance(fit, GlmerResult):
        if key == "boot":
            raise ArgumentError(
                "bootstrap intervals are not available for generalized models: use "
                "method='profile' or 'wald'"
            )
        limits = _glmm_profile_intervals(fit, level)
    elif key == "boot":
        limits = _boot_intervals(fit, level, nsim, seed, progress)
    else:
        limits = _profile_intervals(fit, level)
    return pd.DataFrame(limits, index=parameter_names(fit), columns=_percent_labels(level))
