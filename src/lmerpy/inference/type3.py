"""Type III F tests of the fixed terms (lmerTest's default ``anova(m)``).

A term's hypothesis is that its coefficients vanish once every categorical factor's coding
columns are centred over the factor's levels (for treatment contrasts: the sum-to-zero
parametrisation), numeric covariates kept at 0. For treatment, sum, Helmert and polynomial
contrasts in a formula that respects marginality this is SAS's type III, as lmerTest reports it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from .._util.threads import single_blas_thread
from ..errors import LmerpyError
from ..fitted.base import GeneralizedFit, LinearFit
from .ddf import ANOVA_COLUMNS, check_ddf, contrast_df

__all__ = ["anova_type3", "term_columns", "type3_hypotheses"]

FloatArray = NDArray[np.float64]


@single_blas_thread
def anova_type3(fit: LinearFit, ddf: str = "satterthwaite") -> pd.DataFrame:
    """Type III ANOVA table of the fixed-effect terms (lmerTest: ``anova(m, ddf = ...)``).

    One row per fixed term (R's term labels; the intercept has none) with columns
    ``Sum Sq``, ``Mean Sq``, ``NumDF``, ``DenDF``, ``F value``, ``Pr(>F)``. ``Mean Sq`` is
    F σ̂² (Kenward-Roger: before scaling F by λ). The hypotheses are `type3_hypotheses`; a
    term whose columns were all dropped for rank deficiency gets a row of NaN (R: NA).
    """
    check_ddf(ddf)
    rows: dict[str, list[float]] = {}
    for label, L in type3_hypotheses(fit).items():
        test = contrast_df(fit, L.to_numpy(), ddf)
        num_df = test.num_df if test.num_df else float("nan")  # nothing estimable: R's NA
        rows[label] = [
            test.mean_sq * num_df,
            test.mean_sq,
            num_df,
            test.den_df,
            test.f_value,
            test.p_value,
        ]
    return pd.DataFrame.from_dict(rows, orient="index", columns=ANOVA_COLUMNS)


def type3_hypotheses(
    fit: LinearFit | GeneralizedFit, *, intercept: bool = False
) -> dict[str, pd.DataFrame]:
    """The type III hypothesis matrix of each fixed term (lmerTest: ``show_tests(anova(m))``).

    Each categorical coding column c is replaced by c minus its mean over the factor's levels
    (treatment coding becomes the sum-to-zero parametrisation; sum, Helmert and polynomial
    codings are already centred), expanding products in interactions into the columns of the
    lower-order terms. The term's hypothesis is that its coefficients in that
    parametrisation vanish: the term's rows of T⁻¹ where X T is the centred matrix. A
    lower-order column the formula lacks (a formula that breaks marginality) is left out of
    the centring. Columns dropped for rank deficiency are left out of the rows and columns.

    With ``intercept``, the table starts with ``(Intercept)``: the grand mean over the
    factors' levels, numeric covariates at 0 (car's type III intercept row, under sum-to-zero
    contrasts).

    Returns:
        Term label -> DataFrame (one row per column of the term, one column per fixed effect).
    """
    fixed = fit.design.fixed
    columns = list(fixed.columns)
    structure, blocks = _column_structure(fit)
    transform = _centring_transform(structure)
    inverse = np.linalg.solve(transform, np.eye(len(columns)))
    position = {name: j for j, name in enumerate(columns)}
    kept = [position[name] for name in fit.design.x_columns]
    out = {}
    if intercept and "(Intercept)" in position:
        blocks = {"(Intercept)": [position["(Intercept)"]], **blocks}
    for label, idx in blocks.items():
        rows = [j for j in idx if j in kept]
        frame = inverse[np.ix_(rows, kept)]
        out[label] = pd.DataFrame(
            frame, index=[columns[j] for j in rows], columns=fit.design.x_columns
        )
    return out


def term_columns(fit: LinearFit | GeneralizedFit) -> dict[str, list[int]]:
    """The positions in ``fit.fixef`` of each fixed term's coefficients (R's term labels,
    no intercept; columns dropped for rank deficiency left out)."""
    columns = list(fit.design.fixed.columns)
    position = {name: j for j, name in enumerate(fit.design.x_columns)}
    _, blocks = _column_structure(fit)
    return {
        label: [position[columns[j]] for j in idx if columns[j] in position]
        for label, idx in blocks.items()
    }


# ---------------------------------------------------------------------------------------------
# Type III hypotheses
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Coding:
    """One factor's share of a model-matrix column: which coding column of which factor."""

    key: tuple[str, bool, int]
    """(factor expression, reduced rank?, coding column)."""
    mean: float
    """Mean of the coding column over the factor's levels (0 for numeric factors)."""


