"""``glmer``: generalized linear mixed models for binomial and Poisson responses (lme4's
``glmer``), in lme4's modular steps: ``glformula`` -> ``GlmmDeviance`` -> two optimizer
stages -> ``GlmerResult``.

Stage 1 optimises θ with β estimated inside PIRLS (lme4's nAGQ = 0); stage 2 optimises
(θ, β) together on the Laplace or quadrature deviance, with β measured in units of its
stage-1 standard error so that BOBYQA sees every parameter on one scale. Standard errors
of β come from a central-difference Hessian of the stage-2 deviance over (θ, β), as
lme4's default ``use.hessian = TRUE``.
"""

from __future__ import annotations

import dataclasses
from functools import partial

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.optimize
from numpy.typing import ArrayLike, NDArray

from .._util.threads import one_blas_thread
from ..data.sources import is_chunked
from ..design import Design, build_design, check_columns, checked
from ..design.checks import Checks, DataWarning
from ..design.grouping import level_labels
from ..design.matrices import ModelMatrix, evaluate, model_matrix
from ..errors import (
    ArgumentError,
    ConvergenceWarning,
    DataError,
    FormulaSemanticError,
    PirlsError,
    SeparationError,
    warn,
)
from ..fitted.base import fit_warnings
from ..formula import ModelSpec, parse_formula
from ..formula.ast import Call, Name
from ..optimize import OptimizerRecord, optimize_deviance
from .family import Family, get_family
from .laplace import LaplaceDeviance, RowModel
from .optimum import derivatives, newton_polish, try_edges
from .pirls import ETA_TOL, MAX_NAGQ, GlmmDeviance, PirlsFit, PirlsObjectives
from .result import GlmerResult
from .separation import separation, separation_message
from .streamed import streamed_glmm

__all__ = ["fit_glmm", "fit_laplace", "glformula", "glm_start", "glmer"]

FloatArray = NDArray[np.float64]
DERIVATIVE_ETA_TOL = 1e-12
"""PIRLS's tolerance on η while differencing the deviance: at its default (1e-9) the
deviance's value depends on the warm start by ~1e-8, which put grouseticks'
``TICKS ~ YEAR + (1 | BROOD)`` standard errors 2.7% from lme4's and glmmTMB's."""
GRADIENT_TOL = 0.002  # lme4's glmerControl(check.conv.grad = .makeCC(tol = 0.002))
DISPERSION_STEP = 0.5  # BOBYQA's first step in log φ and the zero-inflation coefficients
ZI_START = -2.0  # logit of a 12% chance of a structural zero
ETA_SPREAD_MIN, ETA_SPREAD_MAX = 0.1, 1e6  # bounds on θ's unit in the search
GLM_ROUNDS = 3  # alternations of β and φ in the GLM start
GLM_STEPS = 50
MAX_HALVINGS_GLM = 30
LOG_PHI_BOUND = 30.0
SE_STEP_CAP = 10.0  # lme4 caps the stage-2 scale of β at 10 as well
THETA_STEP = 0.1  # BOBYQA's first step in θ (β's is one standard error); NLopt's default,
#   about |θ|, took 3x the evaluations on VerbAgg
STAGE2_XTOL = 1e-6  # on θ and on β in standard errors
STAGE2_FTOL = 1e-7  # on -2 logLik (lme4's Nelder-Mead stops at 1e-5): against 1e-8, β moves
#   by < 0.1% of its SE and -2 logLik by < 3e-6 on cbpp, grouseticks and VerbAgg, for 7-13%
#   fewer evaluations; at 1e-6 lme4's gradient check (0.002) fails on both


