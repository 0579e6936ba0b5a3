"""The values a fit is built on: ``Design`` (lme4's ``lFormula`` value) and its
``RandomEffectsTerm``s."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from ..formula import ModelSpec, RandomTerm
from ..terms import TermType
from .grouping import GroupingFactor
from .matrices import ModelMatrix

__all__ = ["MAX_MAGNITUDE", "RANK_TOLERANCE", "Design", "RandomEffectsTerm"]

RANK_TOLERANCE = 1e-7  # R's qr() tolerance, as lme4's rank check uses it
MAX_MAGNITUDE = 1e100  # larger values overflow when squared and summed


@dataclass(frozen=True)
class RandomEffectsTerm:
    """One ``(lhs | g)`` term on the data.

    Attributes:
        spec: the term as the formula gave it.
        factor: the grouping factor's codes and levels.
        lhs: the term's left-hand model matrix (n x p) and its column names.
        term_type: maps the term's θ to its relative covariance factor.
    """

    spec: RandomTerm
    factor: GroupingFactor
    lhs: ModelMatrix
    term_type: TermType

    @property
    def group(self) -> str:
        return self.factor.name

    @property
    def columns(self) -> list[str]:
        return self.lhs.columns

    @property
    def n_theta(self) -> int:
        return self.term_type.n_theta(len(self.columns))

    @property
    def z(self) -> sp.csc_matrix:
        """This term's block of Z (n x levels*p, level-major columns, as lme4's Ztlist)."""
        n, p = self.lhs.values.shape
        rows = np.repeat(np.arange(n), p)
        cols = (self.factor.codes[:, None] * p + np.arange(p)).ravel()
        shape = (n, self.factor.n_levels * p)
        return sp.csc_matrix((self.lhs.values.ravel(), (rows, cols)), shape=shape)


@dataclass(frozen=True)
class Design:
    """Everything a fit needs from the formula and the data (lme4's ``lFormula`` value).

    Attributes:
        spec: the parsed formula.
        y: response, complete cases only.
        X: fixed-effects matrix after dropping rank-deficient columns; ``x_columns`` names them.
        terms: random-effects terms in lme4's order.
        weights: prior weights, or None.
        offset: the summed offsets, or None.
        rows: index labels of the data rows used.
        fixed: the full fixed-effects ModelMatrix, whose spec encodes new data.
        data: the data the design was built from (a reference, not a copy).
        weights_arg: the ``weights`` argument as given (a column name or an array).
        dropped_rows: how many rows were dropped for missing values.
        dropped_columns: fixed-effect columns dropped for rank deficiency.
        messages: warnings raised while building the design (kept for the result).
        streamed_rows: for data read in chunks (a Parquet dataset, a Dask DataFrame), the
            number of rows used; ``y``, ``X`` and the terms' row arrays are then empty, and
            the fit works from the cross-products alone. None for data in memory.
    """

    spec: ModelSpec
    y: NDArray[np.float64]
    X: NDArray[np.float64]
    x_columns: list[str]
    terms: tuple[RandomEffectsTerm, ...]
    weights: NDArray[np.float64] | None
    offset: NDArray[np.float64] | None
    rows: pd.Index
    fixed: ModelMatrix = field(repr=False)
    data: pd.DataFrame = field(repr=False, compare=False)
    weights_arg: ArrayLike | str | None = field(default=None, repr=False, compare=False)
    dropped_rows: int = 0
    dropped_columns: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()
    streamed_rows: int | None = None

    @property
    def nobs(self) -> int:
        return len(self.y) if self.streamed_rows is None else self.streamed_rows

    @property
    def Z(self) -> sp.csc_matrix:
        """The random-effects model matrix, sparse (lme4: ``getME(m, "Z")``). The solver
        never forms it; it works from the cross-products of the terms' blocks."""
        return sp.csc_matrix(sp.hstack([t.z for t in self.terms], format="csc"))
