"""The design of data read in chunks: no rows, only what the passes over them found (the
schema, and the cross-products with their sums), built as ``lformula`` and ``glformula``
build it from rows in memory."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..design import Design
from ..design.build import independent_gram_columns, warn_rank_drop
from ..design.checks import Checks, MomentSums, run_checks
from ..design.matrices import ModelMatrix
from ..errors import DataError
from .crossproducts import CrossProducts
from .encode import Encoder
from .passes import warn_dropped

__all__ = ["streamed_design"]


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
