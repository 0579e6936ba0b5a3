"""The variance parameters on lme4's reporting scale: standard deviations, correlations and σ,
and the map between them and θ (lme4's ``Sv_to_Cv``/``Cv_to_Sv``), with lme4's names
(``sd_(Intercept)|g``, ``cor_x.(Intercept)|g``, ..., ``sigma``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from ..design import RandomEffectsTerm
from ..fitted.base import GeneralizedDeviance, LinearDeviance, MixedModelResult

__all__ = ["Layout", "layout_of", "theta_from_variance", "variance_values"]

FloatArray = NDArray[np.float64]
Kind = Literal["sd", "cor", "theta", "sigma"]

PIVOT_TOL = 1e-8  # a Cholesky pivot below this is taken as 0 (a correlation at ±1)


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
class Layout:
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


def layout_of(owner: MixedModelResult | LinearDeviance | GeneralizedDeviance) -> Layout:
    """The parameters of the design of a fit or of a deviance function."""
    return Layout([_term_parameters(t) for t in owner.design.terms])


# ---- θ, σ <-> sd, cor, σ -------------------------------------------------------------------------


def variance_values(
    devfun: LinearDeviance, layout: Layout, theta: FloatArray, sigma: float
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


def theta_from_variance(layout: Layout, values: FloatArray) -> FloatArray | None:
    """θ for given variance parameters and σ (last); None if they are not a covariance."""
    sigma, start, parts = float(values[-1]), 0, []
    for term in layout.terms:
        part = term.theta(values[start : start + len(term.names)], sigma)
        if part is None:
            return None
        parts.append(part)
        start += len(term.names)
    return np.concatenate(parts)
