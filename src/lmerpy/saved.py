"""Saving a fit and restoring it without optimizing again (MixedModels.jl's ``saveoptsum``
and ``restoreoptsum!``)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .chunked.fit import streamed_design
from .chunked.passes import cross_products
from .design import lformula
from .deviance import DevianceFunction
from .errors import DataError, FitError
from .persist import read_json, record_from_json, record_to_json, write_json
from .result import LmerResult, make_result
from .sources import is_chunked
from .threads import one_blas_thread

__all__ = ["restore_fit", "save_fit"]

RESTORE_RTOL = float(np.sqrt(np.finfo(np.float64).eps))
"""Relative tolerance of the objective re-checked on restore (MixedModels.jl's default)."""


def save_fit(fit: LmerResult, path: str | os.PathLike[str]) -> None:
    """Save the model and the optimizer's record of a fit as JSON (MixedModels.jl:
    ``saveoptsum``; no R function): formula, REML or ML, weights column, θ, objective,
    evaluations. The data are not saved; ``restore_fit`` takes them again."""
    weights = fit.design.weights_arg
    if weights is not None and not isinstance(weights, str):
        raise DataError("a fit whose weights were given as an array cannot be saved: name a column")
    write_json(
        {
            "formula": fit.design.spec.formula,
            "reml": fit.reml,
            "weights": weights,
            "nobs": fit.nobs,
            "record": record_to_json(fit.record),
        },
        path,
    )


def restore_fit(
    path: str | os.PathLike[str],
    data: Any,
    *,
    batch_size: int | None = None,
    progress: bool | None = None,
) -> LmerResult:
    """The fit saved by ``save_fit``, rebuilt on ``data`` (in memory or read in chunks)
    without optimizing again (MixedModels.jl: ``restoreoptsum!``; no R function).

    The objective is evaluated at the saved θ and must equal the saved one to a relative
    ``RESTORE_RTOL``; otherwise the data or the model differ and ``FitError`` says so.
    """
    saved = read_json(path)
    record = record_from_json(saved["record"])
    formula, reml, weights = saved["formula"], bool(saved["reml"]), saved["weights"]
    with one_blas_thread():
        if is_chunked(data):
            cp = cross_products(formula, data, weights=weights, batch_size=batch_size,
                                progress=progress)  # fmt: skip
            design, blocks = streamed_design(cp)
            devfun = DevianceFunction(design, reml=reml, cross_products=blocks)
        else:
            devfun = DevianceFunction(lformula(formula, data, weights=weights), reml=reml)
        value = devfun(record.final)
        if not abs(value - record.f_final) <= RESTORE_RTOL * max(1.0, abs(record.f_final)):
            raise FitError(
                f"the saved fit does not match these data: the objective at the saved theta is "
                f"{value:.10g}, the saved one {record.f_final:.10g} (formula {formula!r})"
            )
        return make_result(devfun, record)
