"""Grouping factors: integer codes and level labels, as lme4 forms them.

A grouping factor is one variable or an interaction ``a:b`` of several; only the
combinations that occur in the data become levels (lme4's ``%i%``). Numbers and
strings are treated as categorical, as R's ``factor()`` would; a pandas Categorical
keeps its own level order, other columns sort their values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = ["GroupingFactor", "grouping_factor", "level_labels"]


@dataclass(frozen=True)
class GroupingFactor:
    """Codes (row -> level index) and the labels of the observed levels."""

    name: str
    codes: NDArray[np.int64]
    levels: pd.Index

    @property
    def n_levels(self) -> int:
        return len(self.levels)


def grouping_factor(variables: tuple[str, ...], data: pd.DataFrame) -> GroupingFactor:
    """The factor of ``a:b:...`` over ``data`` (complete cases), unused levels dropped.

    Levels of an interaction are ordered with the first variable varying slowest and
    labelled ``"a-level:b-level"``, as R's ``a:b`` labels them.
    """
    parts = [level_labels(data[v]) for v in variables]
    codes = np.stack([np.asarray(p.codes, dtype=np.int64) for p in parts], axis=1)
    observed, inverse = np.unique(codes, axis=0, return_inverse=True)
    labels = [
        ":".join(str(p.categories[c]) for p, c in zip(parts, row, strict=True)) for row in observed
    ]
    name = ":".join(variables)
    return GroupingFactor(name, inverse.reshape(-1).astype(np.int64), pd.Index(labels, name=name))


def level_labels(column: pd.Series) -> pd.Categorical[str]:
    """A column as an R factor: its own categories, or its sorted values as text."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        categories = [str(c) for c in column.cat.categories]
        return pd.Categorical(column.astype(object).map(str), categories=categories)
    values = column.to_numpy()
    uniques = np.unique(values)
    text = [_label(u) for u in uniques]
    mapping = dict(zip(uniques.tolist(), text, strict=True))
    return pd.Categorical([mapping[v] for v in values.tolist()], categories=text)


def _label(value: object) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)
