"""emmeans' reference grid: every level of each factor of the fixed part, each covariate at
its mean over the rows fitted (``ref_grid(m)``), and the linear functions of β that average
its cells (``emmeans(m, specs, by)`` with ``weights = "equal"``)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..errors import ArgumentError, ArgumentTypeError
from ..fitted.base import MixedModelResult
from ..fitted.predict import fixed_rows
from ..formula.spec import variables_of

__all__ = ["ReferenceGrid", "reference_grid"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class ReferenceGrid:
    """The grid's variables and cells (emmeans' ``ref_grid``).

    Attributes:
        levels: variable -> its values in the grid (a factor's levels in the fit's order; a
            covariate's mean, or the values given in ``at``).
        factors: the variables that are factors (emmeans averages over these).
        cells: one row per grid cell, the first variable varying fastest (emmeans' order).
        X: (cells, p) the fixed-effects model matrix of the cells.
    """

    levels: dict[str, list[Any]]
    factors: tuple[str, ...]
    cells: pd.DataFrame
    X: FloatArray

    def means(self, specs: Sequence[str], by: Sequence[str]) -> tuple[pd.DataFrame, FloatArray]:
        """The cells of ``specs`` × ``by`` (specs fastest, then by) and the rows of L that
        average the grid's X over the other factors with equal weights."""
        keys = list(specs) + list(by)
        for name in keys:
            if name not in self.levels:
                raise ArgumentError(
                    f"{name!r} is not a variable of the fixed effects; the reference grid has "
                    f"{', '.join(self.levels) or 'no variables'}"
                )
        combos = list(itertools.product(*(self.levels[k] for k in reversed(keys))))
        rows, weights = [], []
        labels = self.cells[keys].astype(str)
        for combo in combos:
            values = list(reversed(combo))
            mask = np.ones(len(self.cells), dtype=bool)
            for name, value in zip(keys, values, strict=True):
                mask &= (labels[name] == str(value)).to_numpy()
            rows.append(values)
            weights.append(mask / mask.sum())
        table = pd.DataFrame(rows, columns=keys)
        return table, np.asarray(weights) @ self.X


def reference_grid(fit: MixedModelResult, at: Mapping[str, Any] | None = None) -> ReferenceGrid:
    """The reference grid of a fit (emmeans: ``ref_grid(m, at = at)``).

    Args:
        fit: a fitted model whose data are in memory.
        at: variable -> a value or a list of values to use instead of a factor's levels or a
            covariate's mean.
    """
    if fit.design.streamed_rows is not None:
        raise ArgumentError("marginal means need the data in memory; this fit read them in chunks")
    at = dict(at or {})
    data = fit.design.data.loc[fit.design.rows]
    variables = _fixed_variables(fit)
    unknown = sorted(set(at) - set(variables))
    if unknown:
        raise ArgumentError(
            f"at names {', '.join(map(repr, unknown))}, not a variable of the fixed effects "
            f"({', '.join(variables) or 'none'})"
        )
    levels: dict[str, list[Any]] = {}
    factors = []
    for name in variables:
        is_factor = _is_factor(fit, name, data[name])
        if name in at:
            value = at[name]
            levels[name] = list(value) if _is_list(value) else [value]
        elif is_factor:
            levels[name] = _factor_levels(fit, name, data[name])
        else:
            levels[name] = [float(np.mean(data[name].to_numpy(dtype=np.float64)))]
        if is_factor:
            factors.append(name)
    combos = list(itertools.product(*(levels[v] for v in reversed(variables))))
    cells = pd.DataFrame([list(reversed(c)) for c in combos], columns=variables)
    frame = cells.copy()
    for name in variables:
        if isinstance(data[name].dtype, pd.CategoricalDtype):
            frame[name] = pd.Categorical(frame[name], categories=data[name].cat.categories)
    X = fixed_rows(fit, frame) if variables else np.ones((1, len(fit.design.x_columns)))
    return ReferenceGrid(levels, tuple(factors), cells, np.asarray(X, dtype=np.float64))


def _fixed_variables(fit: MixedModelResult) -> list[str]:
    names: list[str] = []
    for term in fit.design.spec.fixed.terms:
        for factor in term.factors:
            names += [n for n in variables_of(factor) if n not in names]
    return names


def _is_factor(fit: MixedModelResult, name: str, column: pd.Series) -> bool:
    """A variable is a factor when its column is not numeric (text, categorical, logical) or
    the formula makes it one (``C(x)``, ``factor(x)``)."""
    if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return True
    spec = fit.design.fixed.spec
    states = {} if spec is None else spec.encoder_state
    for expr, (kind, _) in states.items():
        if str(getattr(kind, "value", kind)) == "categorical" and name in _names_in(expr):
            return True
    return False


def _names_in(expr: str) -> set[str]:
    token = ""
    found = set()
    for ch in expr + " ":
        if ch.isalnum() or ch in "._":
            token += ch
        else:
            if token:
                found.add(token)
            token = ""
    return found


def _factor_levels(fit: MixedModelResult, name: str, column: pd.Series) -> list[Any]:
    spec = fit.design.fixed.spec
    state = {} if spec is None else spec.encoder_state.get(name, (None, {}))[1]
    if isinstance(state, dict) and state.get("categories") is not None:
        return list(state["categories"])
    if isinstance(column.dtype, pd.CategoricalDtype):
        return [c for c in column.cat.categories if (column == c).any()]
    return sorted(pd.unique(column.dropna()).tolist())


def _is_list(value: object) -> bool:
    if isinstance(value, str):
        return False
    if isinstance(value, list | tuple | np.ndarray | pd.Series | pd.Index):
        return True
    if hasattr(value, "__iter__"):
        raise ArgumentTypeError(f"at values must be a value or a list, not {type(value).__name__}")
    return False