def glmer(
    formula: str | ModelSpec,
    data: pd.DataFrame,
    family: str | Family = "binomial",
    *,
    nagq: int = 1,
    weights: ArrayLike | str | None = None,
    use_hessian: bool = True,
    checks: Checks | None = None,
    zi: str | None = None,
    disp: str | None = None,
    batch_size: int | None = None,
    progress: bool | None = None,
) -> GlmerResult:
    """Fit a generalized linear mixed model by maximum likelihood (lme4: ``glmer``; glmmTMB:
    ``glmmTMB`` for the families with a dispersion parameter, ``ziformula``, ``dispformula``).

    Args:
        formula: an lme4 formula. A binomial response is 0/1 (numbers, booleans, or a
            two-level factor whose first level is failure), ``cbind(successes, failures)``,
            or a proportion with ``weights=`` the number of trials. ``offset(log(t))``
            terms enter the linear predictor as they are.
        data: a DataFrame with every variable the formula names; or, for binomial and
            Poisson models with nagq 0 or 1, data read in chunks (a Parquet file,
            directory, glob or list of files, or a Dask DataFrame): each PIRLS iteration
            is then one pass over them, and no more than a chunk is held in memory.
        family: ``"binomial"``, ``"poisson"`` (fitted as lme4 does), ``"gaussian"``,
            ``"gamma"``, ``"inverse_gaussian"``, ``"nbinom1"``, ``"nbinom2"``, ``"beta"``,
            ``"betabinomial"`` (fitted as glmmTMB does: its Laplace approximation with the
            observed Hessian), or ``lmerpy.gamma("log")``, ``lmerpy.binomial("probit")`` etc.
        nagq: 1 for the Laplace approximation (lme4's default), 0 for lme4's fast
            approximation (β estimated inside PIRLS, no stage 2), 2..25 for adaptive
            Gauss-Hermite quadrature (one scalar random-effect term only).
        weights: prior weights (trials for a proportion response): an array or a column.
        use_hessian: standard errors from the Hessian of the deviance over (θ, β)
            (lme4's default); False for the cheaper ones of the final PIRLS step.
        checks: severities of the data checks (lme4: ``glmerControl(check.*)``).
        zi: a one-sided formula for the probability of a structural zero, on the logit
            scale (glmmTMB's ``ziformula``): ``"~ 1"``, ``"~ mined"``; Poisson and negative
            binomial models. ``fixef_zi`` holds its coefficients.
        disp: a one-sided formula for log φ (glmmTMB's ``dispformula``; φ is the family's
            dispersion, see ``lmerpy.glmm.distributions``), e.g. ``"~ Days"``: a gaussian
            model with it is a heteroscedastic linear mixed model, fitted by ML.
            ``fixef_disp`` holds its coefficients.
        batch_size: rows per chunk read from Parquet (default one million).
        progress: progress bars for the first passes over chunked data.

    Example:
        >>> import lmerpy
        >>> fit = lmerpy.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                    lmerpy.datasets.load("cbpp"), family="binomial")
        >>> round(fit.loglik, 2), round(float(fit.theta.iloc[0]), 3)
        (-92.03, 0.642)
    """
    fam = get_family(family)
    if not (isinstance(nagq, int) and 0 <= nagq <= MAX_NAGQ):
        raise ArgumentError(f"nagq must be an integer from 0 to {MAX_NAGQ}, not {nagq!r}")
    if is_chunked(data):
        _check_chunked(fam, nagq, zi, disp)
        with one_blas_thread():
            streamed = streamed_glmm(
                formula, data, fam, weights=weights, checks=checks, batch_size=batch_size,
                progress=progress,
            )  # fmt: skip
            return fit_glmm(streamed, fast=nagq == 0, use_hessian=use_hessian)
    with one_blas_thread():
        design, trials = glformula(formula, data, fam, weights=weights, checks=checks)
        if fam.distribution is not None or zi is not None or disp is not None:
            _check_laplace_only(fam, nagq)
            extra = _extra_models(design, fam, zi, disp)
            return fit_laplace(LaplaceDeviance(design, fam, trials, zi=extra[0], disp=extra[1]))
        _check_quadrature(design, nagq)
        devfun = GlmmDeviance(design, fam, trials, nagq=max(nagq, 1))
        return fit_glmm(devfun, fast=nagq == 0, use_hessian=use_hessian)


