"""Figures (``lmerpy.kaplan2010.plots``): what each draws, on new figures and on given Axes, and the
PNG files ``lmerpy demo --out`` writes. matplotlib is in the test extra."""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.figure import Figure

import lmerpy
from lmerpy.__main__ import main
from lmerpy.errors import DataError, MissingColumnError
from lmerpy.kaplan2010 import plots
from lmerpy.kaplan2010.level1 import level1_intervals
from lmerpy.kaplan2010.ols import OlsResult, lm
from lmerpy.kaplan2010.plots import caterpillar, fitted_lines, level1_bands
from lmerpy.kaplan2010.report import report_intervals
from lmerpy.lmm.result import LmerResult

NINE = ["28", "53", "59", "23", "7", "16", "2", "10", "37"]
KW = {"x": "standLRT", "y": "normexam", "group": "school"}


@cache
def exam() -> pd.DataFrame:
    return lmerpy.datasets.load("exam")


@cache
def m0() -> OlsResult:
    return lm("normexam ~ standLRT", exam())


@cache
def m3() -> LmerResult:
    return lmerpy.lmer("normexam ~ standLRT + (standLRT | school)", exam())


@cache
def m1() -> LmerResult:
    return lmerpy.lmer("normexam ~ standLRT + (1 | school)", exam())


def collections(axis: object, kind: type) -> list[object]:
    return [c for c in axis.collections if type(c) is kind]  # type: ignore[attr-defined]


# ---- fitted lines (Figures 1.1, 2.1-2.3, 4.1) --------------------------------------------
def test_fitted_lines_one_panel_per_school_one_line_per_model() -> None:
    fig = fitted_lines({"OLS": m0(), "Var. Interc.": m1(), "HLM": m3()}, exam(), NINE, **KW)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 9
    sizes = exam()["school"].astype(str).value_counts()
    for axis, school in zip(fig.axes, NINE, strict=True):
        assert axis.get_title() == f"school {school}"
        assert [line.get_label() for line in axis.get_lines()] == ["OLS", "Var. Interc.", "HLM"]
        (points,) = collections(axis, PathCollection)
        assert len(points.get_offsets()) == sizes[school]
    # a line is the model's fitted values: school 28's HLM line is coef(m3) for school 28
    hlm = fig.axes[0].get_lines()[2]
    a, b = m3().coef["school"].loc["28"]
    x, y = hlm.get_xdata(), hlm.get_ydata()
    np.testing.assert_allclose(y, a + b * np.asarray(x), atol=1e-10)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "data",
        "OLS",
        "Var. Interc.",
        "HLM",
    ]


def test_fitted_lines_on_given_axes_with_styles() -> None:
    fig = Figure()
    axes = fig.subplots(1, 2)
    out = fitted_lines({"HLM": m3()}, exam(), ["48", "53"], styles={"HLM": {"color": "red"}},
                       ax=list(axes), **KW)  # fmt: skip
    assert out is fig
    assert axes[0].get_lines()[0].get_color() == "red"
    assert len(collections(axes[0], PathCollection)[0].get_offsets()) == 2  # school 48
    with pytest.raises(DataError, match="one matplotlib Axes per group: 3 needed, 2 given"):
        fitted_lines({"HLM": m3()}, exam(), ["1", "2", "3"], ax=list(axes), **KW)


def test_fitted_lines_bad_input() -> None:
    with pytest.raises(MissingColumnError, match="'standlrt'"):
        fitted_lines({"HLM": m3()}, exam(), NINE, x="standlrt", y="normexam", group="school")
    with pytest.raises(DataError, match="no such school in the data: 99"):
        fitted_lines({"HLM": m3()}, exam(), ["99"], **KW)
    with pytest.raises(DataError, match="at least one fit"):
        fitted_lines({}, exam(), NINE, **KW)
    other = lmerpy.datasets.load("exam").set_index(pd.RangeIndex(10_000, 14_059))
    with pytest.raises(DataError, match="not fitted to these rows"):
        fitted_lines({"HLM": m3()}, other, NINE, **KW)


