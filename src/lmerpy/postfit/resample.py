"""Resampling a fit, in parallel: the parametric and case bootstrap (lme4's ``bootMer``),
case deletion by group (lme4's ``influence(m, groups)``) and power by simulation (simr's
``powerSim``). Replicates run in processes with one BLAS thread each (``n_jobs``), each from
its own child seed, so a seed gives the same result for any number of processes."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from .._util.parallel import parallel_map, replicate_seeds
from ..errors import ArgumentError, ArgumentTypeError, LmerpyError, LmerpyWarning
from ..fitted.base import MixedModelResult
from ..inference.ddf import contrast_df

__all__ = ["PowerResult", "bootstrap", "influence", "power_sim"]

FloatArray = NDArray[np.float64]
Statistic = Callable[[Any], Any]


def bootstrap(
    fit: MixedModelResult,
    nsim: int = 500,
    *,
    statistic: Statistic | None = None,
    type: str = "parametric",
    seed: int | np.random.SeedSequence | None = None,
    n_jobs: int | None = 1,
    progress: bool | None = False,
) -> pd.DataFrame:
    """Bootstrap replicates of a statistic (lme4: ``bootMer(m, FUN, nsim, seed, type)``).

    Args:
        fit: a linear fit, or a binomial or Poisson generalized one.
        nsim: replicates.
        statistic: fit -> a number, a sequence or a Series (named columns); by default the
            fixed effects, θ and σ.
        type: ``"parametric"`` (new responses simulated from the fit, new random effects each
            time: ``use.u = FALSE``; the model refitted to each) or ``"case"`` (the levels of
            the outermost grouping factor resampled with replacement, their rows with them;
            each copy of a level becomes a level of its own).
        seed: the seed; replicate i draws from its i-th child seed.
        n_jobs: processes (-1: one per core).
        progress: a progress bar (tqdm).

    Returns:
        One row per replicate; a replicate whose refit failed is a row of NaN.
    """
    _refittable(fit, "the bootstrap")
    if not isinstance(nsim, int) or nsim < 1:
        raise ArgumentError(f"nsim must be a positive integer, not {nsim!r}")
    if type not in ("parametric", "case"):
        raise ArgumentError(f"type must be 'parametric' or 'case'; got {type!r}")
    stat = statistic or _default_statistic
    names = _names(stat(fit))
    seeds = replicate_seeds(seed, nsim)
    draw = _parametric if type == "parametric" else _case

    def replicate(i: int) -> FloatArray:
        rng = np.random.default_rng(seeds[i])
        try:
            with warnings.catch_warnings():  # singular refits are part of a bootstrap sample
                warnings.simplefilter("ignore", LmerpyWarning)
                return _values(stat(draw(fit, rng)), len(names))
        except LmerpyError:
            return np.full(len(names), np.nan)

    rows = parallel_map(replicate, nsim, n_jobs=n_jobs, progress=progress, desc="bootstrap")
    return pd.DataFrame(np.asarray(rows), columns=names)


def influence(
    fit: MixedModelResult,
    groups: str | None = None,
    *,
    n_jobs: int | None = 1,
    progress: bool | None = False,
) -> pd.DataFrame:
    """Case deletion by group (lme4: ``influence(m, groups)``, ``cooks.distance(.)``).

    For each level of ``groups`` (by default the outermost grouping factor) the model is
    refitted without that level's rows. Returns one row per level: the fixed effects without
    it, and ``cooks_distance`` = (n − p)/(n p) · dᵀV⁻¹d, d = β̂ − β̂₍₋ᵢ₎, V = vcov(β̂) of the
    full fit and n the number of levels: lme4's ``cooks.distance`` of an influence object,
    whose factor (n − p)/n the textbook dᵀV⁻¹d / p lacks.
    """
    _refittable(fit, "case deletion")
    group = _group(fit, groups)
    data = fit.design.data.loc[fit.design.rows]
    labels = data[group].astype(str).to_numpy()
    levels = list(dict.fromkeys(labels))
    beta, V = fit.fixef.to_numpy(), fit.vcov.to_numpy()
    n, p = len(levels), len(beta)
    scale = (n - p) / (n * p)

    def delete(i: int) -> FloatArray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LmerpyWarning)
            reduced = fit.update(data=data[labels != levels[i]])  # type: ignore[attr-defined]
        b = reduced.fixef.reindex(fit.fixef.index).to_numpy()
        d = beta - b
        return np.append(b, float(d @ np.linalg.solve(V, d)) * scale)

    rows = parallel_map(delete, len(levels), n_jobs=n_jobs, progress=progress, desc="deletion")
    out = pd.DataFrame(np.asarray(rows), index=pd.Index(levels, name=group),
                       columns=[*fit.fixef.index, "cooks_distance"])  # fmt: skip
    return out


class PowerResult:
    """Power by simulation (simr's ``powerSim`` printout): ``power`` with its Clopper-Pearson
    interval, from ``successes`` of ``nsim`` replicates at ``alpha``; ``p_values`` each one's."""

    def __init__(
        self, effect: Mapping[str, float], p_values: FloatArray, alpha: float, level: float
    ) -> None:
        self.effect, self.p_values, self.alpha = dict(effect), p_values, alpha
        done = p_values[np.isfinite(p_values)]
        self.nsim, self.successes = len(done), int(np.sum(done < alpha))
        self.power = self.successes / self.nsim if self.nsim else math.nan
        tail = (1 - level) / 2
        k, n = self.successes, self.nsim
        lower = stats.beta.ppf(tail, k, n - k + 1) if k > 0 else 0.0
        upper = stats.beta.ppf(1 - tail, k + 1, n - k) if k < n else 1.0
        self.interval = (float(lower), float(upper))

    def __repr__(self) -> str:
        what = ", ".join(f"{k} = {v:g}" for k, v in self.effect.items())
        return (
            f"Power for {what}: {100 * self.power:.2f}% ({100 * self.interval[0]:.2f}, "
            f"{100 * self.interval[1]:.2f})\n{self.successes} of {self.nsim} replicates "
            f"significant at alpha = {self.alpha:g}"
        )


def power_sim(
    fit: MixedModelResult,
    effect: Mapping[str, float],
    nsim: int = 200,
    *,
    alpha: float = 0.05,
    ddf: str = "satterthwaite",
    level: float = 0.95,
    seed: int | np.random.SeedSequence | None = None,
    n_jobs: int | None = 1,
    progress: bool | None = False,
) -> PowerResult:
    """Power to detect fixed effects by simulation (R: simr's ``fixef(m)[x] <- v;
    powerSim(m, fixed(x, "t"), nsim)``).

    Responses are simulated from the fit with the fixed effects in ``effect`` set to the
    values given (the random effects and σ as fitted); the model is refitted to each, and a
    replicate counts when its t test of the effect (F test for several) has p < ``alpha``.

    Args:
        fit: a linear fit.
        effect: fixed-effect name -> the value to simulate with (and test).
        nsim: replicates; ``alpha``: the test level; ``ddf``: the t test's df method.
        level: confidence level of the power's interval (Clopper-Pearson, as simr).
        seed, n_jobs, progress: as ``bootstrap``.
    """
    _refittable(fit, "power simulation")
    if not isinstance(effect, Mapping) or not effect:
        raise ArgumentTypeError("effect must be a dict of fixed-effect names and values")
    unknown = [k for k in effect if k not in fit.fixef.index]
    if unknown:
        raise ArgumentError(
            f"effect names {unknown}, not fixed effects ({', '.join(fit.fixef.index)})"
        )
    columns = [list(fit.fixef.index).index(k) for k in effect]
    beta = fit.fixef.to_numpy().copy()
    beta[columns] = list(effect.values())
    L = np.eye(len(fit.fixef))[columns]
    seeds = replicate_seeds(seed, nsim)

    def replicate(i: int) -> float:
        y = fit.simulate_once(np.random.default_rng(seeds[i]), beta)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", LmerpyWarning)
                again = fit.refit(y)  # type: ignore[attr-defined]
                return float(_contrast_p(again, L, ddf))
        except LmerpyError:
            return math.nan

    p = np.asarray(parallel_map(replicate, nsim, n_jobs=n_jobs, progress=progress, desc="power"))
    return PowerResult(effect, p, alpha, level)


def _contrast_p(fit: MixedModelResult, L: FloatArray, ddf: str) -> float:
    """The test of Lβ = 0: ``ddf``'s F for a linear fit, Wald's for a generalized one."""
    method = "asymptotic" if fit.generalized else ddf
    return contrast_df(fit, L, method).p_value  # type: ignore[arg-type]


# ---- replicates ---------------------------------------------------------------------------------


def _parametric(fit: MixedModelResult, rng: np.random.Generator) -> MixedModelResult:
    return fit.refit(fit.simulate_once(rng))  # type: ignore[attr-defined, no-any-return]


def _case(fit: MixedModelResult, rng: np.random.Generator) -> MixedModelResult:
    """The outermost grouping factor's levels drawn with replacement; each copy relabelled,
    and with it every grouping factor nested in it."""
    group = _group(fit, None)
    data = fit.design.data.loc[fit.design.rows]
    labels = data[group].astype(str).to_numpy()
    levels = np.array(list(dict.fromkeys(labels)))
    chosen = rng.choice(len(levels), size=len(levels), replace=True)
    nested = [g for g in _grouping_columns(fit) if _nested_in(data, g, group)]
    parts = []
    for copy, j in enumerate(chosen):
        part = data[labels == levels[j]].copy()
        for g in nested:
            part[g] = part[g].astype(str) + f"#{copy}"
        parts.append(part)
    return fit.update(data=pd.concat(parts, ignore_index=True))  # type: ignore[attr-defined, no-any-return]


def _grouping_columns(fit: MixedModelResult) -> list[str]:
    return list(dict.fromkeys(c for t in fit.design.terms for c in t.spec.group))


def _nested_in(data: pd.DataFrame, inner: str, outer: str) -> bool:
    return bool((data.groupby(inner, observed=True)[outer].nunique() <= 1).all())


def _group(fit: MixedModelResult, groups: str | None) -> str:
    columns = _grouping_columns(fit)
    if groups is None:
        data = fit.design.data
        return min(columns, key=lambda c: data[c].nunique())
    if groups not in columns:
        raise ArgumentError(
            f"groups must be a grouping column of the model ({', '.join(columns)}); got {groups!r}"
        )
    return groups


def _default_statistic(fit: MixedModelResult) -> pd.Series:
    return pd.Series(np.concatenate([fit.fixef, fit.theta, [fit.sigma]]),
                     index=[*fit.fixef.index, *fit.theta.index, "sigma"])  # fmt: skip


def _names(value: Any) -> list[str]:
    if isinstance(value, pd.Series):
        return [str(k) for k in value.index]
    return [f"t{i + 1}" for i in range(np.size(value))]


def _values(value: Any, n: int) -> FloatArray:
    out = np.asarray(
        value.to_numpy() if isinstance(value, pd.Series) else value, dtype=np.float64
    ).ravel()
    if out.size != n:
        raise ArgumentError(f"the statistic gave {out.size} values, not {n}")
    return out


def _refittable(fit: MixedModelResult, what: str) -> None:
    if not fit.refittable:
        raise ArgumentError(
            f"{what} is available for linear fits and binomial and Poisson generalized ones"
        )
    fit._require_rows(what)
