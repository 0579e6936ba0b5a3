"""The two passes over data read in chunks: ``scan`` (pass one: levels, missing values,
``scale()`` moments) and ``cross_products`` (pass two: the blocks of [Z X y]'W[Z X y])."""

from __future__ import annotations

import dataclasses
import difflib
import operator
from functools import partial
from typing import Any

import pandas as pd

from ..errors import MissingColumnError, RowsDroppedWarning, warn
from ..formula import ModelSpec, parse_formula
from .crossproducts import CrossProducts
from .encode import Encoder
from .schema import Schema, scan_chunk
from .sources import open_source
from .sources.base import Source

__all__ = ["cross_products", "scan", "used_columns"]


def scan(
    formula: str | ModelSpec,
    data: Any,
    *,
    weights: str | None = None,
    batch_size: int | None = None,
    progress: bool | None = None,
) -> Schema:
    """Pass one over ``data``: what encoding every chunk the same way needs (no R function:
    lme4 holds the data in memory). Schemas of parts of the data merge with ``+``."""
    source = open_source(data, batch_size=batch_size, progress=progress)
    text = formula if isinstance(formula, str) else str(formula)
    used = used_columns(text, weights, source)
    first = partial(scan_chunk, text, weights=weights)
    schema: Schema = source.reduce(first, operator.add, columns=used, label="lmerpy scan")
    return schema


def cross_products(
    model: str | ModelSpec | Schema,
    data: Any,
    *,
    weights: str | None = None,
    batch_size: int | None = None,
    progress: bool | None = None,
) -> CrossProducts:
    """The cross-products of the model on ``data`` (MixedModels.jl: the ``A`` blocks that
    ``createAL`` builds; no R function). ``model`` is a formula (both passes are made) or
    the ``Schema`` of a first pass, possibly over more data than ``data``, so that
    cross-products computed separately where parts of the data live can be added up.

    ``data`` is a pandas DataFrame, a Parquet file, directory, glob or list of files, or a
    Dask DataFrame. Fit the result with ``lmerpy.lmer_cross_products``.

    Example:
        >>> import lmerpy
        >>> sleep = lmerpy.datasets.load("sleepstudy")
        >>> formula = "Reaction ~ Days + (Days | Subject)"
        >>> schema = lmerpy.scan(formula, sleep)  # pass one over all the rows
        >>> cp = lmerpy.cross_products(schema, sleep.iloc[:90]) + lmerpy.cross_products(
        ...     schema, sleep.iloc[90:])  # pass two, in two parts
        >>> cp.n, round(lmerpy.lmer_cross_products(cp).reml_criterion, 2)
        (180, 1743.63)
    """
    source = open_source(data, batch_size=batch_size, progress=progress)
    if isinstance(model, Schema):
        schema = model
    else:
        schema = scan(model, data, weights=weights, batch_size=batch_size, progress=progress)
    used = used_columns(schema.formula, schema.weights, source)
    encode = _Encode(schema)
    blocks: CrossProducts = source.reduce(
        encode, operator.add, columns=used, label="lmerpy cross-products"
    )
    return dataclasses.replace(blocks, schema=schema)


def used_columns(formula: str, weights: str | None, source: Source) -> list[str]:
    """The columns a model reads, each checked to be in the data."""
    spec = parse_formula(formula)
    used = [*spec.variables, *([weights] if weights else [])]
    available = source.columns
    for name in used:
        if name not in available:
            close = difflib.get_close_matches(name, available, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise MissingColumnError(f"column '{name}' is not in the data{hint}", name)
    return used


def warn_dropped(schema: Schema) -> str | None:
    """lformula's warning for rows dropped for missing values, from a schema."""
    if not schema.dropped:
        return None
    used = ", ".join(schema.spec.variables)
    msg = f"{schema.dropped} of {schema.rows} rows dropped for missing values in: {used}"
    warn(msg, RowsDroppedWarning)
    return msg


class _Encode:
    """Pass two's map step; builds its Encoder once per process (not pickled)."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self._encoder: Encoder | None = None

    def __call__(self, chunk: pd.DataFrame) -> CrossProducts:
        if self._encoder is None:
            self._encoder = Encoder(self.schema)
        return self._encoder.cross_products(chunk)

    def __getstate__(self) -> dict[str, Any]:
        return {"schema": self.schema, "_encoder": None}
