"""Pass two over data in chunks: encode each chunk as the whole data would be encoded, and
turn it into its cross-products.

An ``Encoder`` is built from a merged ``Schema``: the formulaic specs of the fixed effects and
of each random term's left-hand side (materialised once on a small frame holding every level,
with ``scale()``'s centre and scale set from the whole data), and each grouping factor's levels.
``encoder.cross_products(chunk)`` is the map step; ``+`` on the results is the reduce step.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..design import RandomEffectsTerm, offset_vector, response_vector
from ..design.build import require_finite
from ..design.grouping import GroupingFactor, _label
from ..design.matrices import ModelMatrix, expression_code, model_matrix
from ..errors import DataError
from ..formula import LinearTerms, ModelSpec, RandomTerm
from ..formula.ast import Call, Name
from ..solver import ReBlock
from ..terms import get_term_type
from .crossproducts import CrossProducts
from .schema import Schema

__all__ = ["Encoder", "GroupCoder"]

IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class _Part:
    """One variable of a grouping factor: its labels and how to code values into them."""

    name: str
    labels: list[str]
    values: NDArray[Any] | None
    """Sorted distinct values (None for a pandas Categorical, coded through its labels)."""

    def codes(self, column: pd.Series) -> IntArray:
        if isinstance(column.dtype, pd.CategoricalDtype):
            own = pd.Index(self.labels).get_indexer(
                pd.Index([str(c) for c in column.cat.categories])
            )
            codes = np.asarray(own, dtype=np.int64)[column.cat.codes.to_numpy()]
        elif self.values is not None and self.values.dtype.kind in "iu":
            codes = _lookup(self.values, column.to_numpy())
        elif self.values is not None and self.values.dtype.kind == "f":
            codes = _search(self.values.astype(np.float64), column.to_numpy())
        else:
            values = pd.Index(self.values if self.values is not None else self.labels)
            codes = np.asarray(values.get_indexer(pd.Index(column.to_numpy())), dtype=np.int64)
        if codes.size and codes.min() < 0:
            raise DataError(
                f"'{self.name}' has a value the first pass over the data did not see: "
                "the data changed between the two passes"
            )
        return codes


def _lookup(sorted_values: NDArray[Any], values: NDArray[Any]) -> IntArray:
    """Codes of integer ids: a table lookup when the ids span a range not much larger than
    their number (the usual 0..n-1 or 1..n ids), else a binary search."""
    low, high = int(sorted_values[0]), int(sorted_values[-1])
    if values.dtype.kind not in "iu" or high - low > 4 * sorted_values.size + 1024:
        return _search(sorted_values.astype(np.float64), values)
    table = np.full(high - low + 1, -1, dtype=np.int64)
    table[sorted_values - low] = np.arange(sorted_values.size)
    shifted = values.astype(np.int64) - low
    inside = (shifted >= 0) & (shifted <= high - low)
    return np.where(inside, table[np.clip(shifted, 0, high - low)], -1)


def _search(sorted_values: NDArray[np.float64], values: NDArray[Any]) -> IntArray:
    x = np.asarray(values, dtype=np.float64)
    pos = np.searchsorted(sorted_values, x)
    pos = np.minimum(pos, len(sorted_values) - 1)
    hit = sorted_values[pos] == x
    return np.where(hit, pos, -1).astype(np.int64)


@dataclass(frozen=True)
class GroupCoder:
    """A grouping factor's levels over all the data, and its codes on any chunk."""

    name: str
    parts: tuple[_Part, ...]
    keys: IntArray
    """Sorted keys (mixed-radix part codes) of the observed levels."""

    @property
    def levels(self) -> pd.Index:
        sizes = [len(p.labels) for p in self.parts]
        if not self.keys.size:
            return pd.Index([], name=self.name, dtype=object)
        codes = np.stack(np.unravel_index(self.keys, sizes), axis=1).tolist()
        labels = [
            ":".join(p.labels[c] for p, c in zip(self.parts, row, strict=True)) for row in codes
        ]
        return pd.Index(labels, name=self.name)

    @property
    def n_levels(self) -> int:
        return int(self.keys.size)

    @cached_property
    def _all_seen(self) -> bool:
        size = len(self.parts[0].labels)
        return bool(self.keys.size == size and (size == 0 or self.keys[-1] == size - 1))

    def codes(self, frame: pd.DataFrame) -> IntArray:
        if len(self.parts) == 1 and self._all_seen:  # levels are the variable's values
            return self.parts[0].codes(frame[self.parts[0].name])
        key = self._key([p.codes(frame[p.name]) for p in self.parts])
        pos = np.minimum(np.searchsorted(self.keys, key), self.keys.size - 1)
        if key.size and not np.all(self.keys[pos] == key):
            raise DataError(f"'{self.name}' has a level the first pass over the data did not see")
        return pos.astype(np.int64)

    def _key(self, codes: list[IntArray]) -> IntArray:
        sizes = [len(p.labels) for p in self.parts]
        return np.asarray(np.ravel_multi_index(tuple(codes), sizes), dtype=np.int64)

    @staticmethod
    def build(group: tuple[str, ...], schema: Schema) -> GroupCoder:
        parts = tuple(_part(name, schema) for name in group)
        sizes = [len(p.labels) for p in parts]
        keys: NDArray[Any]
        if len(parts) == 1:
            seen = schema.levels.get(group[0], np.zeros(0))
            keys = np.asarray(pd.Index(parts[0].labels).get_indexer(pd.Index(_labels(seen))))
        else:
            combos = schema.interactions.get(":".join(group), [])
            frame = pd.DataFrame(combos, columns=list(group))
            codes = [p.codes(frame[p.name]) for p in parts]
            keys = np.asarray(np.ravel_multi_index(tuple(codes), sizes)) if combos else np.zeros(0)
        return GroupCoder(":".join(group), parts, np.unique(np.asarray(keys, dtype=np.int64)))