def glformula(
    formula: str | ModelSpec,
    data: pd.DataFrame,
    family: str | Family = "binomial",
    *,
    weights: ArrayLike | str | None = None,
    checks: Checks | None = None,
    random: bool = True,
) -> tuple[Design, FloatArray]:
    """The design of a generalized model and the binomial trials per row (lme4:
    ``glFormula``). For ``cbind(s, f)`` the response becomes s / (s + f) and the prior
    weights are multiplied by the trials s + f, as R's binomial family does. ``random=False``:
    a model without random terms (``lmerpy.glm``)."""
    fam = get_family(family)
    response = _Response(fam)
    design = build_design(
        formula, data, weights=weights, checks=checks, response=response, generalized=True,
        random=random,
    )  # fmt: skip
    trials = response.trials if response.trials is not None else np.ones(design.nobs)
    _check_separation(design, fam)
    return design, trials


_SEPARABLE = {"binomial": "binomial", "betabinomial": "binomial", "poisson": "poisson",
              "nbinom1": "poisson", "nbinom2": "poisson"}  # fmt: skip
"""Families whose likelihood rises without bound along a separating direction, and the
conditions (``separation``) that tell."""


def _check_separation(design: Design, family: Family) -> None:
    """Refuse responses the fixed effects separate: their ML estimates are infinite, and what
    an optimizer reports for them depends on where it stops (see ``separation``)."""
    kind = _SEPARABLE.get(family.name)
    if kind is None or (kind == "poisson" and family.link.name != "log"):
        return
    found = separation(design.X, design.y, kind, design.x_columns, design.weights)
    if found is not None:
        raise SeparationError(separation_message(found))


def fit_glmm(
    devfun: PirlsObjectives, *, fast: bool = False, use_hessian: bool = True
) -> GlmerResult:
    """Optimise a GLMM deviance and assemble the result (lme4: ``optimizeGlmer``, then
    ``mkMerMod``).

    ``fast`` (lme4's nAGQ = 0) optimises θ alone, β estimated inside PIRLS. Otherwise one
    stage over (θ, β) from θ's default start and the β of PIRLS there, with β measured in
    units of its standard error (lme4 with ``nAGQ0initStep = FALSE``; MixedModels.jl's
    default): starting from lme4's stage 1 instead was measured to cost 10-20% more
    evaluations for the same optimum on cbpp, grouseticks and VerbAgg."""
    layout, p, k = devfun.layout, devfun.p, len(devfun.layout.lower)
    nagq = 0 if fast else devfun.nagq
    start = _start(devfun)
    if fast:
        stage = optimize_deviance(
            devfun.profiled, lower=layout.lower, upper=layout.upper, start=layout.start
        )
        beta = devfun.pirls(stage.final, None).beta
        record = _with_beta(stage, np.full(p, np.nan), beta)
        return _result(devfun, record, nagq, None, None)
    scale = np.concatenate([np.ones(k), np.minimum(_rx_standard_errors(start.RX), SE_STEP_CAP)])
    origin = np.concatenate([np.zeros(k), start.beta])

    def scaled(x: FloatArray) -> float:
        return devfun.laplace(origin + scale * x)

    stage = optimize_deviance(
        scaled,
        lower=np.concatenate([layout.lower, np.full(p, -np.inf)]),
        upper=np.concatenate([layout.upper, np.full(p, np.inf)]),
        start=np.concatenate([layout.start, np.zeros(p)]),
        initial_step=np.concatenate([np.full(k, THETA_STEP), np.ones(p)]),
        xtol=STAGE2_XTOL,
        ftol=STAGE2_FTOL,
    )
    stage = try_edges(scaled, stage, k, STAGE2_XTOL, STAGE2_FTOL)
    record = dataclasses.replace(
        stage, initial=origin + scale * stage.initial, final=origin + scale * stage.final
    )
    if not use_hessian:
        return _result(devfun, record, nagq, None, None)
    # in the scaled coordinates, where every parameter is of order one; PIRLS converged
    # tighter there, as second differences divide its endpoint's noise by step²
    devfun.eta_tol = DERIVATIVE_ETA_TOL
    try:
        gradient, H = derivatives(scaled, stage.final)
    finally:
        devfun.eta_tol = ETA_TOL
    return _result(devfun, record, nagq, gradient / scale, H / np.outer(scale, scale))


