"""Fitted values and residuals of a fit, written to Parquet one chunk at a time, for data
that do not fit in memory (lme4: ``fitted(m)``, ``residuals(m)``)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..errors import DataError, DataSourceError, MissingDependencyError
from ..result import LmerResult
from ..sources import open_source
from .encode import Encoder
from .passes import scan
from .schema import Schema

__all__ = ["write_fitted"]


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