# ---- Figure 3.1 ------------------------------------------------------------------------------
def test_level1_bands_one_band_per_school_per_coefficient() -> None:
    ci = level1_intervals(m3())
    fig = level1_bands(ci)
    assert [axis.get_title() for axis in fig.axes] == ["(Intercept)", "standLRT"]
    for axis, term in zip(fig.axes, ci.terms, strict=True):
        (bands,) = collections(axis, LineCollection)
        assert len(bands.get_segments()) == 65
        dashes, ols = collections(axis, PathCollection)  # β*_j, then OLS β̂_j
        assert len(dashes.get_offsets()) == len(ols.get_offsets()) == 65
        (gamma,) = axis.get_lines()
        assert gamma.get_ydata()[0] == pytest.approx(ci.gamma[term])
        assert axis.get_xlabel() == "school"
    # school 48's OLS slope (-6.90, two students) runs off the panel and is listed
    notes = [t.get_text() for t in fig.axes[1].texts]
    assert len(notes) == 1 and "48:" in notes[0] and "-6.90" in notes[0]


def test_level1_bands_overlays_sets_and_clips_the_report_s_school_48() -> None:
    ci = level1_intervals(m3())
    bands = {"report": report_intervals(ci), "eq. (3.16)": ci}
    fig = level1_bands(bands, ols=ci.ols, gamma=ci.gamma)
    axis = fig.axes[1]
    assert len(collections(axis, LineCollection)) == 2
    low, high = axis.get_ylim()
    assert low > -1 and high < 2  # the scale of the ordinary intervals, not (-9.08, 10.18)
    assert "report (-9.08, 10.18)" in axis.texts[0].get_text()
    full = level1_bands(bands, clip=None)
    assert full.axes[1].get_ylim()[1] > 10 and not full.axes[1].texts


def test_level1_bands_bad_input() -> None:
    with pytest.raises(DataError, match="columns lower, upper"):
        level1_bands(pd.DataFrame({"group": ["1"], "term": ["x"]}))
    with pytest.raises(DataError, match="at least one set"):
        level1_bands({})


# ---- caterpillar -----------------------------------------------------------------------------
def test_caterpillar_points_and_intervals_per_level() -> None:
    fig = caterpillar(m3(), "school", level=0.9)
    assert [axis.get_title() for axis in fig.axes] == ["(Intercept)", "standLRT"]
    modes = m3().ranef["school"]
    order = np.argsort(modes["(Intercept)"].to_numpy(), kind="stable")
    sd = np.sqrt(np.einsum("jaa->ja", m3().ranef_condvar["school"]))
    for k, axis in enumerate(fig.axes):
        (points,) = collections(axis, PathCollection)
        (bars,) = collections(axis, LineCollection)
        np.testing.assert_allclose(points.get_offsets()[:, 0], modes.iloc[order, k])
        widths = [seg[1, 0] - seg[0, 0] for seg in bars.get_segments()]
        np.testing.assert_allclose(widths, 2 * 1.6448536 * sd[order, k], rtol=1e-6)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[0] == str(modes.index[order[0]]) and len(labels) == 65
    assert len(caterpillar(m1(), "school").axes) == 1


def test_caterpillar_bad_input() -> None:
    with pytest.raises(DataError, match="no grouping factor 'schol'; it has school"):
        caterpillar(m3(), "schol")
    with pytest.raises(DataError, match="strictly between 0 and 1"):
        caterpillar(m3(), "school", level=95)


# ---- files from the command line -------------------------------------------------------------
FILES = ["caterpillar_m3.png", "figure_1_1.png", "figure_2_1.png", "figure_2_2.png",
         "figure_2_3.png", "figure_3_1.png", "figure_4_1.png"]  # fmt: skip


@pytest.mark.timeout(120)
def test_demo_out_writes_the_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--out", str(tmp_path / "figs")]) == 0
    written = sorted(p.name for p in (tmp_path / "figs").iterdir())
    assert written == FILES
    for name in written:
        assert (tmp_path / "figs" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = capsys.readouterr().out
    assert f"Figures, in {tmp_path / 'figs'}:" in out and "figure_3_1.png  Figure 3.1" in out


def test_demo_without_matplotlib_prints_the_report_and_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plots, "have_matplotlib", lambda: False)
    assert main(["demo", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert captured.err == (
        "note: no figures written: they need matplotlib (pip install 'lmerpy[plot]')\n"
    )
    assert "Table 4.2." in captured.out and not list(tmp_path.iterdir())


def test_drawing_without_matplotlib_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(lmerpy.errors.MatplotlibMissingError, match=r"pip install 'lmerpy\[plot\]'"):
        caterpillar(m3(), "school")
