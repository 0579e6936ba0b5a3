"""Pass one over data in chunks: what encoding needs from all the rows.

Every chunk must be encoded the same way for its cross-products to line up: the same
grouping-factor levels, the same levels and contrasts of categorical predictors, the same
centre and scale for ``scale(x)``. A ``Schema`` gathers these from the complete cases of one
chunk; schemas of chunks merge with ``+`` (a tree reduction works), and the merged schema is
what pass two encodes every chunk with. A schema is plain data, saved with the cross-products.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError, FormulaSemanticError, MissingColumnError
from ..formula import ModelSpec, parse_formula
from ..formula.ast import BinOp, Call, Name, Node, Paren, UnaryOp

__all__ = ["Moment", "Schema", "scan_chunk"]

_FACTOR_CALLS = {"factor", "as.factor", "C"}


@dataclass(frozen=True)
class Moment:
    """Count, mean and sum of squared deviations of a column (Chan et al.'s update)."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    @staticmethod
    def of(values: np.ndarray[Any, Any]) -> Moment:
        if values.size == 0:
            return Moment()
        mean = float(np.mean(values))
        return Moment(int(values.size), mean, float(np.sum((values - mean) ** 2)))

    def __add__(self, other: Moment) -> Moment:
        n = self.n + other.n
        if n == 0:
            return Moment()
        delta = other.mean - self.mean
        mean = self.mean + delta * other.n / n
        m2 = self.m2 + other.m2 + delta**2 * self.n * other.n / n
        return Moment(n, mean, m2)


Values = np.ndarray[Any, Any]
"""Sorted distinct values of a column (numbers, or objects such as strings)."""


@dataclass(frozen=True, eq=False)
class Schema:
    """What encoding the chunks needs, from the complete cases of the rows scanned so far.

    Attributes:
        formula: the model formula.
        weights: the name of the prior-weights column, or None.
        rows: rows scanned.
        dropped: rows dropped for a missing value in a used variable (or the weights).
        levels: per categorical variable, its distinct values (sorted when merged).
        categories: per pandas-Categorical variable, its categories in order.
        interactions: per grouping interaction ``a:b``, the value combinations seen.
        moments: per variable under ``scale()``, its count, mean and squared deviations.
    """

    formula: str
    weights: str | None = None
    rows: int = 0
    dropped: int = 0
    levels: dict[str, Values] = field(default_factory=dict)
    categories: dict[str, list[str]] = field(default_factory=dict)
    interactions: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    moments: dict[str, Moment] = field(default_factory=dict)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schema) and self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]

    @property
    def spec(self) -> ModelSpec:
        return parse_formula(self.formula)

    @property
    def complete_rows(self) -> int:
        return self.rows - self.dropped

    def __add__(self, other: Schema) -> Schema:
        """The schema of the rows of both."""
        if (self.formula, self.weights) != (other.formula, other.weights):
            raise DataError("schemas of different models cannot be merged")
        categories = dict(self.categories)
        for name, cats in other.categories.items():
            mine = categories.get(name, [])
            categories[name] = mine + [c for c in cats if c not in set(mine)]
        return Schema(
            self.formula,
            self.weights,
            self.rows + other.rows,
            self.dropped + other.dropped,
            _merge(self.levels, other.levels, _union_sorted),
            categories,
            _merge(self.interactions, other.interactions, _union_tuples),
            _merge(self.moments, other.moments, lambda a, b: a + b),
        )

    # -- persistence ----------------------------------------------------------------------------

    def to_json(self) -> str:
        data = {
            "formula": self.formula,
            "weights": self.weights,
            "rows": self.rows,
            "dropped": self.dropped,
            "levels": {k: vs.tolist() for k, vs in self.levels.items()},
            "categories": self.categories,
            "interactions": {
                k: [[_plain(v) for v in t] for t in ts] for k, ts in self.interactions.items()
            },
            "moments": {k: [m.n, m.mean, m.m2] for k, m in self.moments.items()},
        }
        return json.dumps(data)

    @staticmethod
    def from_json(text: str) -> Schema:
        data = json.loads(text)
        return Schema(
            data["formula"],
            data["weights"],
            int(data["rows"]),
            int(data["dropped"]),
            {k: _array(v) for k, v in data["levels"].items()},
            {k: list(v) for k, v in data["categories"].items()},
            {k: [tuple(t) for t in v] for k, v in data["interactions"].items()},
            {k: Moment(int(v[0]), float(v[1]), float(v[2])) for k, v in data["moments"].items()},
        )


def _merge(a: dict[str, Any], b: dict[str, Any], combine: Any) -> dict[str, Any]:
    out = dict(a)
    for key, value in b.items():
        out[key] = combine(out[key], value) if key in out else value
    return out


def _union_sorted(a: Values, b: Values) -> Values:
    try:
        if a.dtype.kind in "iuf" and b.dtype.kind in "iuf":
            return _distinct(np.concatenate([a, b]))
        return np.union1d(a, b)
    except TypeError:
        raise DataError("a categorical column mixes values that cannot be ordered") from None


