"""Complete and quasi-complete separation of a GLMM's fixed effects, detected before fitting.

Conditions. Drop the rows with zero prior weight and let X (n x p) be the fixed-effects
matrix, z = Xd the change of the linear predictor along a direction d. The maximum-likelihood
estimates are infinite iff some d gives z != 0 with

* binomial (y the proportion of successes): z >= 0 on rows with y = 1 (all successes),
  z <= 0 on rows with y = 0 (all failures), z = 0 on rows with 0 < y < 1;
* Poisson with the log link: z <= 0 on rows with y = 0 and z = 0 on rows with y > 0.

For 0/1 data the binomial condition is Albert & Anderson's (1984) complete (every z_i != 0)
or quasi-complete separation; a row with 0 < y < 1 stands for a success and a failure at the
same x, which forces z = 0. Konis (2007) decides it by a linear programme, as R's
safeBinaryRegression and detectseparation do. The Poisson condition is Haberman's (1974) for
log-linear models, as Santos Silva & Tenreyro (2010) state it for Poisson regression. This
module re-implements the conditions from that mathematics, not from those packages' code.

Why the random effects do not rescue the estimates. Fix u. Along β + t d, η_i moves by t z_i.
Rows with z_i = 0 keep their log-likelihood; a pushed row gains: log μ_i rises when z_i > 0
and y_i = 1, log(1 - μ_i) rises when z_i < 0 and y_i = 0, and -μ_i (a zero Poisson count)
rises when z_i < 0, because the inverse link is strictly increasing (logit, probit, cloglog,
cauchit onto (0, 1); log onto (0, ∞)). So the conditional likelihood p(y | β + t d, u)
strictly increases in t for every u, and so does the marginal likelihood, its integral
against the N(0, Σ_θ) density of u, for every θ: no finite β maximises it. The same argument
does not cover identity- or sqrt-link Poisson models, whose means are not confined this way.
In the Laplace approximation lme4 and lmerpy maximise, the penalised-mode term
max_u [log p(y | β + t d, u) - |u|² / 2] is a maximum of non-decreasing functions of t, so it is
non-decreasing too. The log-determinant term is not monotone in general (the pushed rows'
working weights tend to 0, moving the mode), so this argument does not prove the approximation
monotone; but any finite optimum it had along d would be an artefact of the approximation, the
likelihood it approximates having none. A grouping level with all zeros, by
contrast, only drives its u_j down until the penalty |u|² / 2 stops it: random effects cannot
separate, so only X is tested.

The linear programme. Only rows at the boundary (y = 0, or y = 1 for binomial) can be pushed:
with none (binomial with every 0 < y < 1, Poisson with no zero count) the answer is None without
a programme, an exact pre-screen. Otherwise scale each column of X by a power of two so its
largest |entry| lies in [1/2, 1) (exact in floating point), multiply the sign-constrained rows
by their sign s_i (+1 for y = 1, -1 for y = 0; exact), and merge identical rows (exact
comparison), each keeping its count c_i. Then solve with HiGHS

    maximise Σ c_i s_i x_i d   subject to  s_i x_i d >= 0,  x_k d = 0,  -1 <= d_j <= 1,

whose optimum is 0 (at d = 0) iff the data are not separated, X having full column rank on the
rows with positive weight. With more than SAMPLE_ROWS distinct rows, a sample of about that many
is solved first: leaving rows out only removes constraints, so if the sample's optimum is
d = 0 exactly and its rows have full column rank, no direction pushes any row of the whole
data (a large unseparated data set is cleared in milliseconds; HiGHS needed minutes for the
whole programme on 200,000 rows). Any other outcome of the sample leaves the verdict to the
whole programme. If a direction is found, the objective is restricted to the rows it
did not push and the programme re-solved; the sum of the directions found pushes every row that
any direction can push (directions satisfying the constraints form a convex cone, closed under
addition).

Tolerance. A row counts as pushed when s_i z_i > TOLERANCE = 1e-9, and a direction is accepted
only if every constraint holds to TOLERANCE, with HiGHS's own feasibility tolerance a tenth of
that. With |x_ij| < 1 and |d_j| <= 1 per solve, rounding in z is of order p * 1e-16, and the
simplex returned d = 0 exactly on every unseparated data set tried; a genuine separating
direction at a vertex of the box moves the pushed rows by amounts of order 1 for factor dummies
and moderate covariates. Both sides sit orders of magnitude from 1e-9, so the verdict does not
depend on rounding (no BLAS call enters it: the products are summed by numpy's own loops, and
HiGHS does its own arithmetic). Only a separation whose largest push is below 1e-9 of the scaled
predictor's range, a numerical tie, goes unreported; and if HiGHS failed (it should not: d = 0
is feasible and the box bounds the objective) or its direction did not check out, the answer is
None, so a fit goes ahead as it would without this test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linprog

from ..errors import ArgumentError

__all__ = ["TOLERANCE", "Separation", "separation", "separation_message"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
BoolArray = NDArray[np.bool_]

TOLERANCE = 1e-9  # a row is pushed when s_i x_i d exceeds this, with |x_ij|, |d_j| <= 1

SAMPLE_ROWS = 5000
"""Distinct rows above which a sample of about this many is tried first (`_direction`)."""
HIGHS_FEASIBILITY = TOLERANCE / 10  # HiGHS's primal feasibility tolerance


@dataclass(frozen=True)
class Separation:
    """A direction along which the likelihood keeps increasing.

    Attributes:
        family: "binomial" or "poisson".
        columns: names of the fixed effects with a nonzero component in ``direction``.
        direction: d in the units of X's columns, largest |component| 1: along β + t d,
            t → ∞, the linear predictor goes to -∞ on ``to_zero`` and +∞ on ``to_one`` and
            stays put elsewhere.
        to_zero: positions (rows of the X given) whose fitted mean is driven to 0.
        to_one: positions whose fitted probability is driven to 1 (binomial only).
        n_rows: rows with positive prior weight.
    """

    family: str
    columns: tuple[str, ...]
    direction: tuple[float, ...]
    to_zero: tuple[int, ...]
    to_one: tuple[int, ...]
    n_rows: int

    @property
    def n_pushed(self) -> int:
        """Rows whose fitted mean is driven to the boundary."""
        return len(self.to_zero) + len(self.to_one)

    @property
    def kind(self) -> str:
        """Either "complete" (every row is pushed) or "quasi-complete"."""
        return "complete" if self.n_pushed == self.n_rows else "quasi-complete"


def separation(
    X: FloatArray,
    y: FloatArray,
    family_name: str,
    column_names: Sequence[str],
    weights: FloatArray | None = None,
) -> Separation | None:
    """The separation of the fixed effects of a binomial or Poisson (log link) model, or None.

    Args:
        X: the fixed-effects matrix, n x p, of full column rank on the rows with positive
            weight (otherwise ``direction`` may carry a component of X's null space).
        y: the response: the proportion of successes for binomial, the count for Poisson.
        family_name: "binomial" or "poisson".
        column_names: X's column names.
        weights: prior weights (for binomial, trials times weights); rows with weight 0 are
            ignored. None means all 1.
    """
    X, y, keep = _validated(X, y, family_name, column_names, weights)
    sign = _signs(y[keep], family_name)
    if not sign.any():  # exact pre-screen: no row at the boundary, so none can be pushed
        return None
    scale = _power_of_two_scale(X[keep])
    scaled = X[keep] / scale  # exact: powers of two
    d = _direction(scaled, sign)
    if d is None:
        return None
    pushed = sign * _push(scaled, d) > TOLERANCE
    rows = np.flatnonzero(keep)
    return Separation(
        family=family_name,
        columns=tuple(name for name, dj in zip(column_names, d, strict=True) if dj != 0),
        direction=tuple(float(v) for v in _unit(d / scale)),
        to_zero=tuple(int(i) for i in rows[pushed & (sign < 0)]),
        to_one=tuple(int(i) for i in rows[pushed & (sign > 0)]),
        n_rows=len(rows),
    )


def separation_message(sep: Separation) -> str:
    """The error text for a separated model: what is infinite, why, and what to do."""
    rest = sep.n_rows - sep.n_pushed
    stays = f" and stays fixed on the other {_rows(rest)}" if rest else ""
    return (
        f"{sep.kind} separation: along a direction in the fixed effects "
        f"{', '.join(sep.columns)}, {_pushed_text(sep)}{stays}, so the likelihood keeps "
        "increasing along it and the maximum-likelihood estimates of these fixed effects are "
        "infinite. lme4 does not check for this; it typically reports very large estimates "
        "and standard errors, often with convergence warnings. Drop or merge the factor "
        "levels or predictors involved."
    )


def _pushed_text(sep: Separation) -> str:
    """Which rows' fitted means go to the boundary, in words."""
    if sep.family == "poisson":
        return f"the fitted mean goes to 0 on {_rows(len(sep.to_zero))} with zero counts"
    parts = [f"to 0 on {_rows(len(sep.to_zero), 'all-failure')}"] if sep.to_zero else []
    parts += [f"to 1 on {_rows(len(sep.to_one), 'all-success')}"] if sep.to_one else []
    return "the fitted probability goes " + " and ".join(parts)


def _rows(n: int, adjective: str = "") -> str:
    """'1 row', '3 all-failure rows'."""
    return f"{n} {adjective + ' ' if adjective else ''}row{'' if n == 1 else 's'}"


def _validated(
    X: FloatArray,
    y: FloatArray,
    family_name: str,
    column_names: Sequence[str],
    weights: FloatArray | None,
) -> tuple[FloatArray, FloatArray, BoolArray]:
    """X and y as float arrays, and the rows with positive weight; ValueError on bad input."""
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    if X.ndim != 2 or y.shape != (X.shape[0],) or w.shape != y.shape:
        raise ArgumentError("X must be n x p, and y and weights of length n")
    if len(column_names) != X.shape[1]:
        raise ArgumentError(f"{len(column_names)} column names for {X.shape[1]} columns")
    if not (np.isfinite(X).all() and np.isfinite(y).all() and np.isfinite(w).all()):
        raise ArgumentError("X, y and weights must be finite")
    if (w < 0).any():
        raise ArgumentError("prior weights must be non-negative")
    if family_name not in ("binomial", "poisson"):
        raise ArgumentError(f"family must be 'binomial' or 'poisson', not {family_name!r}")
    if (y < 0).any() or (family_name == "binomial" and (y > 1).any()):
        raise ArgumentError("y must be a proportion in [0, 1] (binomial) or a count >= 0")
    return X, y, w > 0


def _signs(y: FloatArray, family_name: str) -> FloatArray:
    """s_i: -1 where the mean may go to 0, +1 where it may go to 1, 0 where Xd must be 0."""
    sign = np.where(y == 0, -1.0, 0.0)
    if family_name == "binomial":
        sign[y == 1] = 1.0
    return sign


def _power_of_two_scale(X: FloatArray) -> FloatArray:
    """Per column, the power of two that brings its largest |entry| into (1/2, 1]."""
    largest = np.abs(X).max(axis=0, initial=0.0)
    _, exponent = np.frexp(np.where(largest > 0, largest, 1.0))
    scale: FloatArray = np.ldexp(1.0, exponent)
    return scale


def _push(A: FloatArray, d: FloatArray) -> FloatArray:
    """A d, summed elementwise rather than by BLAS, so the same on every CPU kernel."""
    z: FloatArray = (A * d).sum(axis=1)
    return z


def _unit(d: FloatArray) -> FloatArray:
    """d scaled to largest |component| 1."""
    unit: FloatArray = d / np.abs(d).max()
    return unit


def _direction(X: FloatArray, sign: FloatArray) -> FloatArray | None:
    """A direction pushing every row that some direction can push (each LP solve adds the
    rows it pushes; the next maximises over the others), or None if no row can be pushed."""
    bounded = sign != 0
    signed, counts = _distinct_rows(sign[bounded, None] * X[bounded])
    equal, _ = _distinct_rows(X[~bounded])
    if _unseparated_on_a_sample(signed, equal):
        return None
    total, open_rows = np.zeros(X.shape[1]), counts.astype(np.float64)
    while open_rows.any():
        d = _solve(signed, open_rows, equal)
        if d is None:
            break
        pushed = _push(signed, d) > TOLERANCE
        if not (pushed & (open_rows > 0)).any():
            break
        total, open_rows = total + d, np.where(pushed, 0.0, open_rows)
    if not _valid(X, sign, total):
        return None
    return np.where(np.abs(total) > TOLERANCE, total, 0.0)  # drop simplex noise, if any


def _unseparated_on_a_sample(signed: FloatArray, equal: FloatArray) -> bool:
    """An exact shortcut for large data: the programme on SAMPLE_ROWS of the rows. Each row
    left out only removes a constraint, so the sample's cone {d : A_S d >= 0, E_S d = 0}
    holds the whole data's. If the sample's optimum is d = 0 exactly, every d of that cone
    has A_S d = 0 and E_S d = 0, so d = 0 when the sampled rows have full column rank: no
    direction pushes any row. Otherwise (a direction, or a rank-deficient sample) the whole
    programme decides. HiGHS took 328 s on the 200,000 distinct rows of a binary model with
    one covariate; the sample takes milliseconds."""
    if len(signed) + len(equal) <= SAMPLE_ROWS:
        return False
    rng = np.random.default_rng(0)
    share = SAMPLE_ROWS / (len(signed) + len(equal))
    picked = [rows[rng.random(len(rows)) < share] for rows in (signed, equal)]
    if np.linalg.matrix_rank(np.vstack(picked)) < signed.shape[1]:
        return False
    d = _solve(picked[0], np.ones(len(picked[0])), picked[1])
    return d is not None and not d.any()


def _distinct_rows(A: FloatArray) -> tuple[FloatArray, IntArray]:
    """The distinct rows of A (exact comparison) and how often each occurs."""
    if len(A) == 0:
        return A, np.zeros(0, dtype=np.intp)
    A = A[np.lexsort(A.T[::-1])]
    starts = np.flatnonzero(np.concatenate([[True], (A[1:] != A[:-1]).any(axis=1)]))
    counts: IntArray = np.diff(np.append(starts, len(A)))
    return A[starts], counts


def _solve(signed: FloatArray, weight: FloatArray, equal: FloatArray) -> FloatArray | None:
    """argmax Σ weight_i a_i d subject to A d >= 0, E d = 0, -1 <= d_j <= 1 (HiGHS), or None
    if HiGHS fails (it should not: d = 0 is feasible and the box bounds the objective)."""
    result = linprog(
        -(weight[:, None] * signed).sum(axis=0),  # not BLAS, as in _push
        A_ub=-signed,
        b_ub=np.zeros(len(signed)),
        A_eq=equal if len(equal) else None,
        b_eq=np.zeros(len(equal)) if len(equal) else None,
        bounds=(-1.0, 1.0),
        method="highs",
        options={"primal_feasibility_tolerance": HIGHS_FEASIBILITY},
    )
    if result.status != 0 or result.x is None:
        return None
    d: FloatArray = np.asarray(result.x, dtype=np.float64)
    return d


def _valid(X: FloatArray, sign: FloatArray, d: FloatArray) -> bool:
    """Whether d pushes some row past TOLERANCE and meets every constraint to within it."""
    z, bounded = _push(X, d), sign != 0
    signed = sign[bounded] * z[bounded]
    return bool(
        (signed > TOLERANCE).any()
        and (signed >= -TOLERANCE).all()
        and (np.abs(z[~bounded]) <= TOLERANCE).all()
    )
