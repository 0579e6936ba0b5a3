"""R's coding of an interaction whose margins are missing (``model.matrix``'s rule, which
formulaic does not follow).

In a term, R codes a categorical factor by its contrasts when the term without that factor is
also in the formula (the intercept standing for the empty term), and by one indicator column
per level when it is not. For ``angle ~ recipe:temperature`` both factors lack their margins:
R forms all 3 × 6 products beside the intercept (lme4 then drops one as rank deficient), where
formulaic forms 17 columns of another parametrisation; for ``angle ~ temp +
recipe:temperature`` the two codings even span different spaces (REML 1608.04 in R). Such a
term is formed here, columns ordered and named as R's (the first factor varying fastest,
``recipeA:temperature175``), the levels kept for new data.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from formulaic.utils.stateful_transforms import stateful_transform

from ..errors import DataError
from ..formula.ast import Name
from ..formula.spec import LinearTerms, Term

__all__ = ["interaction_columns", "levels_of", "margins", "r_modes", "r_text"]


def margins(terms: LinearTerms) -> set[frozenset[str]]:
    """The terms of a linear predictor as sets of factor labels, the intercept as the empty
    set."""
    present = {frozenset(str(f) for f in t.factors) for t in terms.terms}
    return present | ({frozenset()} if terms.intercept else set())


def r_modes(term: Term, present: set[frozenset[str]], data: pd.DataFrame) -> str | None:
    """R's coding of each factor of an interaction of variables: ``c`` contrasts, ``i``
    indicators, ``n`` numeric; None where formulaic's coding is R's (every categorical factor
    has its margin) or the term is not an interaction of plain columns."""
    if len(term.factors) < 2 or not all(
        isinstance(f, Name) and f.name in data for f in term.factors
    ):
        return None
    labels = frozenset(str(f) for f in term.factors)
    modes = ""
    for factor in term.factors:
        assert isinstance(factor, Name)
        if not _categorical(data[factor.name]):
            modes += "n"
        else:
            modes += "c" if labels - {str(factor)} in present else "i"
    return modes if "i" in modes else None


def _categorical(column: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)


def levels_of(column: pd.Series) -> list[Any]:
    """A categorical column's levels as R's factor() gives them: its own categories, FALSE and
    TRUE, or its sorted values."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return list(column.cat.categories)
    if pd.api.types.is_bool_dtype(column):
        return [False, True]
    return sorted(pd.unique(column.dropna()).tolist())


def r_text(value: Any) -> str:
    """A level as R prints it (logical levels FALSE and TRUE)."""
    if isinstance(value, bool | np.bool_):
        return "TRUE" if value else "FALSE"
    return str(value)


def _interaction_columns(
    *columns: Any, modes: str = "", _state: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The columns of an interaction as R's ``model.matrix`` forms them, keyed by R's names;
    the levels of its factors are kept in the state for new data."""
    state = {} if _state is None else _state
    parts: list[list[tuple[str, np.ndarray]]] = []
    for k, (column, mode) in enumerate(zip(columns, modes, strict=True)):
        series = pd.Series(column)
        name = str(series.name)
        if mode == "n":
            parts.append([(name, series.to_numpy(dtype=np.float64))])
            continue
        levels = state.setdefault(f"levels{k}", levels_of(series))
        codes = pd.Index(levels).get_indexer(series)
        if (codes < 0).any():
            unknown = sorted({r_text(v) for v in series[codes < 0]})
            raise DataError(f"{name} has levels the fit never saw: {', '.join(unknown[:10])}")
        kept = range(len(levels)) if mode == "i" else range(1, len(levels))
        parts.append(
            [(f"{name}{r_text(levels[j])}", (codes == j).astype(np.float64)) for j in kept]
        )
    out: dict[str, Any] = {}
    for combo in itertools.product(*reversed(parts)):  # the first factor varies fastest
        pieces = list(reversed(combo))
        out[":".join(p[0] for p in pieces)] = np.prod([p[1] for p in pieces], axis=0)
    return out


interaction_columns: Callable[..., dict[str, Any]] = stateful_transform(_interaction_columns)