def fit_laplace(devfun: LaplaceDeviance) -> GlmerResult:
    """Maximise glmmTMB's Laplace likelihood over (θ, β, log φ) and assemble the result
    (glmmTMB: ``glmmTMB(..., family = ...)``). One BOBYQA search from a GLM fit (β in units
    of their GLM standard errors, φ by maximum likelihood given β); standard errors from the
    inverse Hessian over every parameter, as glmmTMB's ``sdreport``."""
    layout, p, k = devfun.layout, devfun.p, len(devfun.layout.lower)
    p_zi, p_disp = devfun.p_zi, devfun.p_disp
    beta0, se0, log_phi0 = glm_start(devfun)
    zi0 = _intercept_start(devfun.zi_columns, ZI_START)
    disp0 = _intercept_start(devfun.disp_columns, log_phi0)
    origin = np.concatenate([np.zeros(k), beta0, zi0, disp0])
    scale = np.concatenate(
        [
            np.full(k, _eta_spread(devfun, beta0)),
            np.minimum(se0, SE_STEP_CAP),
            np.ones(p_zi + p_disp),
        ]
    )
    extra = p_zi + p_disp

    def scaled(x: FloatArray) -> float:
        return devfun(origin + scale * x)

    free = np.full(p + extra, np.inf)
    stage = optimize_deviance(
        scaled,
        lower=np.concatenate([layout.lower, -free]),
        upper=np.concatenate([layout.upper, free]),
        start=np.concatenate([layout.start, np.zeros(p + extra)]),
        initial_step=np.concatenate(
            [np.full(k, THETA_STEP), np.ones(p), np.full(extra, DISPERSION_STEP)]
        ),
        xtol=STAGE2_XTOL,
        ftol=STAGE2_FTOL,
    )
    final, value, gradient, H = newton_polish(scaled, stage.final, stage.f_final, stage)
    record = dataclasses.replace(
        stage,
        initial=origin + scale * stage.initial,
        final=origin + scale * final,
        f_final=value,
    )
    return _laplace_result(devfun, record, gradient / scale, H / np.outer(scale, scale))


def glm_start(devfun: LaplaceDeviance) -> tuple[FloatArray, FloatArray, float]:
    """β, their standard errors and log φ of the model without random effects (u = 0),
    by Newton's method in β alternating with φ's maximum likelihood given β."""
    X, offset = devfun.design.X, devfun.offset
    eta = np.asarray(devfun.family.link.linkfun(_safe_means(devfun)), dtype=np.float64)
    target = np.where(np.isfinite(eta), eta, 0.0) - offset
    beta = np.asarray(np.linalg.lstsq(X, target, rcond=None)[0], dtype=np.float64)
    dispersion = devfun.distribution.dispersion
    log_phi = 0.0
    for _ in range(GLM_ROUNDS):
        log_phi = _dispersion_ml(devfun, X @ beta + offset) if dispersion else 0.0
        beta, info = _glm_newton(devfun, beta, float(np.exp(log_phi)))
    log_phi = _dispersion_ml(devfun, X @ beta + offset) if dispersion else 0.0
    se = np.sqrt(np.diag(np.linalg.pinv(info)))
    return beta, np.asarray(np.where(se > 0, se, 1.0), dtype=np.float64), log_phi


