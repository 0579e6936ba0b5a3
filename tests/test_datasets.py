"""Bundled data sets load with R's types."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import lmerpy
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


def test_read_csv_takes_the_schema_beside_the_file(tmp_path: Path) -> None:
    lmerpy.datasets.load("cbpp").to_csv(tmp_path / "cbpp.csv", index=False)
    with pytest.raises(lmerpy.errors.DataError, match="with its schema"):
        lmerpy.datasets.read_csv(tmp_path / "cbpp.csv")
    schema = Path(lmerpy.datasets.__file__).parent / "cbpp.schema.json"
    (tmp_path / "cbpp.schema.json").write_text(schema.read_text())
    frame = lmerpy.datasets.read_csv(tmp_path / "cbpp.csv")
    assert list(frame["period"].cat.categories) == ["1", "2", "3", "4"]
