"""The Cholesky factor L at Λθ, the one place that picks how it is computed, and the
criterion and fixed effects read from it.

For a relative covariance factor Λθ the symmetric matrix

    [ Λ'Z'WZΛ + I     Λ'Z'W[X y]   ]
    [ [X y]'WZΛ       [X y]'W[X y] ]

is factored as L L' with L lower triangular.  The last diagonal block of L is
[R_X' 0; c_β' r] with r² the penalized weighted residual sum of squares.  Three routes give
the same L up to rounding (`route`); each yields a `Factor`, which is all the workspace reads.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

import numpy as np

from .blocked import factorise_blocked
from .blocks import FloatArray
from .dense import factorise_dense, factorise_one_term
from .plan import Plan

__all__ = [
    "SMALL_DENSE",
    "SMALL_DENSE_ONE_TERM",
    "Factor",
    "PlsCriterion",
    "Route",
    "criterion",
    "decompose",
    "factorise",
    "fixed_effects",
    "route",
]

SMALL_DENSE = 150
"""Models of several terms with at most this many random effects factor the whole matrix
densely, each term scaling A's rows and columns by its template, then one LAPACK call
(measured on three crossed scalar terms: 30 µs against the blocked path's 158 µs with 55
random effects, 127 against 186 with 155, 243 against 214 with 205)."""

SMALL_DENSE_ONE_TERM = 64
"""A single term with at most this many random effects is factored densely as well
(sleepstudy, 36: 16 µs against the batched level blocks' 53; 2 × 2 level blocks: 53 against
80 with 80 random effects, 84 against 52 with 120)."""


class Factor(Protocol):
    """L at Λθ, however it was computed."""

    @property
    def ldL2(self) -> float:
        """log det(Λ'Z'WZΛ + I)."""
        ...

    @property
    def Lxy(self) -> FloatArray:
        """The factor of the [X y] block, [R_X' 0; c_β' r]."""
        ...

    def modes(self, beta: FloatArray) -> list[FloatArray]:
        """The spherical modes u at β, term by term."""
        ...

    def relative_condvar(self, T: Sequence[FloatArray]) -> list[FloatArray]:
        """Per term, the (n_levels, p_i, p_i) blocks of Λ(L_Z L_Z')⁻¹Λ'."""
        ...


class Route(Enum):
    """How L is computed."""

    SMALL_DENSE = "one dense Cholesky factorisation of the whole matrix"
    ONE_TERM = "the level blocks of a single term, in batched numpy calls"
    BLOCKED = "the blocked factorisation"


def route(plan: Plan) -> Route:
    """The route to L for a model: a small model (at most SMALL_DENSE random effects, or
    SMALL_DENSE_ONE_TERM for a single term; read at each call) in one dense factorisation,
    where any bookkeeping would dominate; a larger single term by its level blocks; all
    others blocked.  Every route gives what `solve` needs, so a model is searched and
    reported by the same factor; the gradient picks its own factor (`gradient`)."""
    limit = SMALL_DENSE_ONE_TERM if plan.n_terms == 1 else SMALL_DENSE
    if plan.q <= limit:
        return Route.SMALL_DENSE
    if plan.n_terms == 1:
        return Route.ONE_TERM
    return Route.BLOCKED


def factorise(plan: Plan, T: Sequence[FloatArray]) -> Factor:
    """L at the templates T of Λ's blocks, by the model's route; raises NotPositiveDefinite."""
    chosen = route(plan)
    if chosen is Route.ONE_TERM:
        return factorise_one_term(plan, T[0])
    if chosen is Route.SMALL_DENSE:
        return factorise_dense(plan, T)
    return factorise_blocked(plan, T)


def criterion(ldL2: float, Lxy: FloatArray, n: int, sum_log_w: float, reml: bool) -> float:
    """lme4's criterion from log|L|² and the factor of the [X y] block:
    ML:   ldL2 - Σ log w + n (1 + log(2π pwrss / n))
    REML: ldL2 - Σ log w + ldRX2 + (n - p)(1 + log(2π pwrss / (n - p)))"""
    ldRX2, pwrss = _xy_parts(Lxy)
    return _value(ldL2, ldRX2, pwrss, Lxy.shape[0] - 1, n, sum_log_w, reml)


def _xy_parts(Lxy: FloatArray) -> tuple[float, float]:
    """(log det(R_X'R_X), pwrss) from the factor of the [X y] block."""
    d = Lxy.diagonal()
    return 2.0 * float(np.log(d[:-1]).sum()), float(d[-1]) ** 2


def _value(
    ldL2: float, ldRX2: float, pwrss: float, p: int, n: int, sum_log_w: float, reml: bool
) -> float:
    dof = n - p if reml else n
    scale = 2.0 * math.pi * pwrss / dof
    log_scale = math.log(scale) if scale > 0 else -math.inf  # a perfect fit has no criterion
    return ldL2 - sum_log_w + (ldRX2 if reml else 0.0) + dof * (1.0 + log_scale)


def fixed_effects(Lxy: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(R_X, β̂) from the factor of the [X y] block (every route's factor is zero above its
    diagonal, so R_X is the transpose of its leading block as it stands)."""
    p = Lxy.shape[0] - 1
    RX = np.ascontiguousarray(Lxy[:p, :p].T)
    beta = np.linalg.solve(RX, Lxy[p, :p]) if p else np.zeros(0)  # tiny: numpy is fastest
    return RX, np.asarray(beta, dtype=np.float64)


@dataclass(frozen=True)
class PlsCriterion:
    """The criterion at Λθ with its parts, R_X and β̂: everything but the conditional modes
    and variances (see `PlsWorkspace.decompose`)."""

    objective: float
    ldL2: float  # noqa: N815 (lme4's name)
    ldRX2: float  # noqa: N815 (lme4's name)
    pwrss: float
    beta: FloatArray
    RX: FloatArray


def decompose(f: Factor, n: int, sum_log_w: float, reml: bool) -> PlsCriterion:
    """The criterion, its parts, R_X and β̂ from a factor."""
    Lxy = f.Lxy
    ldRX2, pwrss = _xy_parts(Lxy)
    value = _value(f.ldL2, ldRX2, pwrss, Lxy.shape[0] - 1, n, sum_log_w, reml)
    RX, beta = fixed_effects(Lxy)
    return PlsCriterion(value, f.ldL2, ldRX2, pwrss, beta, RX)