def _column_structure(
    fit: LinearFit | GeneralizedFit,
) -> tuple[list[tuple[_Coding, ...]], dict[str, list[int]]]:
    """For each column of the fixed-effects matrix (before rank-deficient columns are
    dropped) its factors' codings, and the columns of each term (R's labels, no intercept).

    Within a term, formulaic lays out the Kronecker product of its factors' codings with the
    first factor varying fastest, as R does."""
    fixed, linear = fit.design.fixed, fit.design.spec.fixed
    if fixed.spec is None:  # the intercept and numeric variables: a column a term
        codings: list[tuple[_Coding, ...]] = [
            () if c == "(Intercept)" else (_Coding((c, False, 0), 0.0),) for c in fixed.columns
        ]
        numeric = [c for c in fixed.columns if c != "(Intercept)"]
        return codings, {c: [fixed.columns.index(c)] for c in numeric}
    entries = [e for e in fixed.spec.structure if e.columns]
    labels = (["(Intercept)"] if linear.intercept else []) + linear.labels
    if len(entries) != len(labels):
        raise LmerpyError("cannot match the fixed-effects columns to the formula's terms")
    columns: list[tuple[_Coding, ...]] = []
    blocks: dict[str, list[int]] = {}
    for label, entry in zip(labels, entries, strict=True):
        start = len(columns)
        for scoped in entry.scoped_terms:
            per_factor = _factor_codings(fixed.spec, entries, scoped.factors, len(entry.columns))
            for combo in itertools.product(*reversed(per_factor)):
                columns.append(tuple(reversed(combo)))
        if len(columns) - start != len(entry.columns):
            raise LmerpyError(f"cannot work out the column layout of the term {label}")
        blocks[label] = list(range(start, len(columns)))
    blocks.pop("(Intercept)", None)
    return columns, blocks


def _factor_codings(
    spec: Any, entries: Sequence[Any], factors: Sequence[Any], n_columns: int
) -> list[list[_Coding]]:
    """Each factor's coding columns within one (scoped) term."""
    out: list[list[_Coding] | None] = []
    for sf in factors:
        expr = str(sf.factor.expr)
        kind, state = spec.encoder_state.get(expr, (None, {}))
        if str(getattr(kind, "value", kind)) == "categorical":
            means = _coding_means(state, bool(sf.reduced))
            out.append([_Coding((expr, bool(sf.reduced), a), m) for a, m in enumerate(means)])
        else:
            width = _numeric_width(expr, entries)
            out.append(
                None if width is None else [_Coding((expr, False, a), 0.0) for a in range(width)]
            )
    known = math.prod(len(c) for c in out if c is not None)
    unknown = [i for i, c in enumerate(out) if c is None]
    for i in unknown:  # a multi-column numeric factor seen only in interactions
        width = n_columns // known if len(unknown) == 1 else 1
        expr = str(factors[i].factor.expr)
        out[i] = [_Coding((expr, False, a), 0.0) for a in range(width)]
    return [c for c in out if c is not None]


def _coding_means(state: Any, reduced: bool) -> list[float]:
    """Means over the levels of a categorical factor's coding columns (treatment: 1/k)."""
    contrasts = state.get("contrasts") if isinstance(state, dict) else None
    if contrasts is None:
        levels = list(state.get("categories", [])) if isinstance(state, dict) else []
        k = len(levels)
        return [1.0 / k] * (k - 1 if reduced else k) if k else []
    coding = contrasts.contrasts.get_coding_matrix(contrasts.levels, reduced_rank=reduced)
    means = np.asarray(coding, dtype=np.float64).mean(axis=0)
    return [0.0 if abs(m) < 1e-12 else float(m) for m in means]


def _numeric_width(expr: str, entries: Sequence[Any]) -> int | None:
    """Columns of a numeric factor, from the term that is that factor alone (if any)."""
    for entry in entries:
        if len(entry.scoped_terms) == 1:
            factors = entry.scoped_terms[0].factors
            if len(factors) == 1 and str(factors[0].factor.expr) == expr:
                return len(entry.columns)
    return None


def _centring_transform(columns: Sequence[tuple[_Coding, ...]]) -> FloatArray:
    """T with X T = X with every categorical coding column centred over its levels.

    A column Π_f c_f · h becomes Π_f (c_f − μ_f) · h = Σ_S Π_{f∈S}(−μ_f) · (column without
    the factors in S); those columns are found among X's by their codings."""
    index = {frozenset(c.key for c in col): j for j, col in enumerate(columns)}
    T = np.eye(len(columns))
    for j, col in enumerate(columns):
        centred = [c for c in col if c.mean != 0.0]
        for r in range(1, len(centred) + 1):
            for subset in itertools.combinations(centred, r):
                rest = frozenset(c.key for c in col if c not in subset)
                i = index.get(rest)
                if i is not None:
                    T[i, j] += math.prod(-c.mean for c in subset)
    return T
