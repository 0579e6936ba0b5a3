"""Dask DataFrames: the blocks are computed on the workers of a LocalCluster (2 processes on
127.0.0.1) and summed in a tree there; the fit equals the fit of the rows in memory."""

from __future__ import annotations

from pathlib import Path

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from distributed import Client, get_task_stream

import lmerpy
from tests.data.helpers import assert_same_fit
from tests.fits import data


@pytest.mark.timeout(300)
def test_a_dask_dataframe_fits_like_the_frame_in_memory(client: Client) -> None:
    frame = data("exam").copy()
    frame.loc[[10, 11, 3000], "normexam"] = np.nan
    formula = "normexam ~ scale(standLRT) + sex + (standLRT | school)"
    with pytest.warns(lmerpy.errors.RowsDroppedWarning):
        memory = lmerpy.lmer(formula, frame)
    ddf = dd.from_pandas(frame, npartitions=7)
    with (
        get_task_stream(client) as stream,
        pytest.warns(lmerpy.errors.RowsDroppedWarning, match="3 of 4059 rows"),
    ):
        chunked = lmerpy.lmer(formula, ddf)
    assert_same_fit(chunked, memory)
    ran = {
        t["worker"]
        for t in stream.data
        if str(t["key"]).startswith(("('_apply", "('combine", "_apply", "combine"))
    }
    assert len(ran) == 2  # the map and the tree reduction ran on both worker processes


@pytest.mark.timeout(300)
def test_dask_crossed_factors_from_parquet(client: Client, tmp_path: Path) -> None:
    frame = data("penicillin")
    frame.to_parquet(tmp_path / "pen.parquet", row_group_size=20)
    formula = "diameter ~ 1 + (1 | plate) + (1 | sample)"
    ddf = dd.read_parquet(tmp_path / "pen.parquet", split_row_groups=True)
    assert ddf.npartitions > 1
    assert_same_fit(lmerpy.lmer(formula, ddf), lmerpy.lmer(formula, frame))


@pytest.mark.timeout(300)
def test_dask_cross_products_equal_serial_ones(client: Client) -> None:
    frame = data("sleepstudy")
    formula = "Reaction ~ Days + (Days | Subject)"
    serial = lmerpy.cross_products(formula, frame, batch_size=50)
    distributed = lmerpy.cross_products(formula, dd.from_pandas(frame, npartitions=4))
    np.testing.assert_allclose(distributed.xy, serial.xy, rtol=1e-13)
    np.testing.assert_allclose(distributed.diag[0], serial.diag[0], rtol=1e-13)
    assert distributed.n == serial.n == 180


def test_a_worker_failure_is_a_clear_error(client: Client) -> None:
    bad = dd.from_pandas(
        pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "g": ["a", "b", "a", "b"]}), npartitions=2
    )
    bad = bad.map_partitions(_explode, meta=bad._meta)
    with pytest.raises(lmerpy.errors.DataSourceError, match="Dask computation failed"):
        lmerpy.lmer("y ~ 1 + (1 | g)", bad)


def _explode(part: pd.DataFrame) -> pd.DataFrame:
    raise RuntimeError("disk on fire")


@pytest.mark.timeout(300)
def test_fitted_values_of_a_dask_fit_stream_to_parquet(client: Client, tmp_path: Path) -> None:
    frame = data("sleepstudy")
    formula = "Reaction ~ Days + (Days | Subject)"
    ddf = dd.from_pandas(frame, npartitions=3)
    chunked = lmerpy.lmer(formula, ddf)
    rows = lmerpy.write_fitted(chunked, ddf, tmp_path / "fitted.parquet")
    out = pd.read_parquet(tmp_path / "fitted.parquet")
    memory = lmerpy.lmer(formula, frame)
    assert rows == 180
    np.testing.assert_allclose(out["fitted"], memory.fitted, rtol=1e-6)
