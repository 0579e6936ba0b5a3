"""Fits from cross-products: the design without rows, then lme4's steps as in memory."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from .._util.progress import Bar, progress_bar
from .._util.threads import one_blas_thread
from ..data.crossproducts import CrossProducts
from ..data.encode import Encoder
from ..data.passes import cross_products, warn_dropped
from ..design import Design
from ..design.build import independent_gram_columns, warn_rank_drop
from ..design.checks import Checks, MomentSums, run_checks
from ..design.matrices import ModelMatrix
from ..errors import DataError
from ..optimize import optimize_deviance
from .deviance import DevianceFunction
from .result import LmerResult, make_result

__all__ = ["lmer_chunked", "lmer_cross_products", "streamed_design"]


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


def streamed_design(
    cp: CrossProducts, checks: Checks | None = None, *, generalized: bool = False
) -> tuple[Design, CrossProducts]:
    """The design (with no rows) and the cross-products with rank-deficient columns of X
    dropped, as ``lformula`` (``glformula`` where ``generalized``) would have built them from
    the rows in memory."""
    schema, moments = cp.schema, cp.moments
    if schema is None or moments is None:
        raise DataError(
            "these cross-products carry no schema: compute them with lmerpy.cross_products"
        )
    encoder = Encoder(schema)
    full = list(encoder.fixed.columns)
    _check_shape(cp, encoder, full)
    messages = [m for m in [warn_dropped(schema)] if m]
    keep = independent_gram_columns(moments.gram[:-1, :-1])
    dropped = [c for j, c in enumerate(full) if j not in keep]
    if dropped:
        messages.append(warn_rank_drop(dropped))
    for term, diag in zip(encoder.terms, cp.diag, strict=True):
        _check_lhs(term.spec, term.columns, diag)
    blocks = cp.select_x(keep)
    x_columns = [full[j] for j in keep]
    assert blocks.moments is not None
    messages += run_checks(
        checks or Checks(),
        MomentSums(blocks.moments, cp.n),
        x_columns,
        encoder.terms,
        generalized=generalized,
    )
    fixed = ModelMatrix(np.zeros((0, len(full))), full, encoder.fixed.spec)
    design = Design(
        encoder.spec, np.zeros(0), np.zeros((0, len(keep))), x_columns, encoder.terms, None,
        None, pd.RangeIndex(0), fixed, pd.DataFrame(), schema.weights, schema.dropped,
        tuple(dropped), tuple(messages), streamed_rows=cp.n,
    )  # fmt: skip
    return design, blocks


def _check_shape(cp: CrossProducts, encoder: Encoder, columns: list[str]) -> None:
    levels = [t.factor.n_levels for t in encoder.terms]
    dims = [len(t.columns) for t in encoder.terms]
    if cp.n_levels != levels or cp.dims != dims or cp.p != len(columns):
        raise DataError(
            "the cross-products do not match their schema: they were not computed with it"
        )
    if cp.n == 0:
        raise DataError("no rows left after dropping rows with missing values")


def _check_lhs(term: Any, columns: list[str], diag: NDArray[np.float64]) -> None:
    gram = diag.sum(axis=0)
    keep = set(independent_gram_columns(gram))
    dependent = [c for j, c in enumerate(columns) if j not in keep]
    if dependent:
        raise DataError(
            f"in the random term {term}, the column(s) {', '.join(dependent)} are zero or linear "
            "combinations of the others, so their variances cannot be estimated: drop them"
        )