def _eta_spread(devfun: LaplaceDeviance, beta: FloatArray) -> float:
    """The unit of θ in the search: the spread of the data about the GLM fit on the link
    scale (θ = 1 is then a random effect of that size). θ is not relative to a residual SD
    here, so with an identity link it is in the response's units (sleepstudy: 31)."""
    eta = np.asarray(devfun.family.link.linkfun(_safe_means(devfun)), dtype=np.float64)
    resid = eta - devfun.design.X @ beta - devfun.offset
    spread = float(np.std(resid[np.isfinite(resid)])) if np.isfinite(resid).any() else 1.0
    return float(np.clip(spread, ETA_SPREAD_MIN, ETA_SPREAD_MAX)) if spread > 0 else 1.0


def _intercept_start(columns: list[str], value: float) -> FloatArray:
    """Start of a zero-inflation or dispersion model: ``value`` for its intercept, 0 else."""
    return np.array([value if c == "(Intercept)" else 0.0 for c in columns], dtype=np.float64)


_ZERO_FAMILIES = ("poisson", "nbinom1", "nbinom2")


def _extra_models(
    design: Design, family: Family, zi: str | None, disp: str | None
) -> tuple[ModelMatrix | None, ModelMatrix | None]:
    """The zero-inflation and dispersion models' matrices on the design's rows."""
    if zi is not None and family.name not in _ZERO_FAMILIES:
        raise ArgumentError(
            f"zi= models structural zeros of counts: the {family.name} family has no zeros "
            f"to inflate (use {', '.join(_ZERO_FAMILIES)})"
        )
    if disp is not None and family.distribution is None:
        raise ArgumentError(
            f"disp= models the dispersion: the {family.name} family has none "
            "(use nbinom1 or nbinom2 for overdispersed counts, betabinomial for proportions)"
        )
    return _one_sided(zi, design, "zi"), _one_sided(disp, design, "disp")


def _one_sided(text: str | None, design: Design, what: str) -> ModelMatrix | None:
    """A one-sided formula's fixed-effects matrix on the rows the design kept."""
    if text is None:
        return None
    spec = parse_formula(text)
    if spec.response is not None or spec.random:
        raise FormulaSemanticError(
            f"{what}= takes a one-sided formula of fixed effects, such as '~ x'",
            spec.formula, 0, len(spec.formula),
        )  # fmt: skip
    frame = design.data.loc[design.rows]
    check_columns(spec, frame)
    if frame[list(spec.variables)].isna().any().any():
        raise DataError(
            f"the {what}= formula's variables have missing values in rows the model uses: "
            "drop those rows first"
        )
    return checked(lambda: model_matrix(spec.fixed, frame), spec, f"the {what}= model")


def _safe_means(devfun: LaplaceDeviance) -> FloatArray:
    """Starting means inside the link's range (R's ``family$initialize``)."""
    y, n, support = devfun.y, devfun.trials, devfun.distribution.support
    if support == "count":
        return y + 0.1
    if support in ("proportion", "unit"):
        return (n * y + 0.5) / (n + 1)
    if devfun.family.link.name != "identity":
        return np.maximum(y, 1e-8 * max(float(np.max(np.abs(y))), 1.0))
    return y


def _dispersion_ml(devfun: LaplaceDeviance, eta: FloatArray) -> float:
    """log φ maximising the likelihood at η."""
    with np.errstate(all="ignore"):
        found = scipy.optimize.minimize_scalar(
            lambda t: -devfun.loglik(eta, float(np.exp(t))) if np.isfinite(t) else np.inf,
            bounds=(-LOG_PHI_BOUND, LOG_PHI_BOUND),
            method="bounded",
        )
    return float(found.x)


