"""Minimise the deviance over θ within its bounds, as lme4's ``optimizeLmer`` does:
BOBYQA, then a look at the boundary (restart if a bounded parameter wants to move
inward; snap near-zero parameters to the bound when that is no worse)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.linalg.lapack import dposv

from ._util.threads import single_blas_thread
from .errors import ArgumentError, FitError

if TYPE_CHECKING:
    from scipy.optimize import OptimizeResult

__all__ = ["OptimizerRecord", "optimize_deviance"]

BOUNDARY_TOL = 1e-5  # lme4's lmerControl(boundary.tol)
EDGE_STEP = 1e-5  # lme4's restart_edge finite-difference step
RESTART_FRACTION = 0.1  # restart_edge restarts this far back toward the start
GRADIENT_UNIT = 0.5  # L-BFGS-B works on θ / GRADIENT_UNIT
XTOL_ABS = 1e-8  # lme4's nloptwrap defaults
FTOL_ABS = 1e-8
MAX_EVALUATIONS = 100_000
NEWTON_STEPS = 25  # Newton's method hands over to BOBYQA after this many steps
NEWTON_DECREMENT = 1e-10
"""Newton stops where its model promises less than this decrease (-g'd/2, g the gradient and
d the step): a hundredth of BOBYQA's tolerance on the objective."""
NEWTON_LAST = 1e-6
"""A step that promises less than this is the last: taken, not checked by a further Hessian
(the decrease left after it is of the order of the square of what it promised)."""
ARMIJO = 1e-4  # a step must achieve this fraction of the decrease its slope promises
DAMPING_TRIES = 12  # damping factors tried for one Newton step

Derivatives = tuple[float, NDArray[np.float64], NDArray[np.float64]]


@dataclass(frozen=True)
class OptimizerRecord:
    """What the optimizer did (MixedModels.jl's ``OptSummary``, lme4's ``optinfo``).

    Attributes:
        initial: starting θ; ``f_initial`` the objective there.
        final: θ at the optimum; ``f_final`` the objective there.
        lower, upper: bounds of θ.
        evaluations: objective evaluations, all stages together.
        optimizer: the algorithm used.
        converged: whether the optimizer reported success.
        messages: what happened along the way (restarts, boundary snaps, failures).
    """

    initial: NDArray[np.float64]
    f_initial: float
    final: NDArray[np.float64]
    f_final: float
    lower: NDArray[np.float64]
    upper: NDArray[np.float64]
    evaluations: int
    optimizer: str
    converged: bool
    messages: tuple[str, ...] = field(default=())


