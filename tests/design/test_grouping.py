"""Grouping factors: observed levels only, R's level order and labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmerpy import datasets
from lmerpy.design.grouping import grouping_factor, level_labels


def test_categorical_keeps_its_level_order_and_drops_unused_levels() -> None:
    col = pd.Series(pd.Categorical(["b", "c", "b"], categories=["c", "b", "a"]))
    g = grouping_factor(("g",), pd.DataFrame({"g": col}))
    assert list(g.levels) == ["c", "b"]
    assert g.codes.tolist() == [1, 0, 1]


def test_numbers_are_levels_sorted_numerically_labelled_as_r() -> None:
    g = grouping_factor(("g",), pd.DataFrame({"g": [10.0, 2.0, 1.5, 2.0]}))
    assert list(g.levels) == ["1.5", "2", "10"]
    assert g.codes.tolist() == [2, 1, 0, 1]


@pytest.mark.parametrize(
    ("values", "texts", "codes"),
    [
        (np.array([10, -2, 3, 10], dtype=np.int64), ["-2", "3", "10"], [2, 0, 1, 2]),
        (np.array([7, 7, 1], dtype=np.uint8), ["1", "7"], [1, 1, 0]),
        (np.array([10**15, 1, 10**15]), ["1", "1000000000000000"], [1, 0, 1]),  # wide range
        (np.array([2**63 - 1, -(2**63)]), ["-9223372036854775808", "9223372036854775807"], [1, 0]),
        (np.array([2**64 - 1, 0], dtype=np.uint64), ["0", "18446744073709551615"], [1, 0]),
    ],
)
def test_integers_sort_numerically_as_r_factor_does(
    values: np.ndarray, texts: list[str], codes: list[int]
) -> None:
    # R: factor(c(10L, -2L, 3L, 10L)) has levels "-2" "3" "10"
    labels = level_labels(pd.Series(values))
    assert labels.texts == texts
    assert labels.codes.tolist() == codes


def test_strings_sort() -> None:
    labels = level_labels(pd.Series(["b", "a", "b"]))
    assert labels.texts == ["a", "b"]
    assert labels.codes.tolist() == [1, 0, 1]


def test_missing_values_stay_missing() -> None:
    labels = level_labels(pd.Series(["b", None, "a"]))
    assert labels.texts == ["a", "b"]
    assert labels.codes.tolist() == [1, -1, 0]
    assert labels.values().tolist() == ["b", None, "a"]


def test_pastes_nested_levels_as_lme4_labels_them() -> None:
    g = grouping_factor(("cask", "batch"), datasets.load("pastes"))
    # lme4 1.1-31: levels(getME(lmer(strength ~ 1 + (1 | batch/cask), Pastes), "flist")[[1]])[1:3]
    assert list(g.levels[:3]) == ["a:A", "a:B", "a:C"]
    assert g.n_levels == 30 and g.name == "cask:batch"


def test_interaction_uses_observed_combinations_only() -> None:
    data = pd.DataFrame({"a": ["x", "x", "y"], "b": ["1", "2", "1"]})
    g = grouping_factor(("a", "b"), data)
    assert list(g.levels) == ["x:1", "x:2", "y:1"]
    np.testing.assert_array_equal(g.codes, [0, 1, 2])