def _glm_newton(
    devfun: LaplaceDeviance, beta: FloatArray, phi: float
) -> tuple[FloatArray, FloatArray]:
    """Newton steps in β at u = 0 and φ, halved while the likelihood falls; X'DX at the end."""
    X, offset = devfun.design.X, devfun.offset
    with np.errstate(all="ignore"):
        value = devfun.loglik(X @ beta + offset, phi)
        for _ in range(GLM_STEPS):
            score, info = devfun.derivatives(X @ beta + offset, RowModel(phi, None))
            gram = X.T @ (np.maximum(info, 1e-10)[:, None] * X)
            step = np.linalg.lstsq(gram, X.T @ score, rcond=None)[0]
            for _ in range(MAX_HALVINGS_GLM):
                trial = devfun.loglik(X @ (beta + step) + offset, phi)
                if np.isfinite(trial) and trial >= value:
                    break
                step = step / 2
            else:
                break
            beta, done, value = beta + step, trial - value < 1e-10 * abs(value), trial
            if done:
                break
        info = devfun.derivatives(X @ beta + offset, RowModel(phi, None))[1]
    return beta, X.T @ (np.maximum(info, 1e-10)[:, None] * X)


def _laplace_result(
    devfun: LaplaceDeviance, record: OptimizerRecord, gradient: FloatArray, H: FloatArray
) -> GlmerResult:
    fit = devfun.modes(record.final)
    messages = list(devfun.design.messages) + list(record.messages)
    unconverged = _gradient_check(gradient, H) if np.all(np.isfinite(H)) else None
    if unconverged:
        warn(unconverged, ConvergenceWarning)
        messages.append(unconverged)
    k, p = len(devfun.layout.lower), devfun.p
    try:
        h_inv = np.linalg.inv(H)
        vcov = np.asarray((h_inv + h_inv.T)[k : k + p, k : k + p], dtype=np.float64)
        np.linalg.cholesky(vcov)
    except (np.linalg.LinAlgError, ValueError):
        msg = "the Hessian of the deviance is not positive definite: no standard errors"
        warn(msg, ConvergenceWarning)
        messages.append(msg)
        vcov = np.full((p, p), np.nan)
    result = GlmerResult(devfun.design, devfun, record, fit, 1, vcov, "Hessian", H, ())
    messages += fit_warnings(result, "rescaling predictors may help")
    return GlmerResult(devfun.design, devfun, record, fit, 1, vcov, "Hessian", H, tuple(messages))


def _check_chunked(family: Family, nagq: int, zi: str | None, disp: str | None) -> None:
    """What a fit to data read in chunks can do: lme4's families, nagq 0 or 1, no extra
    models (see ``lmerpy.glmm.streamed``)."""
    if zi is not None or disp is not None:
        raise ArgumentError(
            "zi= and disp= models need the rows in memory: load the data into a DataFrame"
        )
    if nagq > 1:
        raise ArgumentError(
            f"nagq = {nagq} (adaptive quadrature) needs the rows in memory: use nagq = 0 or 1 "
            "for data read in chunks, or load them into a DataFrame"
        )
    if family.distribution is not None or family.name not in ("binomial", "poisson"):
        raise ArgumentError(
            f"glmer on data read in chunks fits binomial and Poisson models; the {family.name} "
            "family needs the rows in memory: load the data into a DataFrame"
        )


def _check_laplace_only(family: Family, nagq: int) -> None:
    if nagq != 1:
        raise ArgumentError(
            f"the {family.name} family is fitted by the Laplace approximation (glmmTMB's): "
            f"nagq = {nagq} is available for binomial and Poisson models only"
        )


def _start(devfun: PirlsObjectives) -> PirlsFit:
    """PIRLS over (β, u) at θ's default start: the stage-2 start, or why nothing fits."""
    try:
        return devfun.pirls(devfun.layout.start, None)
    except PirlsError as err:
        raise PirlsError(
            f"cannot find the conditional modes at the starting values: {err}. Common causes: "
            "complete separation (a predictor, or a combination, that predicts a binary "
            "response perfectly) or predictors on very different scales"
        ) from None


