"""glmer on data read in chunks: PIRLS as passes over Parquet files and Dask partitions gives
the fit of the same rows in memory (logLik to 1e-6 relative, estimates to 1e-5), for nAGQ = 0
and for the Laplace approximation, with memory bounded by a chunk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import lmerpy
from lmerpy.errors import ArgumentError, DataError
from tests.data.helpers import memory_probe
from tests.fits import data

CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
TICKS = "TICKS ~ YEAR + (1 | BROOD)"


def assert_same_glmm(chunked: lmerpy.GlmerResult, memory: lmerpy.GlmerResult) -> None:
    """The issue's bar: logLik to 1e-6 relative, estimates to 1e-5."""
    assert chunked.loglik == pytest.approx(memory.loglik, rel=1e-6)
    assert chunked.nobs == memory.nobs
    assert chunked.design.x_columns == memory.design.x_columns
    assert chunked.ngroups == memory.ngroups
    np.testing.assert_allclose(chunked.fixef, memory.fixef, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(chunked.theta, memory.theta, rtol=1e-5, atol=1e-7)
    se = np.sqrt(np.diag(memory.vcov))
    np.testing.assert_allclose(np.sqrt(np.diag(chunked.vcov)), se, rtol=1e-4)
    for group, modes in memory.ranef.items():
        pd.testing.assert_index_equal(chunked.ranef[group].index, modes.index)
        np.testing.assert_allclose(chunked.ranef[group], modes, rtol=1e-4, atol=1e-6)


def _parquet(frame: pd.DataFrame, path: Path, row_group: int) -> Path:
    pq.write_table(
        pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=row_group
    )
    return path


@pytest.mark.parametrize("nagq", [0, 1])
def test_binomial_cbind_from_parquet_fits_like_the_frame_in_memory(
    tmp_path: Path, nagq: int
) -> None:
    frame = data("cbpp")
    path = _parquet(frame, tmp_path / "cbpp.parquet", row_group=20)
    memory = lmerpy.glmer(CBPP, frame, family="binomial", nagq=nagq)
    chunked = lmerpy.glmer(CBPP, path, family="binomial", nagq=nagq, batch_size=20)
    assert_same_glmm(chunked, memory)
    assert chunked.devfun.passes > 10  # PIRLS really went over the chunks


def test_poisson_with_missing_rows_and_string_groups_from_a_parquet_folder(
    tmp_path: Path,
) -> None:
    frame = data("grouseticks").copy()
    frame["BROOD"] = "brood-" + frame["BROOD"].astype(str)
    frame.loc[[3, 50], "TICKS"] = np.nan
    folder = tmp_path / "ticks"
    folder.mkdir()
    for k, part in enumerate(np.array_split(np.arange(len(frame)), 3)):
        _parquet(frame.iloc[part], folder / f"part-{k}.parquet", row_group=60)
    with pytest.warns(lmerpy.errors.RowsDroppedWarning):
        memory = lmerpy.glmer(TICKS, frame, family="poisson", nagq=0)
    with pytest.warns(lmerpy.errors.RowsDroppedWarning, match="2 of 403 rows"):
        chunked = lmerpy.glmer(TICKS, folder, family="poisson", nagq=0, batch_size=100)
    assert_same_glmm(chunked, memory)


def test_a_chunk_without_complete_rows_adds_nothing(tmp_path: Path) -> None:
    frame = data("cbpp").copy()
    frame.loc[:13, "incidence"] = np.nan  # the first file: every response missing
    folder = tmp_path / "cbpp"
    folder.mkdir()
    _parquet(frame.iloc[:14], folder / "part-0.parquet", row_group=14)
    _parquet(frame.iloc[14:], folder / "part-1.parquet", row_group=14)
    with pytest.warns(lmerpy.errors.RowsDroppedWarning):
        memory = lmerpy.glmer(CBPP, frame, family="binomial", nagq=0)
    with pytest.warns(lmerpy.errors.RowsDroppedWarning, match="14 of 56 rows"):
        chunked = lmerpy.glmer(CBPP, folder, family="binomial", nagq=0, batch_size=14)
    assert_same_glmm(chunked, memory)


@pytest.mark.timeout(600)
def test_a_dask_dataframe_fits_like_the_frame_in_memory(client: object) -> None:
    import dask.dataframe as dd

    frame = data("cbpp")
    memory = lmerpy.glmer(CBPP, frame, family="binomial", nagq=0)
    chunked = lmerpy.glmer(CBPP, dd.from_pandas(frame, npartitions=3), family="binomial", nagq=0)
    assert_same_glmm(chunked, memory)


def test_what_needs_the_rows_is_refused_clearly(tmp_path: Path) -> None:
    path = _parquet(data("cbpp"), tmp_path / "cbpp.parquet", row_group=20)
    with pytest.raises(ArgumentError, match="nagq = 2"):
        lmerpy.glmer(CBPP, path, family="binomial", nagq=2)
    with pytest.raises(ArgumentError, match="zi= and disp="):
        lmerpy.glmer("incidence ~ period + (1 | herd)", path, family="poisson", zi="~ 1")
    with pytest.raises(ArgumentError, match="nbinom2 family needs the rows"):
        lmerpy.glmer("incidence ~ period + (1 | herd)", path, family="nbinom2")
    fit = lmerpy.glmer(CBPP, path, family="binomial", nagq=0)
    for what in ("fitted", "residuals", "pearson_residuals"):
        with pytest.raises(DataError, match="data read in chunks"):
            getattr(fit, what)
    with pytest.raises(DataError, match="data read in chunks"):
        fit.simulate(1)
    assert "Scaled residuals" not in str(fit.summary())


_MEMORY_FIT = """
formula = "y ~ x + (1 | g)"
if mode == "parquet":
    fit = lmerpy.glmer(formula, path, family="binomial", nagq=0, batch_size=20_000)
else:
    import pandas as pd
    fit = lmerpy.glmer(formula, pd.read_parquet(path), family="binomial", nagq=0)
out = {"loglik": fit.loglik}
"""


def _probe(mode: str, path: Path) -> dict[str, float]:
    return memory_probe(_MEMORY_FIT, mode, path)


@pytest.mark.timeout(600)
def test_a_parquet_glmm_needs_under_half_the_memory_of_the_fit_in_memory(tmp_path: Path) -> None:
    """200,000 binary rows read in batches of 20,000: above what a tiny fit needs, the
    streamed fit's peak grows by less than half what the fit in memory needs."""
    rng = np.random.default_rng(7)
    n, groups = 200_000, 500
    g = rng.integers(0, groups, n)
    x = rng.normal(size=n)
    eta = -0.5 + 0.8 * x + rng.normal(scale=0.7, size=groups)[g]
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(np.float64)
    table = pa.table({"y": y, "x": x, "g": g})
    pq.write_table(table, tmp_path / "big.parquet", row_group_size=20_000)
    pq.write_table(table.slice(0, 5000), tmp_path / "tiny.parquet")
    baseline = _probe("parquet", tmp_path / "tiny.parquet")
    streamed = _probe("parquet", tmp_path / "big.parquet")
    in_memory = _probe("memory", tmp_path / "big.parquet")
    assert streamed["loglik"] == pytest.approx(in_memory["loglik"], rel=1e-6)
    assert streamed["peak"] - baseline["peak"] < (in_memory["peak"] - baseline["peak"]) / 2
