"""``lmer``: the four modular steps in one call (lme4's ``lmer``)."""

from __future__ import annotations

import pandas as pd
from numpy.typing import ArrayLike

from .design import lformula
from .deviance import make_deviance
from .formula import ModelSpec
from .optimize import optimize_deviance
from .result import LmerResult, make_result

__all__ = ["lmer"]


def lmer(
    formula: str | ModelSpec,
    data: pd.DataFrame,
    *,
    reml: bool = True,
    weights: ArrayLike | str | None = None,
    optimizer: str = "bobyqa",
) -> LmerResult:
    """Fit a linear mixed model by REML (default) or maximum likelihood (lme4: ``lmer``).

    Args:
        formula: an lme4 formula, e.g. ``"Reaction ~ Days + (Days | Subject)"``.
        data: a DataFrame holding every variable the formula names.
        reml: REML (True, lme4's default) or ML (False) estimation.
        weights: prior weights: an array with one value per row, or a column name.
        optimizer: ``"bobyqa"`` (lme4's default) or ``"lbfgsb"``.

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
        record = lmerpy.optimize_deviance(devfun, lower=devfun.lower, start=devfun.start)
        fit = lmerpy.make_result(devfun, record)
    """
    design = lformula(formula, data, weights=weights)
    devfun = make_deviance(design, reml=reml)
    record = optimize_deviance(devfun, lower=devfun.lower, start=devfun.start, optimizer=optimizer)
    return make_result(devfun, record)