class _Rescaled:
    """The deviance function in θ / scale (its gradient too, where it has one)."""

    def __init__(self, fn: Callable[[NDArray[np.float64]], float], scale: NDArray[np.float64]):
        self.fn, self.scale = fn, scale
        self.has_gradient = bool(getattr(fn, "has_gradient", False))
        self.prefers_gradient = bool(getattr(fn, "prefers_gradient", True))

    def __call__(self, theta: NDArray[np.float64]) -> float:
        return float(self.fn(theta * self.scale))

    def value_and_gradient(self, theta: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        value, grad = self.fn.value_and_gradient(theta * self.scale)  # type: ignore[attr-defined]
        return float(value), np.asarray(grad, dtype=np.float64) * self.scale

    @property
    def has_hessian(self) -> bool:
        return bool(getattr(self.fn, "has_hessian", False))

    def value_gradient_hessian(self, theta: NDArray[np.float64]) -> Derivatives:
        value, grad, hess = self.fn.value_gradient_hessian(theta * self.scale)  # type: ignore[attr-defined]
        return float(value), grad * self.scale, hess * np.outer(self.scale, self.scale)


class _Counted:
    """The objective (and its gradient, where the deviance function has one), counting
    evaluations and remembering the best point seen."""

    def __init__(self, fn: Callable[[NDArray[np.float64]], float]) -> None:
        self.fn, self.count = fn, 0
        self.gradient: Callable[..., tuple[float, NDArray[np.float64]]] | None = (
            getattr(fn, "value_and_gradient", None) if getattr(fn, "has_gradient", False) else None
        )
        self.best_x: NDArray[np.float64] | None = None
        self.best_f = np.inf
        self._last: tuple[NDArray[np.float64], float, NDArray[np.float64] | None] | None = None

    def __call__(self, theta: NDArray[np.float64]) -> float:
        if self._last is not None and _same(theta, self._last[0]):
            return self._last[1]  # optimizers evaluate their start again: no new evaluation
        self.count += 1
        return self._seen(theta, float(self.fn(theta)), None)

    def value_and_gradient(self, theta: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        assert self.gradient is not None
        last = self._last
        if last is not None and last[2] is not None and _same(theta, last[0]):
            return last[1], last[2]
        self.count += 1
        value, grad = self.gradient(theta)
        grad = grad if np.isfinite(value) else np.zeros_like(theta)
        return self._seen(theta, float(value), grad), grad

    def value_gradient_hessian(self, theta: NDArray[np.float64]) -> Derivatives:
        """The objective with its gradient and Hessian (LinAlgError where it is undefined)."""
        self.count += 1
        value, grad, hess = self.fn.value_gradient_hessian(theta)  # type: ignore[attr-defined]
        self._seen(theta, float(value), grad)
        return float(value), grad, hess

    def _seen(
        self, theta: NDArray[np.float64], value: float, grad: NDArray[np.float64] | None
    ) -> float:
        value = value if math.isfinite(value) else math.inf
        x = np.array(theta, dtype=np.float64)
        self._last = (x, value, grad)
        if value < self.best_f:
            self.best_x, self.best_f = x, value
        return value


@single_blas_thread
def optimize_deviance(
    devfun: Callable[[NDArray[np.float64]], float],
    *,
    lower: ArrayLike,
    start: ArrayLike,
    upper: ArrayLike | None = None,
    optimizer: str = "auto",
    initial_step: ArrayLike | None = None,
    xtol: float = XTOL_ABS,
    ftol: float = FTOL_ABS,
    scale: ArrayLike | None = None,
) -> OptimizerRecord:
    """Minimise ``devfun`` subject to ``lower <= theta <= upper`` (lme4: ``optimizeLmer``).

    ``optimizer`` is ``"bobyqa"`` (NLopt's BOBYQA, lme4's default ``nloptwrap``),
    ``"newton"`` (Newton's method with the exact Hessian, where ``devfun.has_hessian``:
    small models started near their optimum, as refits are; BOBYQA takes over where Newton
    cannot proceed), ``"lbfgsb"`` (scipy's L-BFGS-B, with the exact gradient where
    ``devfun`` has one (``devfun.has_gradient``, every term scalar) and finite differences
    otherwise) or
    ``"auto"`` (the default: ``"lbfgsb"`` where there is an exact gradient and it pays,
    ``devfun.prefers_gradient``: crossed terms whose costly evaluations it cuts to a
    fraction; else ``"bobyqa"``). ``initial_step`` sets
    BOBYQA's first step in each coordinate (NLopt's default otherwise); ``xtol`` and
    ``ftol`` its absolute tolerances on the parameters and on the objective.

    ``scale`` (by default ``devfun.theta_scale`` where it has one) runs the optimizer on
    θ / scale and reports θ: a random slope on a predictor of scale 1e-6 has a θ of
    scale 1e6, which neither optimizer reaches from lme4's start at their tolerances.
    """
    chosen = getattr(devfun, "theta_scale", None) if scale is None else scale
    c = None if chosen is None else np.asarray(chosen, dtype=np.float64)
    if c is not None and not np.all(c == 1.0):
        record = optimize_deviance(
            _Rescaled(devfun, c), lower=np.asarray(lower) / c, start=np.asarray(start) / c,
            upper=None if upper is None else np.asarray(upper) / c, optimizer=optimizer,
            initial_step=None if initial_step is None else np.asarray(initial_step) / c,
            xtol=xtol, ftol=ftol, scale=np.ones_like(c),
        )  # fmt: skip
        return dataclasses.replace(
            record, initial=record.initial * c, final=record.final * c,
            lower=record.lower * c, upper=record.upper * c,
        )  # fmt: skip
    lo = np.asarray(lower, dtype=np.float64)
    hi = np.full_like(lo, np.inf) if upper is None else np.asarray(upper, dtype=np.float64)
    x0 = np.clip(np.asarray(start, dtype=np.float64), lo, hi)
    f = _Counted(devfun)
    if optimizer == "auto":
        wanted = f.gradient is not None and getattr(devfun, "prefers_gradient", True)
        optimizer = "lbfgsb" if wanted else "bobyqa"
    f0 = f.value_and_gradient(x0)[0] if f.gradient and optimizer == "lbfgsb" else f(x0)
    if not np.isfinite(f0):
        raise FitError(
            f"the deviance cannot be evaluated at the starting values (theta = "
            f"{np.array2string(x0, threshold=8, precision=4)}): "
            "the model may not be estimable from these data"
        )
    run = _RUNNERS.get(optimizer)
    if run is None:
        choices = ", ".join(["auto", *_RUNNERS])
        raise ArgumentError(f"unknown optimizer {optimizer!r}; choose from {choices}")
    messages: list[str] = []
    step = None if initial_step is None else np.asarray(initial_step, dtype=np.float64)
    settings = _Settings(step, xtol, ftol)
    run = partial(run, settings=settings)
    x, fx, ok = run(f, x0, lo, hi)
    x, fx, restarted = _restart_edge(f, run, x, fx, x0, lo, hi)
    if restarted:
        messages.append("restarted from the boundary: a bounded parameter moved inward")
    x, fx, snapped = _snap_to_boundary(f, x, fx, lo, hi)
    if snapped:
        messages.append(f"snapped {snapped} parameter(s) within {BOUNDARY_TOL} to the boundary")
    if not ok:
        messages.append(f"{optimizer} did not report convergence")
    return OptimizerRecord(x0, f0, x, fx, lo, hi, f.count, optimizer, ok, tuple(messages))


Bounds = NDArray[np.float64]
Result = tuple[NDArray[np.float64], float, bool]
Runner = Callable[..., Result]


@dataclass(frozen=True)
class _Settings:
    initial_step: NDArray[np.float64] | None
    xtol: float
    ftol: float


def _bobyqa(
    f: _Counted, x0: NDArray[np.float64], lo: Bounds, hi: Bounds, settings: _Settings
) -> tuple[NDArray[np.float64], float, bool]:
    import nlopt

    opt = nlopt.opt(nlopt.LN_BOBYQA, len(x0))
    opt.set_lower_bounds(lo)
    opt.set_upper_bounds(hi)
    opt.set_min_objective(lambda theta, grad: f(theta))
    if settings.initial_step is not None:
        opt.set_initial_step(settings.initial_step)
    opt.set_xtol_abs(settings.xtol)
    opt.set_ftol_abs(settings.ftol)
    opt.set_maxeval(MAX_EVALUATIONS)
    try:
        x = opt.optimize(x0)
    except nlopt.RoundoffLimited:  # no progress possible at machine precision: keep the best
        assert f.best_x is not None
        return f.best_x, f.best_f, True
    return np.asarray(x), float(opt.last_optimum_value()), opt.last_optimize_result() > 0


def _lbfgsb(
    f: _Counted, x0: NDArray[np.float64], lo: Bounds, hi: Bounds, settings: _Settings
) -> tuple[NDArray[np.float64], float, bool]:
    from scipy.optimize import minimize

    unit = 1.0 if f.gradient is None else GRADIENT_UNIT
    bounds = [
        (a / unit if np.isfinite(a) else None, b / unit if np.isfinite(b) else None)
        for a, b in zip(lo, hi, strict=True)
    ]
    if f.gradient is None:
        res = minimize(
            f, x0, method="L-BFGS-B", bounds=bounds, options={"ftol": 1e-12, "gtol": 1e-8}
        )
        return np.asarray(res.x), float(res.fun), bool(res.success)

    # With the exact gradient, on θ / GRADIENT_UNIT (L-BFGS-B's first step has length one,
    # in θ's own units enough to take a typical θ to its bound): stop at a relative
    # decrease below ftol or a projected gradient below gtol; at most maxls steps per line
    # search (the objective is flat to rounding before the gradient is).
    def scaled(x: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        value, grad = f.value_and_gradient(x * unit)
        return value, grad * unit

    res = minimize(
        scaled, x0 / unit, jac=True, method="L-BFGS-B", bounds=bounds,
        options={"ftol": 1e-11, "gtol": 1e-6, "maxls": 10},
    )  # fmt: skip
    return np.asarray(res.x) * unit, float(res.fun), bool(res.success) or _roundoff_limited(res)


def _newton(
    f: _Counted, x0: NDArray[np.float64], lo: Bounds, hi: Bounds, settings: _Settings
) -> tuple[NDArray[np.float64], float, bool]:
    """Newton's method with the exact Hessian, damped as Levenberg and Marquardt damp it: a
    parameter on a bound whose gradient pushes outward stays there; the others take the step
    -(H + μI)⁻¹g with the smallest μ of 0, μ₀, 10μ₀, ... for which H + μI is positive
    definite, the step stays inside the bounds and the objective falls by ARMIJO of what the
    step's slope promises (a larger μ shortens the step and turns it toward -g). It stops
    where the undamped step promises less than NEWTON_DECREMENT, or after taking one that
    promises less than NEWTON_LAST. Steps never land on a bound, so an optimum on a boundary
    (a singular fit) is BOBYQA's to find: it continues from the best point wherever Newton
    cannot proceed."""
    if not getattr(f.fn, "has_hessian", False):
        raise ArgumentError("optimizer='newton' needs a deviance function with a Hessian")
    x, mu = x0.copy(), 0.0
    try:
        point = f.value_gradient_hessian(x)
        for _ in range(NEWTON_STEPS):
            fx, g, H = point
            held = ((x <= lo) & (g > 0)) | ((x >= hi) & (g < 0))
            free = np.flatnonzero(~held)
            newton = _damped_step(g, H, free, 0.0)
            promised = np.inf if newton is None else -float(g @ newton) / 2
            if promised <= NEWTON_DECREMENT:
                return x, fx, True
            if promised <= NEWTON_LAST and newton is not None and _inside(x, newton, lo, hi):
                last = x + newton  # its error is of the order of promised² (Newton's rate)
                value = f(last)
                if value <= fx + ARMIJO * float(g @ newton):
                    return last, value, True
            found = _damped_search(f, x, point, free, mu, newton, lo, hi)
            if found is None:
                break
            x, mu, point = found
    except np.linalg.LinAlgError:
        pass
    assert f.best_x is not None
    return _bobyqa(f, f.best_x, lo, hi, settings)


def _damped_search(
    f: _Counted,
    x: NDArray[np.float64],
    point: Derivatives,
    free: NDArray[np.intp],
    mu: float,
    step: NDArray[np.float64] | None,
    lo: Bounds,
    hi: Bounds,
) -> tuple[NDArray[np.float64], float, Derivatives] | None:
    """The next point, the damping that reached it and the derivatives there (see
    `_newton`), or None. ``step`` is the undamped step, used where μ = 0. The first trial is
    evaluated with its derivatives (the next iteration needs them), the others without."""
    fx, g, H = point
    floor = 1e-3 * max(float(np.max(np.abs(np.diag(H))[free], initial=0.0)), 1e-12)
    for attempt in range(DAMPING_TRIES):
        if mu > 0.0 or step is None:
            step = _damped_step(g, H, free, mu)
        if step is not None and _inside(x, step, lo, hi):
            trial = x + step
            if attempt == 0:
                try:
                    at = f.value_gradient_hessian(trial)
                except np.linalg.LinAlgError:  # not positive definite there: damp more
                    at = (np.inf, g, H)
                if at[0] <= fx + ARMIJO * float(g @ step):
                    return trial, 0.0 if mu <= floor else mu / 10, at
            elif f(trial) <= fx + ARMIJO * float(g @ step):
                return trial, 0.0 if mu <= floor else mu / 10, f.value_gradient_hessian(trial)
        mu = floor if mu == 0.0 else 10.0 * mu
        step = None
    return None


def _damped_step(
    g: NDArray[np.float64], H: NDArray[np.float64], free: NDArray[np.intp], mu: float
) -> NDArray[np.float64] | None:
    """-(H + μI)⁻¹g on the free parameters (0 on the others); None where H + μI is not
    positive definite there."""
    step = np.zeros_like(g)
    if free.size:
        system = H[np.ix_(free, free)] + mu * np.eye(free.size)
        _, solution, info = dposv(system, -g[free], lower=1)
        if info != 0:
            return None
        step[free] = solution
    return step


def _inside(x: NDArray[np.float64], step: NDArray[np.float64], lo: Bounds, hi: Bounds) -> bool:
    """Whether x + step stays off the bounds wherever it moves."""
    moved, trial = step != 0, x + step
    return bool(np.all((trial > lo) & (trial < hi) | ~moved))


def _same(a: NDArray[np.float64], b: NDArray[np.float64]) -> bool:
    """Whether two points are equal (np.array_equal's checks cost a tenth of a small model's
    evaluation)."""
    return a.shape == b.shape and bool((a == b).all())


def _roundoff_limited(res: OptimizeResult) -> bool:
    """A line search that failed where the quasi-Newton model predicts less than
    FTOL_ABS of further decrease: the objective is flat to rounding there (the analogue
    of BOBYQA's roundoff-limited stop)."""
    if res.status != 2 or res.nit == 0:
        return False
    g = np.asarray(res.jac, dtype=np.float64)
    return bool(g @ res.hess_inv.matvec(g) <= 2.0 * FTOL_ABS)


_RUNNERS: dict[str, Runner] = {"bobyqa": _bobyqa, "lbfgsb": _lbfgsb, "newton": _newton}


def _restart_edge(
    f: _Counted,
    run: Runner,
    x: NDArray[np.float64],
    fx: float,
    x0: NDArray[np.float64],
    lo: Bounds,
    hi: Bounds,
) -> tuple[NDArray[np.float64], float, bool]:
    """lme4's ``restart_edge``: if the deviance falls when a parameter on a bound steps
    inward, optimise again, from a tenth of the way back to its start.  (Not from the
    bound: a scalar term's criterion is even in θₖ, its gradient 0 at θₖ = 0 and tiny
    near it, where a gradient method would stop at once.)"""
    on_bound = [(i, EDGE_STEP) for i in np.flatnonzero(x == lo)]
    on_bound += [(i, -EDGE_STEP) for i in np.flatnonzero(x == hi)]
    for i, step in on_bound:
        trial = x.copy()
        trial[i] += step
        if f(trial) < fx:
            restart = x.copy()
            restart[i] += np.sign(step) * max(EDGE_STEP, RESTART_FRACTION * abs(x0[i] - x[i]))
            x2, f2, _ = run(f, restart, lo, hi)
            return (x2, f2, True) if f2 <= fx else (x, fx, False)
    return x, fx, False


SNAP_RTOL = 1e-12
"""Relative rise of the deviance at the bound still taken as no worse: rounding between
kernels moves it by ~1e-16 relative (dyestuff2: 2.8e-14 on 161.83)."""


def _snap_to_boundary(
    f: _Counted, x: NDArray[np.float64], fx: float, lo: Bounds, hi: Bounds
) -> tuple[NDArray[np.float64], float, int]:
    """lme4's ``check.boundary``: parameters within ``BOUNDARY_TOL`` of a bound go to the
    bound if the deviance is no worse there, up to rounding (``SNAP_RTOL``): whether a fit
    reports θ = 0 must not depend on the last bit of a BLAS kernel."""
    near_lo = np.isfinite(lo) & (x != lo) & (x - lo < BOUNDARY_TOL)
    near_hi = np.isfinite(hi) & (x != hi) & (hi - x < BOUNDARY_TOL)
    if not (near_lo.any() or near_hi.any()):
        return x, fx, 0
    snapped = np.where(near_lo, lo, np.where(near_hi, hi, x))
    fs = f(snapped)
    count = int(near_lo.sum() + near_hi.sum())
    return (snapped, fs, count) if fs <= fx + SNAP_RTOL * max(1.0, abs(fx)) else (x, fx, 0)