def _array(values: list[Any]) -> Values:
    """Values read back from JSON: numbers as numbers, anything else as objects."""
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    return np.asarray(values) if numeric and values else np.asarray(values, dtype=object)


def _union_tuples(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return list(dict.fromkeys([*a, *b]))


def _plain(value: Any) -> Any:
    """A JSON-representable Python scalar."""
    return value.item() if isinstance(value, np.generic) else value


# ---------------------------------------------------------------------------------------------
# Scanning one chunk
# ---------------------------------------------------------------------------------------------


def scan_chunk(formula: str, chunk: pd.DataFrame, weights: str | None = None) -> Schema:
    """The schema of one chunk's complete cases."""
    spec = _parsed(formula)
    used = [*spec.variables, *([weights] if weights else [])]
    for name in used:
        if name not in chunk.columns:
            raise MissingColumnError(f"column '{name}' is not in the data", name)
    frame = chunk[used]
    missing = frame.isna().any(axis=1).to_numpy()
    frame = frame.loc[~missing]
    groups = {g for rt in spec.random for g in rt.group}
    categorical, scaled = _roles(spec)
    levels: dict[str, Values] = {}
    categories: dict[str, list[str]] = {}
    moments: dict[str, Moment] = {}
    for name in spec.variables:
        column = frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            categories[name] = [str(c) for c in column.cat.categories]
            if name in groups:  # the levels seen, as labels
                levels[name] = np.asarray(sorted({str(v) for v in column.unique()}), dtype=object)
        elif name in groups or name in categorical or not _is_number(column):
            levels[name] = _uniques(column)
        if name in scaled:
            moments[name] = Moment.of(column.to_numpy(dtype=np.float64))
    interactions = {
        ":".join(rt.group): _combinations(frame, rt.group)
        for rt in spec.random
        if len(rt.group) > 1
    }
    return Schema(
        formula, weights, len(chunk), int(missing.sum()), levels, categories, interactions, moments
    )


@lru_cache(maxsize=16)
def _parsed(formula: str) -> ModelSpec:
    return parse_formula(formula)


def _is_number(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _uniques(column: pd.Series) -> Values:
    values = column.to_numpy()
    if values.dtype.kind in "iuf":
        return _distinct(values)
    try:
        return np.asarray(sorted(_plain(v) for v in pd.unique(values)), dtype=object)
    except TypeError:
        raise DataError(f"column '{column.name}' mixes values that cannot be ordered") from None


def _distinct(values: Values) -> Values:
    """Sorted distinct numbers (a sort: several times faster than np.unique's hashing)."""
    ordered: Values = np.sort(values)
    distinct: Values = ordered[np.concatenate([[True], ordered[1:] != ordered[:-1]])]
    return distinct


def _combinations(frame: pd.DataFrame, names: tuple[str, ...]) -> list[tuple[Any, ...]]:
    unique = frame[list(names)].drop_duplicates()
    return [tuple(_plain(v) for v in row) for row in unique.itertuples(index=False)]


def _roles(spec: ModelSpec) -> tuple[set[str], set[str]]:
    """Variables used as factors, and variables under ``scale()``; refuses transforms whose
    state needs the whole column at once (orthogonal ``poly()``, ``scale()`` of an
    expression)."""
    categorical: set[str] = set()
    scaled: set[str] = set()
    nodes: list[Node] = [f for t in spec.fixed.terms for f in t.factors]
    nodes += [f for rt in spec.random for t in rt.lhs.terms for f in t.factors]
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if isinstance(node, Call):
            _check_call(node, spec, categorical, scaled)
            stack.extend(node.args[:1])
        elif isinstance(node, BinOp):
            stack.extend([node.left, node.right])
        elif isinstance(node, UnaryOp):
            stack.append(node.operand)
        elif isinstance(node, Paren):
            stack.append(node.inner)
    return categorical, scaled


def _check_call(node: Call, spec: ModelSpec, categorical: set[str], scaled: set[str]) -> None:
    arg = node.args[0]
    if node.func in _FACTOR_CALLS and isinstance(arg, Name):
        categorical.add(arg.name)
    elif node.func in _FACTOR_CALLS:
        _refuse(node, spec, "a factor of an expression")
    elif node.func == "scale" and isinstance(arg, Name):
        scaled.add(arg.name)
    elif node.func == "scale":
        _refuse(node, spec, "scale() of an expression")
    elif node.func == "poly" and not any(
        k == "raw" and isinstance(v, Name) and v.name == "TRUE" for k, v in node.kwargs
    ):
        _refuse(node, spec, "orthogonal poly()")


def _refuse(node: Call, spec: ModelSpec, what: str) -> None:
    raise FormulaSemanticError(
        f"{what} needs the whole column at once, so it is not available for data read in "
        "chunks: add the column to the data beforehand (or use poly(x, k, raw = TRUE))",
        spec.formula,
        node.start,
        node.end,
    )
