"""Bundled data sets load with R's types."""

from __future__ import annotations

import pandas as pd
import pytest

from lmerpy import datasets
from lmerpy.errors import DataError


@pytest.mark.parametrize("name", datasets.names())
def test_every_data_set_loads_with_a_description(name: str) -> None:
    frame = datasets.load(name)
    assert len(frame) > 0 and datasets.DESCRIPTIONS[name]


def test_factor_level_order_is_rs() -> None:
    exam = datasets.load("exam")
    assert isinstance(exam["schgend"].dtype, pd.CategoricalDtype)
    assert list(exam["schgend"].cat.categories) == [
        "mixed",
        "boys",
        "girls",
    ]  # levels(Exam$schgend)
    assert exam.shape == (4059, 10)


def test_unknown_data_set_lists_the_available_ones() -> None:
    with pytest.raises(DataError, match="available: cake"):
        datasets.load("iris")