# ---- pieces ---------------------------------------------------------------------------------
def _with_beta(record: OptimizerRecord, beta0: FloatArray, beta: FloatArray) -> OptimizerRecord:
    """The record of an optimisation over θ alone, extended by β (not optimised over)."""
    p = len(beta)
    return dataclasses.replace(
        record,
        initial=np.concatenate([record.initial, beta0]),
        final=np.concatenate([record.final, beta]),
        lower=np.concatenate([record.lower, np.full(p, -np.inf)]),
        upper=np.concatenate([record.upper, np.full(p, np.inf)]),
    )


def _rx_standard_errors(RX: FloatArray) -> FloatArray:
    inv = scipy.linalg.solve_triangular(RX, np.eye(RX.shape[0]))
    return np.asarray(np.sqrt(np.sum(inv * inv, axis=1)), dtype=np.float64)


def _result(
    devfun: PirlsObjectives,
    record: OptimizerRecord,
    nagq: int,
    gradient: FloatArray | None,
    H: FloatArray | None,
) -> GlmerResult:
    k = len(devfun.layout.lower)
    fit = devfun.pirls(record.final[:k], None if nagq == 0 else record.final[k:])
    messages = list(devfun.design.messages) + list(record.messages)
    unconverged = None
    if gradient is not None and H is not None and np.all(np.isfinite(H)):
        unconverged = _gradient_check(gradient, H)
    if unconverged:
        warn(unconverged, ConvergenceWarning)
        messages.append(unconverged)
    RX = fit.RX if nagq == 0 else devfun.fixed_effects_factor(fit, record.final[:k])
    vcov, method = _vcov(RX, H, k, messages)
    result = GlmerResult(devfun.design, devfun, record, fit, nagq, vcov, method, H, ())
    messages += fit_warnings(result, "rescaling predictors may help")
    return GlmerResult(devfun.design, devfun, record, fit, nagq, vcov, method, H, tuple(messages))


def _gradient_check(gradient: FloatArray, H: FloatArray) -> str | None:
    """lme4's ``checkConv`` on the gradient: the larger of |g| and |R⁻¹g| (R'R = H) may not
    exceed ``GRADIENT_TOL`` in any component; the message when it does."""
    try:
        scaled = scipy.linalg.solve_triangular(np.linalg.cholesky(H), gradient, lower=True)
    except np.linalg.LinAlgError:
        scaled = gradient
    smallest = np.minimum(np.abs(scaled), np.abs(gradient))
    worst = int(np.argmax(smallest))
    if smallest[worst] <= GRADIENT_TOL:
        return None
    return (
        f"Model failed to converge with max|grad| = {smallest[worst]:.4g} (tol = "
        f"{GRADIENT_TOL}, component {worst + 1}): check the estimates; rescaling predictors "
        "may help (lme4's convergence check)"
    )


def _vcov(
    RX: FloatArray,
    H: FloatArray | None,
    k: int,
    messages: list[str],
) -> tuple[FloatArray, str]:
    inv = scipy.linalg.solve_triangular(RX, np.eye(RX.shape[0]))
    from_rx = inv @ inv.T
    if H is None:
        return from_rx, "RX"
    try:
        h_inv = np.linalg.inv(H)
        V = (h_inv + h_inv.T)[k:, k:]  # = 2 H⁻¹ for the deviance (-2 log-likelihood)
        if not np.all(np.isfinite(V)):
            raise np.linalg.LinAlgError("non-finite Hessian")
        np.linalg.cholesky(V)
    except (np.linalg.LinAlgError, ValueError):
        msg = (
            "the Hessian of the deviance is not positive definite: standard errors come from "
            "the final PIRLS step instead (lme4: use.hessian = FALSE)"
        )
        warn(msg, ConvergenceWarning)
        messages.append(msg)
        return from_rx, "RX"
    return np.asarray(V, dtype=np.float64), "Hessian"


