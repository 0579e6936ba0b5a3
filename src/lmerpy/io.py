"""Saving and restoring fits (``.json``) and writing fitted values of data read in chunks.

A saved fit is what MixedModels.jl's ``saveoptsum`` writes: the model (formula, REML or ML,
weights column), θ and the optimizer record. ``restore_fit`` rebuilds the model on the data,
evaluates the objective at the saved θ and checks it against the saved value, as
``restoreoptsum!`` does, before assembling the fit without optimizing again.
``write_fitted`` streams fitted values and residuals of a fit to Parquet, a chunk at a time
(lme4: ``fitted(m)``, ``residuals(m)``). Cross-products save themselves
(``CrossProducts.save``, in ``lmerpy.data.crossproducts``).
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ._util.threads import one_blas_thread
from .data.encode import Encoder
from .data.passes import cross_products, scan
from .data.schema import Schema
from .data.sources import is_chunked, open_source
from .data.streamed import streamed_design
from .design import lformula
from .errors import DataError, DataSourceError, FitError, LmerpyError, MissingDependencyError
from .lmm.deviance import DevianceFunction
from .lmm.result import LmerResult, make_result
from .optimize import OptimizerRecord

__all__ = ["record_from_json", "record_to_json", "restore_fit", "save_fit", "write_fitted"]

FIT_FORMAT = "lmerpy-fit-1"
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


# -- fitted values of chunked data -------------------------------------------------------------


def write_fitted(
    fit: LmerResult,
    data: Any,
    path: str | os.PathLike[str],
    *,
    batch_size: int | None = None,
    progress: bool | None = None,
) -> int:
    """Write the fitted values and residuals of ``fit`` on ``data`` to the Parquet file
    ``path`` (lme4: ``fitted(m)``, ``residuals(m)``), one chunk at a time; returns the rows
    written. Columns: ``row`` (position of the row in the data), ``fitted``, ``resid``;
    rows dropped for missing values are left out, as lme4's ``na.omit`` leaves them out."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingDependencyError(
            "writing Parquet needs pyarrow: pip install 'lmerpy[parquet]'"
        ) from None
    spec = fit.design.spec
    weights = fit.design.weights_arg if isinstance(fit.design.weights_arg, str) else None
    source = open_source(data, batch_size=batch_size, progress=progress)
    used = [*spec.variables, *([weights] if weights else [])]
    schema = scan(spec.formula, data, weights=weights, batch_size=batch_size, progress=progress)
    writer = _Writer(_Predictor(fit, schema), pa, pq, path)
    try:
        for chunk in source.chunks(columns=used, label="lmerpy fitted"):
            writer.write(chunk)
    finally:
        writer.close()
    return writer.rows


class _Predictor:
    def __init__(self, fit: LmerResult, schema: Schema) -> None:
        self.encoder = Encoder(schema)
        full = list(self.encoder.fixed.columns)
        self.keep = [full.index(c) for c in fit.design.x_columns]
        self.beta = fit.fixef.to_numpy()
        self.modes = [fit.ranef[t.group][t.columns].to_numpy() for t in fit.design.terms]
        self.levels = [t.factor.levels for t in fit.design.terms]

    def fitted(self, frame: pd.DataFrame) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        enc = self.encoder
        y, X, blocks, offset = enc.rows(frame)
        value = X[:, self.keep] @ self.beta + (0.0 if offset is None else offset)
        for block, modes, coder, levels in zip(
            blocks, self.modes, enc.coders, self.levels, strict=True
        ):
            where = levels.get_indexer(coder.levels)  # the fit's level order
            if np.any(where < 0):
                raise DataError(f"'{coder.name}' has levels the fit did not see")
            value += np.einsum("na,na->n", block.lhs, modes[where][block.codes])
        return value, y - value


class _Writer:
    def __init__(
        self, predictor: _Predictor, pa: Any, pq: Any, path: str | os.PathLike[str]
    ) -> None:
        self.predictor, self.pa, self.pq, self.path = predictor, pa, pq, path
        self.writer: Any = None
        self.rows = 0
        self.seen = 0

    def write(self, chunk: pd.DataFrame) -> None:
        keep = self.predictor.encoder.complete(chunk)
        frame = chunk[keep]
        positions = self.seen + np.flatnonzero(keep)
        self.seen += len(chunk)
        fitted, resid = self.predictor.fitted(frame) if len(frame) else (np.zeros(0), np.zeros(0))
        table = self.pa.table({"row": positions.astype(np.int64), "fitted": fitted, "resid": resid})
        try:
            if self.writer is None:
                self.writer = self.pq.ParquetWriter(os.fspath(self.path), table.schema)
            self.writer.write_table(table)
        except OSError as exc:
            raise DataSourceError(f"cannot write {os.fspath(self.path)!r}: {exc}") from None
        self.rows += len(frame)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


# -- optimizer records ------------------------------------------------------------------------


def record_to_json(record: OptimizerRecord) -> dict[str, Any]:
    """An optimizer record as JSON-ready values (MixedModels.jl's ``saveoptsum``)."""
    return {
        "initial": record.initial.tolist(),
        "f_initial": record.f_initial,
        "final": record.final.tolist(),
        "f_final": record.f_final,
        "lower": [float(v) for v in record.lower],
        "upper": [_finite_or_text(v) for v in record.upper],
        "evaluations": record.evaluations,
        "optimizer": record.optimizer,
        "converged": record.converged,
        "messages": list(record.messages),
    }


def record_from_json(data: dict[str, Any]) -> OptimizerRecord:
    """The record ``record_to_json`` wrote."""
    try:
        return OptimizerRecord(
            initial=np.asarray(data["initial"], dtype=np.float64),
            f_initial=float(data["f_initial"]),
            final=np.asarray(data["final"], dtype=np.float64),
            f_final=float(data["f_final"]),
            lower=np.asarray(data["lower"], dtype=np.float64),
            upper=np.asarray([float(v) for v in data["upper"]], dtype=np.float64),
            evaluations=int(data["evaluations"]),
            optimizer=str(data["optimizer"]),
            converged=bool(data["converged"]),
            messages=tuple(data["messages"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise LmerpyError(f"the saved optimizer record is incomplete: {exc}") from None


def _finite_or_text(value: float) -> float | str:
    return float(value) if np.isfinite(value) else str(float(value))


def write_json(data: dict[str, Any], path: str | os.PathLike[str]) -> None:
    try:
        with open(path, "w", encoding="utf-8") as out:
            json.dump({"format": FIT_FORMAT, **data}, out, indent=1)
    except OSError as exc:
        raise DataError(f"cannot write the fit to {os.fspath(path)!r}: {exc}") from None


def read_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as source:
            data = json.load(source)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read a saved fit from {os.fspath(path)!r}: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FIT_FORMAT:
        raise DataError(f"{os.fspath(path)!r} is not a fit saved by lmerpy")
    return data
