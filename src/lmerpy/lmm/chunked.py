"""Fits from cross-products: the design without rows, then lme4's steps as in memory."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._util.progress import Bar, progress_bar
from .._util.threads import one_blas_thread
from ..data.crossproducts import CrossProducts
from ..data.passes import cross_products
from ..data.streamed import streamed_design
from ..design.checks import Checks
from ..errors import DataError
from ..optimize import optimize_deviance
from .deviance import DevianceFunction
from .result import LmerResult, make_result

__all__ = ["lmer_chunked", "lmer_cross_products"]


def lmer_cross_products(
    cp: CrossProducts,
    *,
    reml: bool = True,
    optimizer: str = "auto",
    checks: Checks | None = None,
    progress: bool | None = None,
) -> LmerResult:
    """Fit a linear mixed model from its cross-products alone (lme4: ``lmer``, given the
    data only through [Z X y]'W[Z X y]; MixedModels.jl's ``fit!`` works from the same blocks).

    ``cp`` comes from ``lmerpy.cross_products`` (possibly added up from parts, saved and
    loaded). The fit equals ``lmerpy.lmer`` on the same rows in memory; quantities that need
    the rows (fitted values, residuals, their quantiles in the summary) are computed by a
    further pass: ``lmerpy.write_fitted``.
    """
    with one_blas_thread():
        design, blocks = streamed_design(cp, checks)
        devfun = DevianceFunction(design, reml=reml, cross_products=blocks)
        with progress_bar(progress, desc="lmerpy fit", unit="evals") as bar:
            record = optimize_deviance(
                _Reporting(devfun, bar), lower=devfun.lower, upper=devfun.upper,
                start=devfun.start, optimizer=optimizer,
            )  # fmt: skip
        return make_result(devfun, record)


class _Reporting:
    """The deviance function (and its gradient), reporting each evaluation to a bar."""

    def __init__(self, devfun: DevianceFunction, bar: Bar) -> None:
        self.devfun, self.bar = devfun, bar
        self.has_gradient = devfun.has_gradient
        self.prefers_gradient = devfun.prefers_gradient

    def __call__(self, theta: NDArray[np.float64]) -> float:
        self.bar.update(1)
        return self.devfun(theta)

    def value_and_gradient(self, theta: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        self.bar.update(1)
        return self.devfun.value_and_gradient(theta)


def lmer_chunked(
    formula: Any,
    data: Any,
    *,
    reml: bool,
    weights: Any,
    optimizer: str,
    checks: Checks | None,
    batch_size: int | None,
    progress: bool | None,
) -> LmerResult:
    """``lmer`` on data read in chunks: two passes, then a fit from the cross-products."""
    if weights is not None and not isinstance(weights, str):
        raise DataError("for data read in chunks, weights must be the name of a column")
    cp = cross_products(formula, data, weights=weights, batch_size=batch_size, progress=progress)
    return lmer_cross_products(cp, reml=reml, optimizer=optimizer, checks=checks, progress=progress)