def _part(name: str, schema: Schema) -> _Part:
    if name in schema.categories:
        return _Part(name, list(schema.categories[name]), None)
    values = schema.levels.get(name, np.zeros(0))
    return _Part(name, _labels(values), values)


def _labels(values: NDArray[Any]) -> list[str]:
    """R's factor labels of sorted values (``grouping.level_labels``)."""
    if values.dtype.kind in "iu":
        return [str(v) for v in values.tolist()]
    return [_label(v) for v in values.tolist()]


class Encoder:
    """Encodes chunks of data the same way, from a schema of all of them."""

    def __init__(self, schema: Schema) -> None:
        if schema.complete_rows == 0:
            raise DataError("no rows left after dropping rows with missing values")
        self.schema = schema
        self.spec: ModelSpec = schema.spec
        frame = _schema_frame(schema, self.spec)
        self.fixed = _with_scales(model_matrix(self.spec.fixed, frame), schema, self.spec.fixed)
        self._lhs: dict[LinearTerms, ModelMatrix] = {self.spec.fixed: self.fixed}
        for rt in self.spec.random:
            if rt.lhs not in self._lhs:
                self._lhs[rt.lhs] = _with_scales(model_matrix(rt.lhs, frame), schema, rt.lhs)
        coders = [GroupCoder.build(rt.group, schema) for rt in self.spec.random]
        order = sorted(range(len(coders)), key=lambda k: -coders[k].n_levels)  # stable, lme4
        self.random: list[RandomTerm] = [self.spec.random[k] for k in order]
        self.coders = [coders[k] for k in order]

    @cached_property
    def terms(self) -> tuple[RandomEffectsTerm, ...]:
        """The random terms in lme4's order, with levels and no rows."""
        out = []
        for rt, coder in zip(self.random, self.coders, strict=True):
            lhs = self._lhs[rt.lhs]
            empty = ModelMatrix(np.zeros((0, len(lhs.columns))), lhs.columns, lhs.spec)
            factor = GroupingFactor(coder.name, np.zeros(0, dtype=np.int64), list(coder.levels))
            out.append(
                RandomEffectsTerm(rt, factor, empty, get_term_type(rt.type, dict(rt.options)))
            )
        return tuple(out)

    def empty(self) -> CrossProducts:
        """The cross-products of no rows."""
        dims = [len(self._lhs[rt.lhs].columns) for rt in self.random]
        return CrossProducts.empty([c.n_levels for c in self.coders], dims, len(self.fixed.columns))

    def cross_products(self, chunk: pd.DataFrame) -> CrossProducts:
        """The cross-products of a chunk's complete cases (the map step)."""
        frame = chunk[self.complete(chunk)]
        if len(frame) == 0:
            return self.empty()
        y, X, blocks, offset = self.rows(frame)
        return CrossProducts.from_rows(blocks, X, y, self.weights(frame), offset)

    def rows(
        self, frame: pd.DataFrame
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], list[ReBlock], NDArray[np.float64] | None]:
        """y, the full X, each term's codes and model matrix, and the offset of complete rows."""
        return response_vector(self.spec, frame), *self.predictors(frame)

    def predictors(
        self, frame: pd.DataFrame
    ) -> tuple[NDArray[np.float64], list[ReBlock], NDArray[np.float64] | None]:
        """The full X, each term's codes and model matrix, and the offset of complete rows."""
        X = self._matrix(self.fixed, frame, "the fixed effects")
        blocks = []
        for rt, coder in zip(self.random, self.coders, strict=True):
            lhs = self._matrix(self._lhs[rt.lhs], frame, f"the random term {rt}")
            blocks.append(ReBlock(coder.codes(frame), coder.n_levels, lhs))
        return X, blocks, offset_vector(self.spec, frame)

    def complete(self, chunk: pd.DataFrame) -> NDArray[np.bool_]:
        """Which rows of a chunk have every used variable (and weight)."""
        used = [*self.spec.variables, *([self.schema.weights] if self.schema.weights else [])]
        missing = [c for c in used if c not in chunk.columns]
        if missing:
            raise DataError(f"a chunk of the data has no column '{missing[0]}'")
        return np.asarray(~chunk[used].isna().any(axis=1).to_numpy(), dtype=bool)

    def _matrix(self, matrix: ModelMatrix, frame: pd.DataFrame, what: str) -> NDArray[np.float64]:
        try:
            with np.errstate(all="ignore"):
                values = matrix.on(frame)
        except Exception as exc:  # formulaic or pandas failing on this chunk
            raise DataError(f"cannot build {what} from a chunk of the data: {exc}") from None
        require_finite(values, what)
        return values

    def weights(self, frame: pd.DataFrame) -> NDArray[np.float64] | None:
        """The prior weights of complete rows (None without a weights column)."""
        if self.schema.weights is None:
            return None
        try:
            w = frame[self.schema.weights].to_numpy(dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError("weights must be numeric") from None
        if not np.all(np.isfinite(w)) or np.any(w <= 0):
            raise DataError("weights must be positive and finite")
        return w


def _schema_frame(schema: Schema, spec: ModelSpec) -> pd.DataFrame:
    """A small frame holding every level of every categorical variable (other columns 1.0 and 2.0),
    on which formulaic learns the encoding."""
    sizes = [v.size for v in schema.levels.values()] + [len(c) for c in schema.categories.values()]
    n = max([2, *sizes])
    columns: dict[str, Any] = {}
    for name in spec.variables:
        if name in schema.categories:
            cats = schema.categories[name]
            columns[name] = pd.Categorical(np.resize(np.asarray(cats, dtype=object), n), cats)
        elif name in schema.levels and schema.levels[name].size:
            values = pd.Series(schema.levels[name])
            columns[name] = values.iloc[np.arange(n) % len(values)].to_numpy()
        else:
            columns[name] = 1.0 + np.arange(n) % 2  # varies, so scale() has a scale
    return pd.DataFrame(columns)


def _with_scales(matrix: ModelMatrix, schema: Schema, terms: LinearTerms) -> ModelMatrix:
    """Set ``scale(x)``'s centre and scale to those of the whole data."""
    if matrix.spec is None:
        return matrix
    state = matrix.spec.transform_state
    for node in _scale_calls(terms):
        key = expression_code(node)
        arg = node.args[0]
        assert isinstance(arg, Name)
        moment = schema.moments[arg.name]
        entry = state.get(key)
        if entry is None:
            raise DataError(f"cannot find the state of {node} in the encoding")
        if entry.get("center") is not None:
            entry["center"] = np.float64(moment.mean)
        if entry.get("scale") is not None:
            # formulaic: sqrt(sum((x - centre)²) / (n - 1)), centre the mean or none
            ss = (
                moment.m2
                if entry.get("center") is not None
                else moment.m2 + moment.n * moment.mean**2
            )
            entry["scale"] = np.float64(np.sqrt(ss / (moment.n - entry.get("ddof", 1))))
    return matrix


def _scale_calls(terms: LinearTerms) -> list[Call]:
    out = []
    stack: list[Any] = [f for t in terms.terms for f in t.factors]
    while stack:
        node = stack.pop()
        if isinstance(node, Call):
            if node.func == "scale":
                out.append(node)
            stack.extend(node.args)
        elif hasattr(node, "left"):
            stack.extend([node.left, node.right])
        elif hasattr(node, "operand"):
            stack.append(node.operand)
        elif hasattr(node, "inner"):
            stack.append(node.inner)
    return out
