"""``lmer``: the four modular steps in one call (lme4's ``lmer``)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from .._util.threads import one_blas_thread
from ..data.sources import is_chunked
from ..design import Design, lformula
from ..design.checks import Checks
from ..errors import ArgumentError, DataError
from ..formula import ModelSpec, parse_formula
from ..formula.spec import substitute_dots
from ..optimize import optimize_deviance
from .chunked import lmer_chunked
from .deviance import make_deviance
from .result import LmerResult, make_result

__all__ = ["lmer", "refit", "update"]


def lmer(
    formula: str | ModelSpec,
    data: pd.DataFrame | str | os.PathLike[str] | Sequence[str] | Any,
    *,
    reml: bool = True,
    weights: ArrayLike | str | None = None,
    optimizer: str = "auto",
    checks: Checks | None = None,
    batch_size: int | None = None,
    progress: bool | None = None,
) -> LmerResult:
    """Fit a linear mixed model by REML (default) or maximum likelihood (lme4: ``lmer``).

    Args:
        formula: an lme4 formula, e.g. ``"Reaction ~ Days + (Days | Subject)"``.
        data: a DataFrame holding every variable the formula names; or data read in
            chunks: a Parquet file, directory, glob or list of files (streamed with pyarrow,
            ``lmerpy[parquet]``), or a Dask DataFrame (``lmerpy[dask]``). Chunked data are
            read twice (a schema, then the cross-products) and never held in memory whole.
        reml: REML (True, lme4's default) or ML (False) estimation.
        weights: prior weights: an array with one value per row, or a column name (a
            column name only, for data read in chunks).
        optimizer: ``"auto"`` (L-BFGS-B with the exact gradient for crossed scalar terms
            with costly evaluations, as InstEval's ``(1 | s) + (1 | d)``, else BOBYQA),
            ``"bobyqa"`` (lme4's default) or ``"lbfgsb"``.
        checks: severities of the data checks (lme4: ``lmerControl(check.*)``).
        batch_size: rows per chunk read from Parquet (default one million).
        progress: show progress bars for passes over chunked data and for the fit
            (None: only on a terminal, with tqdm installed).

    Example:
        >>> import lmerpy
        >>> fit = lmerpy.lmer("Reaction ~ Days + (Days | Subject)",
        ...                   lmerpy.datasets.load("sleepstudy"))
        >>> round(fit.reml_criterion, 2)
        1743.63

    The same fit, step by step (lme4's ``lFormula`` -> ``mkLmerDevfun`` ->
    ``optimizeLmer`` -> ``mkMerMod``)::

        design = lmerpy.lformula(formula, data)
        devfun = lmerpy.make_deviance(design, reml=True)
        record = lmerpy.optimize_deviance(
            devfun, lower=devfun.lower, upper=devfun.upper, start=devfun.start
        )
        fit = lmerpy.make_result(devfun, record)
    """
    if is_chunked(data):
        return lmer_chunked(
            formula, data, reml=reml, weights=weights, optimizer=optimizer, checks=checks,
            batch_size=batch_size, progress=progress,
        )  # fmt: skip
    with one_blas_thread():  # a block, not a decorator: warnings keep pointing at the caller
        design = lformula(formula, data, weights=weights, checks=checks)  # type: ignore[arg-type]
        devfun = make_deviance(design, reml=reml)
        record = optimize_deviance(
            devfun, lower=devfun.lower, upper=devfun.upper, start=devfun.start, optimizer=optimizer
        )
        return make_result(devfun, record)


REFIT_STEP = 0.05
"""BOBYQA's first step, relative to max(|θ|, 1), when a new response is fitted from the old
θ̂ (a bootstrap replicate's optimum lies near it): measured on sleepstudy's parametric
bootstrap, 50 evaluations a refit instead of 72, each optimum within 1e-7 of a fresh fit's."""


def refit(
    fit: LmerResult, response: ArrayLike | None = None, *, reml: bool | None = None
) -> LmerResult:
    """Fit the same model again with a new response, or by ML/REML (lme4: ``refit``,
    ``refitML``). Only what the response changes is formed anew (its products with the
    rows); the optimizer starts from the current θ: Newton's method with the exact Hessian
    for small models (`lmerpy.solver.hessian`), where the optimum is a few steps away."""
    design: Design = fit.design
    if response is not None and design.streamed_rows is not None:
        raise DataError(
            "a fit to data read in chunks has no rows in memory to give a new response: "
            "fit the new response with lmerpy.lmer"
        )
    new_design = None
    if response is not None:
        y = np.asarray(response, dtype=np.float64).reshape(-1)
        if y.shape != design.y.shape or not np.all(np.isfinite(y)):
            raise DataError(f"the new response must be {design.nobs} finite numbers")
        new_design = dataclasses.replace(design, y=y)
    with one_blas_thread():
        devfun = fit.devfun.refitted(new_design, reml=reml)
        start = np.asarray(fit.record.final, dtype=np.float64)
        record = optimize_deviance(
            devfun,
            lower=devfun.lower,
            upper=devfun.upper,
            start=start,
            optimizer="newton" if devfun.has_hessian else fit.record.optimizer,
            initial_step=None if response is None else REFIT_STEP * np.maximum(np.abs(start), 1),
        )
        return make_result(devfun, record)


def update(
    fit: LmerResult,
    formula: str | None = None,
    *,
    reml: bool | None = None,
    data: pd.DataFrame | None = None,
) -> LmerResult:
    """Fit a changed model, or the same model to other data (lme4: ``update(m, . ~ . - x,
    data = ...)``).

    In ``formula``, a ``.`` stands for the old response on the left of ``~`` and for the
    old right-hand side on the right, so ``". ~ . - Days"`` drops ``Days``."""
    spec = fit.design.spec
    if fit.design.streamed_rows is not None:
        raise DataError(
            "a fit to data read in chunks keeps no data to update it on: call lmerpy.lmer "
            "with the changed formula and the data"
        )
    if (
        data is not None
        and fit.design.weights_arg is not None
        and not isinstance(fit.design.weights_arg, str)
    ):
        raise ArgumentError("weights given as an array cannot follow new data: name a column")
    text = spec.formula if formula is None else str(parse_formula(substitute_dots(formula, spec)))
    return lmer(
        text,
        fit.design.data if data is None else data,
        reml=fit.reml if reml is None else reml,
        weights=fit.design.weights_arg,
        optimizer=fit.record.optimizer,
    )