def _check_quadrature(design: Design, nagq: int) -> None:
    if nagq <= 1:
        return
    terms = design.terms
    if len(terms) != 1 or len(terms[0].columns) != 1 or terms[0].term_type.name != "us":
        raise FormulaSemanticError(
            f"nagq = {nagq} (adaptive Gauss-Hermite quadrature) needs a single random-effect "
            "term with one column, such as (1 | g); use nagq = 1 (the Laplace approximation) "
            "for this model",
            design.spec.formula,
            0,
            len(design.spec.formula),
        )


class _Response:
    """The response step of a generalized model's design; remembers the binomial trials."""

    def __init__(self, family: Family) -> None:
        self.family = family
        self.trials: FloatArray | None = None

    def __call__(
        self, spec: ModelSpec, frame: pd.DataFrame, prior: FloatArray | None
    ) -> tuple[FloatArray, FloatArray | None]:
        node = spec.response
        assert node is not None
        what = f"the response {node}"
        if isinstance(node, Call) and node.func == "cbind":
            return self._cbind(spec, node, frame, prior)
        y = _response_values(spec, node, frame, self.family)
        self.family.check_response(y, what)
        if self.family.name == "binomial" and np.any((y > 0) & (y < 1)):
            _check_proportions(y, prior, what)
        return y, prior

    def _cbind(
        self, spec: ModelSpec, node: Call, frame: pd.DataFrame, prior: FloatArray | None
    ) -> tuple[FloatArray, FloatArray | None]:
        if (
            self.family.name not in ("binomial", "betabinomial")
            or len(node.args) != 2
            or node.kwargs
        ):
            raise FormulaSemanticError(
                "cbind(successes, failures) with two columns is the response of a binomial or "
                "betabinomial model",
                spec.formula,
                node.start,
                node.end,
            )
        s, f = (checked(partial(evaluate, a, frame), spec, f"{a} in {node}") for a in node.args)
        for part, values in zip(node.args, (s, f), strict=True):
            if not np.all(np.isfinite(values)) or np.any(values < 0):
                raise DataError(f"{part} in {node} must be counts: finite and not negative")
        trials = s + f
        if np.any(trials == 0):
            raise DataError(
                f"{int(np.sum(trials == 0))} rows of {node} have no trials (0 successes and 0 "
                "failures): they carry no information; drop them"
            )
        self.trials = trials
        return s / trials, trials if prior is None else prior * trials


def _response_values(
    spec: ModelSpec, node: object, frame: pd.DataFrame, family: Family
) -> FloatArray:
    """The response as numbers; a boolean is 0/1, and for a binomial model a factor is 0
    for its first level and 1 for the others (R's binomial family)."""
    if isinstance(node, Name) and not pd.api.types.is_numeric_dtype(frame[node.name]):
        column = frame[node.name]
        if pd.api.types.is_bool_dtype(column):
            return column.to_numpy(dtype=np.float64)
        if family.name != "binomial":
            raise DataError(
                f"the response '{node.name}' is {column.dtype}, not numbers: a {family.name} "
                "response is counts"
            )
        codes = level_labels(column).codes
        return (codes > 0).astype(np.float64)
    values = checked(lambda: evaluate(node, frame), spec, f"the response {node}")  # type: ignore[arg-type]
    if not np.all(np.isfinite(values)):
        raise DataError(f"the response {node} has non-finite values (inf or NaN)")
    return values


def _check_proportions(y: FloatArray, prior: FloatArray | None, what: str) -> None:
    if prior is None:
        raise DataError(
            f"{what} has values between 0 and 1: for proportions pass the number of trials "
            "as weights=, or write the response as cbind(successes, failures)"
        )
    successes = prior * y
    if np.any(np.abs(successes - np.round(successes)) > 1e-3):
        warn(
            f"non-integer numbers of successes in {what} x weights: is weights= the number "
            "of trials?",
            DataWarning,
        )
