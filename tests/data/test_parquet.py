"""Parquet datasets streamed with pyarrow: the fit equals the fit of the rows in memory,
whatever the files, row groups and batches; memory stays bounded by a batch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import lmerpy
from tests.data.helpers import assert_same_fit, memory_probe
from tests.fits import data


def _write_parts(frame: pd.DataFrame, folder: Path, parts: int, row_group: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, piece in enumerate(np.array_split(np.arange(len(frame)), parts)):
        path = folder / f"part-{k:02d}.parquet"
        table = pa.Table.from_pandas(frame.iloc[piece], preserve_index=False)
        pq.write_table(table, path, row_group_size=row_group)
        paths.append(path)
    return paths


def _with_missing() -> pd.DataFrame:
    frame = data("exam").copy()
    frame.loc[[5, 600, 2000], "normexam"] = np.nan
    frame.loc[[17], "sex"] = None
    return frame


FORMULA = "normexam ~ scale(standLRT) + sex + (standLRT | school)"


def test_a_parquet_glob_fits_like_the_frame_in_memory(tmp_path: Path) -> None:
    frame = _with_missing()
    _write_parts(frame, tmp_path / "exam", parts=4, row_group=300)
    with pytest.warns(lmerpy.errors.RowsDroppedWarning):
        memory = lmerpy.lmer(FORMULA, frame)
    with pytest.warns(lmerpy.errors.RowsDroppedWarning, match="4 of 4059 rows"):
        chunked = lmerpy.lmer(FORMULA, str(tmp_path / "exam" / "*.parquet"), batch_size=500)
    assert_same_fit(chunked, memory)


def test_a_directory_a_file_list_and_string_ids_all_work(tmp_path: Path) -> None:
    frame = data("sleepstudy").assign(Subject=lambda d: "s" + d["Subject"].astype(str))
    paths = _write_parts(frame, tmp_path / "sleep", parts=3, row_group=25)
    formula = "Reaction ~ Days + (Days | Subject)"
    memory = lmerpy.lmer(formula, frame)
    assert_same_fit(lmerpy.lmer(formula, tmp_path / "sleep", batch_size=40), memory)
    assert_same_fit(lmerpy.lmer(formula, [str(p) for p in paths]), memory)


def test_weights_column_from_parquet(tmp_path: Path) -> None:
    frame = data("sleepstudy").assign(w=np.linspace(0.5, 2.0, 180))
    _write_parts(frame, tmp_path / "w", parts=2, row_group=50)
    formula = "Reaction ~ Days + (1 | Subject)"
    memory = lmerpy.lmer(formula, frame, weights="w")
    assert_same_fit(lmerpy.lmer(formula, tmp_path / "w", weights="w", batch_size=64), memory)


def test_a_path_that_matches_nothing_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(lmerpy.errors.DataSourceError, match="no Parquet file matches"):
        lmerpy.lmer("y ~ 1 + (1 | g)", str(tmp_path / "*.parquet"))
    with pytest.raises(lmerpy.errors.DataSourceError, match="no such Parquet file"):
        lmerpy.lmer("y ~ 1 + (1 | g)", str(tmp_path / "absent.parquet"))


def test_a_file_that_is_not_parquet_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    path.write_text("y,g\n1,a\n")
    with pytest.raises(lmerpy.errors.DataSourceError, match="Parquet"):
        lmerpy.lmer("y ~ 1 + (1 | g)", str(path))


def test_a_missing_column_in_parquet_says_did_you_mean(tmp_path: Path) -> None:
    _write_parts(data("sleepstudy"), tmp_path / "s", parts=1, row_group=100)
    with pytest.raises(lmerpy.errors.MissingColumnError, match="did you mean 'Reaction'"):
        lmerpy.lmer("Reactoin ~ Days + (1 | Subject)", tmp_path / "s")


def test_fitted_values_stream_to_parquet(tmp_path: Path) -> None:
    frame = _with_missing()
    _write_parts(frame, tmp_path / "exam", parts=3, row_group=400)
    with pytest.warns(lmerpy.errors.RowsDroppedWarning):
        memory = lmerpy.lmer(FORMULA, frame)
        chunked = lmerpy.lmer(FORMULA, tmp_path / "exam", batch_size=700)
        rows = lmerpy.write_fitted(chunked, tmp_path / "exam", tmp_path / "fitted.parquet")
    out = pd.read_parquet(tmp_path / "fitted.parquet")
    assert rows == len(out) == memory.nobs
    np.testing.assert_array_equal(out["row"], memory.fitted.index.to_numpy())
    np.testing.assert_allclose(out["fitted"], memory.fitted, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(out["resid"], memory.residuals, rtol=1e-5, atol=1e-7)


_MEMORY_FIT = """
if mode == "parquet":
    fit = lmerpy.lmer("y ~ x + (1 | g)", path, batch_size=50_000)
else:
    import pandas as pd
    fit = lmerpy.lmer("y ~ x + (1 | g)", pd.read_parquet(path))
out = {"objective": fit.objective}
"""


def _probe(mode: str, path: Path) -> dict[str, float]:
    return memory_probe(_MEMORY_FIT, mode, path)


@pytest.mark.timeout(600)
def test_a_parquet_fit_stays_far_below_the_memory_of_the_frame(tmp_path: Path) -> None:
    """4 million rows (a 96 MB frame, several times that while fitting in memory) read in
    batches of 50,000: above what a tiny fit needs, the peak grows by a small fraction of
    the frame's size, while the fit in memory needs more than the frame."""
    rng = np.random.default_rng(5)
    n, groups = 4_000_000, 2_000
    g = rng.integers(0, groups, n)
    x = rng.normal(size=n)
    y = 1.0 + 0.5 * x + rng.normal(size=groups)[g] + rng.normal(size=n)
    pq.write_table(
        pa.table({"y": y, "x": x, "g": g}), tmp_path / "big.parquet", row_group_size=50_000
    )
    pq.write_table(
        pa.table({"y": y[:5000], "x": x[:5000], "g": g[:5000]}), tmp_path / "tiny.parquet"
    )
    del g, x, y
    baseline = _probe("parquet", tmp_path / "tiny.parquet")
    streamed = _probe("parquet", tmp_path / "big.parquet")
    in_memory = _probe("memory", tmp_path / "big.parquet")
    assert streamed["objective"] == pytest.approx(in_memory["objective"], rel=1e-9)
    frame_bytes = n * 3 * 8
    assert streamed["peak"] - baseline["peak"] < frame_bytes / 4
    assert in_memory["peak"] - baseline["peak"] > frame_bytes
