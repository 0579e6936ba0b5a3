"""The report, end to end: Kaplan (2010), *An Overview of Multilevel Regression*.

``run_report()`` fits the report's four models to mlmRev's Exam data, builds each of its
tables (1.1, 2.1-2.12, 3.1, 4.1, 4.2) with the printed value beside lmerpy's, renders the
whole as text, and draws its figures (1.1, 2.1-2.3, 3.1, 4.1) when given a folder.

The printed values ship with lmerpy (``datasets/kaplan2010_tables.json``, each as printed).
They came from the lme4 of 2010; lmerpy follows lme4 1.1-31, which differs from them in the
last printed digit in places (docs/report.md lists every such cell). Table 3.1 is the
report's own computation, with (I − Δ_j) where eq. (3.16) has (I − Λ_j) (``report_intervals``);
the table shows eq. (3.16) beside it.

Example:
    >>> from lmerpy.kaplan2010 import run_report
    >>> result = run_report()
    >>> remldev = result.tables["2.1"].frame.loc["REMLdev"]
    >>> float(remldev["value", "report"]), round(float(remldev["value", "lmerpy"]), 2)
    (9369.0, 9368.77)
"""

from __future__ import annotations

import json
import math
import textwrap
import warnings
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from scipy import stats

from .. import datasets
from ..lmm.fit import lmer
from ..lmm.result import LmerResult
from .comparison import ModelComparison, compare
from .level1 import Level1Intervals, level1_intervals
from .ols import OlsResult, lm

__all__ = [
    "FORMULAS",
    "NAMES",
    "ReportResult",
    "ReportTable",
    "fit_models",
    "printed_tables",
    "report_intervals",
    "run_report",
]

Fit = LmerResult | OlsResult
Cell = tuple[Hashable, str, str, float | str]  # row, column, source, value (str: as printed)

FORMULAS: dict[str, str] = {
    "m0": "normexam ~ standLRT",
    "m1": "normexam ~ standLRT + (1 | school)",
    "m2": "normexam ~ standLRT + (standLRT - 1 | school)",
    "m3": "normexam ~ standLRT + (standLRT | school)",
}
NAMES: dict[str, str] = {"m0": "OLS", "m1": "Var. Interc.", "m2": "Var. Slope", "m3": "HLM"}
REPORT, LMERPY, EQ316 = "report", "lmerpy", "eq. (3.16)"
TERMS = ["(Intercept)", "standLRT"]
TITLE = "Kaplan (2010), An Overview of Multilevel Regression, reproduced with lmerpy"
_WIDTH = 100

_NOTES: dict[str, str] = {
    "summary": "deviance is the ML deviance at the REML estimates (lme4 1.1-31: "
    "deviance(m, REML = FALSE), lmerpy: fit.deviance); REMLdev is REMLcrit(m) "
    "(fit.reml_criterion).",
    "2.5": "The printed t value 24.259 came from the 2010 SE 0.0242311; lme4 1.1-31 and "
    "lmerpy give SE 0.0242341 and t 24.2559.",
    "relabelled": "The report heads this table {label}(m1); its values are {model}'s.",
    "3.1": "lmerpy: the report's computation (ci.mer.ak), with (I - Δ_j) where eq. (3.16) "
    "has (I - Λ_j); eq. (3.16): lmerpy.level1_intervals(m3). The midpoints are coef(m3).",
    "4.1": "lower, upper: Table 3.1 (the report's computation). * marks a coefficient "
    "outside the HLM interval (the report's red cells, lost in its text): every school "
    "but 37 has an OLS coefficient outside. The report's Var. Interc. values are the 2010 "
    "lme4's fixef + ranef, and its OLS slope 0.595056 is 0.5950568 truncated.",
    "4.2": "Headed 'St. Dev of Residuals', but only the OLS entry is sd(resid(m0)); the mixed "
    "models' entries are sigma (the residual SD of Tables 2.1, 2.5, 2.9). lmerpy gives the "
    "quantity printed in the first column, and both quantities after it.",
}

_FIGURES: dict[str, str] = {
    "figure_1_1": "Figure 1.1: OLS model for exam data, limited to nine schools",
    "figure_2_1": "Figure 2.1: Variable intercept model for exam data, limited to nine schools",
    "figure_2_2": "Figure 2.2: Variable slope model for exam data, limited to nine schools",
    "figure_2_3": "Figure 2.3: Hierarchical linear model for exam data, limited to nine schools",
    "figure_3_1": "Figure 3.1: 95% intervals for the level-1 coefficients of the hierarchical "
    "linear model, by school (school 48 has 2 students)",
    "figure_4_1": "Figure 4.1: Hierarchical linear model (black solid) compared with OLS (gray "
    "dotted),\nvariable intercept (blue dotted) and variable slope (red dotted), nine schools",
    "caterpillar_m3": "Conditional modes of the HLM's school effects with 95% intervals",
}
_STYLES: dict[str, dict[str, Any]] = {  # Figure 4.1's line styles
    "OLS": {"color": "0.45", "linestyle": ":", "linewidth": 2.0},
    "Var. Interc.": {"color": "tab:blue", "linestyle": ":", "linewidth": 2.0},
    "Var. Slope": {"color": "tab:red", "linestyle": ":", "linewidth": 2.0},
    "HLM": {"color": "black", "linestyle": "-", "linewidth": 1.6},
}


# ---- the result ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ReportTable:
    """One of the report's tables, its printed values beside lmerpy's.

    Attributes:
        number: the report's table number, e.g. ``"2.1"``.
        caption: the report's caption, with the model.
        frame: a row per printed row; columns ``(column, source)``, source ``"report"``
            (the printed value, NaN where the report printed none), ``"lmerpy"``, and for
            Table 3.1 ``"eq. (3.16)"``.
        printed: the report's values as printed (strings, so with their decimals), a column
            per column of ``frame`` that has them, ``""`` where the report printed none.
        note: how the table reads against the report.
        marks: Table 4.1 only: True where lmerpy's coefficient is outside the interval.
    """

    number: str
    caption: str
    frame: pd.DataFrame
    printed: pd.DataFrame
    note: str = ""
    marks: pd.DataFrame | None = None

    @property
    def agreement(self) -> tuple[int, int, float]:
        """How many printed values lmerpy's value rounds to, out of how many, and the
        largest |lmerpy − printed| among the others (0 when there are none)."""
        agree, total, worst = 0, 0, 0.0
        for column in self.printed.columns:
            ours = self.frame[(column, LMERPY)].to_numpy(dtype=np.float64)
            for value, text in zip(ours, self.printed[column], strict=True):
                if not text:
                    continue
                total += 1
                if _rounds_to(float(value), text):
                    agree += 1
                else:
                    worst = max(worst, abs(float(value) - float(text)))
        return agree, total, worst

    def __str__(self) -> str:
        return _render_table(self)


@dataclass(frozen=True, repr=False)
class ReportResult:
    """The report's analysis as lmerpy does it (``run_report``).

    Attributes:
        fits: ``m0`` (lm), ``m1``, ``m2``, ``m3`` (lmer, REML); see ``FORMULAS``.
        tables: by number (``"1.1"`` ... ``"4.2"``), each a ``ReportTable``.
        intervals: ``level1_intervals(m3)``, eq. (3.16), every school.
        report_intervals: Table 3.1's computation for every school (``report_intervals``).
        comparison: ``compare(m0, m1, m2, m3)`` against ``report_intervals`` (Tables 4.1, 4.2).
        figures: figure name -> the PNG written (empty when no folder was given).
    """

    fits: dict[str, Fit]
    tables: dict[str, ReportTable]
    intervals: Level1Intervals
    report_intervals: pd.DataFrame
    comparison: ModelComparison
    figures: dict[str, Path] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"<ReportResult: {len(self.tables)} tables, {len(self.figures)} figures>"

    def __str__(self) -> str:
        parts = [_header(self), *map(str, self.tables.values()), _footer(self)]
        return "\n\n".join(parts)


# ---- the analysis --------------------------------------------------------------------------
def run_report(out: Path | str | None = None) -> ReportResult:
    """Reproduce the report's analysis (Kaplan 2010, chapters 1-4; R: its ``lm``, ``lmer``,
    ``coef``, ``fixef``, ``ranef`` and ``ci.mer.ak`` calls on mlmRev's ``Exam``).

    Fits m0-m3 (``FORMULAS``), builds Tables 1.1, 2.1-2.12, 3.1, 4.1 and 4.2 with the
    printed values beside lmerpy's, and, when ``out`` is a folder, writes Figures 1.1,
    2.1-2.3, 3.1 and 4.1 and a caterpillar plot of m3 there as PNG files (this needs
    matplotlib: ``pip install 'lmerpy[plot]'``, else ``MatplotlibMissingError``).
    ``str(result)`` is the whole report as text.
    """
    if out is not None:
        from .plots import require_matplotlib

        require_matplotlib()  # fail before fitting
    exam = datasets.load("exam")
    fits = fit_models(exam)
    m3 = fits["m3"]
    assert isinstance(m3, LmerResult)
    intervals = level1_intervals(m3)
    variant = report_intervals(intervals)
    comparison = compare(*fits.values(), names=list(NAMES.values()), intervals=variant)
    tables = _tables(fits, intervals, variant, comparison)
    figures = {} if out is None else _draw(Path(out), exam, fits, intervals, variant)
    return ReportResult(fits, tables, intervals, variant, comparison, figures)


def fit_models(data: pd.DataFrame) -> dict[str, Fit]:
    """The report's models m0-m3 (R: ``lm(normexam ~ standLRT, Exam)`` and the three
    ``lmer`` fits of ``FORMULAS``, by REML)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # none on Exam; kept on each fit's messages
        fits: dict[str, Fit] = {"m0": lm(FORMULAS["m0"], data)}
        fits.update({name: lmer(FORMULAS[name], data) for name in ("m1", "m2", "m3")})
    return fits


def report_intervals(intervals: Level1Intervals) -> pd.DataFrame:
    """Table 3.1 as the report computed it (its ``ci.mer.ak``): eq. (3.16) with the
    report's (I − Δ_j) where the equation has (I − Λ_j), for every group.

    ``V*_j = (V_j⁻¹ + T⁻¹)⁻¹ + (I − Δ_j) W_j Var(γ̂) W_jᵀ (I − Δ_j)ᵀ``; a group without an
    OLS fit (``intervals.no_ols``) has no Δ_j and gets NaN bounds.

    Returns:
        A row per group and term: group, term, estimate (β*_j), lower, upper.
    """
    shrink = np.eye(len(intervals.terms))[None] - intervals.Delta
    W, Wt = intervals.W, np.transpose(intervals.W, (0, 2, 1))
    prior = W @ intervals.gamma_vcov.to_numpy() @ Wt
    V_star = intervals.conditional_cov + shrink @ prior @ np.transpose(shrink, (0, 2, 1))
    z = float(stats.norm.ppf(1 - (1 - intervals.level) / 2))
    half = z * np.sqrt(np.einsum("jaa->ja", V_star))
    beta = intervals.beta_star.to_numpy()
    n, q = beta.shape
    return pd.DataFrame(
        {
            "group": np.repeat(np.asarray(intervals.levels.astype(str), dtype=object), q),
            "term": np.tile(np.asarray(intervals.terms, dtype=object), n),
            "estimate": beta.ravel(),
            "lower": (beta - half).ravel(),
            "upper": (beta + half).ravel(),
        }
    )


@cache
def _printed_json() -> str:
    folder = resources.files("lmerpy.datasets")
    return folder.joinpath("kaplan2010_tables.json").read_text(encoding="utf-8")


def printed_tables() -> dict[str, Any]:
    """The report's tables as printed (a fresh copy): ``table_2_1`` etc., each value a
    string as printed, and ``schools``, the report's nine schools in its order."""
    tables: dict[str, Any] = json.loads(_printed_json())
    return tables


# ---- the tables ----------------------------------------------------------------------------
def _tables(
    fits: dict[str, Fit],
    intervals: Level1Intervals,
    variant: pd.DataFrame,
    comparison: ModelComparison,
) -> dict[str, ReportTable]:
    printed = printed_tables()
    builders: list[tuple[str, Callable[[dict[str, Any]], ReportTable]]] = [
        ("1.1", lambda t: _table_1_1(t, fits["m0"])),
        *[(n, lambda t: _summary_table(t, _mixed(fits, t["model"]))) for n in _SUMMARY_TABLES],
        *[(n, lambda t: _school_table(t, _mixed(fits, t["model"]))) for n in _SCHOOL_TABLES],
        ("3.1", lambda t: _table_3_1(t, intervals, variant)),
        ("4.1", lambda t: _table_4_1(t, comparison)),
        ("4.2", lambda t: _table_4_2(t, comparison)),
    ]  # fmt: skip
    tables = {
        n: replace(build(printed[f"table_{n.replace('.', '_')}"]), number=n)
        for n, build in builders
    }
    return dict(sorted(tables.items(), key=lambda kv: tuple(map(int, kv[0].split(".")))))


_SUMMARY_TABLES = ["2.1", "2.5", "2.9"]
_SCHOOL_TABLES = ["2.2", "2.3", "2.4", "2.6", "2.7", "2.8", "2.10", "2.11", "2.12"]


def _mixed(fits: dict[str, Fit], name: str) -> LmerResult:
    fit = fits[name]
    assert isinstance(fit, LmerResult)
    return fit


def _caption(t: dict[str, Any], model: str | None = None) -> str:
    model = model or t.get("model")
    caption = str(t["caption"])
    return f"{caption} [{model}: {FORMULAS[model]}]" if model else caption


def _table_1_1(t: dict[str, Any], m0: Fit) -> ReportTable:
    assert isinstance(m0, OlsResult)
    cells: list[Cell] = []
    for term in TERMS:
        cells += _pair(term, "Estimate", t["estimate"][term], m0.coef[term])
        cells += _pair(term, "St. Error", t["std_error"][term], m0.se[term])
    return _table(_caption(t), cells, "term")


def _summary_table(t: dict[str, Any], m: LmerResult) -> ReportTable:
    """Tables 2.1, 2.5, 2.9: the 2010 ``summary(m)``, a row per printed number."""
    cells: list[Cell] = []
    criteria = [m.aic, m.bic, m.loglik, m.deviance, m.reml_criterion]
    for name, value in zip(["AIC", "BIC", "logLik", "deviance", "REMLdev"], criteria, strict=True):
        cells += _pair(name, "value", t["fit"][name], math.nan if value is None else value)
    for row in t["random"]:
        ours = _varcorr_row(m, row["group"], row["name"])
        label = f"{row['group']} {row['name'] or ''}".strip()
        cells += _pair(f"{label} Variance", "value", row["variance"], ours["vcov"])
        cells += _pair(f"{label} Std.Dev.", "value", row["std_dev"], ours["sdcor"])
    cells += _pair("Number of obs", "value", t["nobs"], m.nobs)
    cells += _pair("groups: school", "value", t["ngroups"]["school"], m.ngroups["school"])
    se = np.sqrt(np.diag(m.vcov.to_numpy()))
    for i, term in enumerate(TERMS):
        row = t["fixed"][term]
        cells += _pair(f"{term} Estimate", "value", row["estimate"], m.fixef[term])
        cells += _pair(f"{term} Std. Error", "value", row["std_error"], se[i])
        cells += _pair(f"{term} t value", "value", row["t"], m.fixef[term] / se[i])
    note = _NOTES["summary"] + (" " + _NOTES["2.5"] if t["model"] == "m2" else "")
    return _table(_caption(t), cells, "quantity", note)


def _varcorr_row(m: LmerResult, group: str, name: str | None) -> pd.Series:
    vc = m.varcorr
    var1 = vc["var1"].isna() if name is None else vc["var1"] == name
    return vc[(vc["group"] == group) & var1 & vc["var2"].isna()].iloc[0]


def _school_table(t: dict[str, Any], m: LmerResult) -> ReportTable:
    """Tables 2.2-2.4, 2.6-2.8, 2.10-2.12: coef, fixef or ranef of a mixed model."""
    what, model = t["what"], t["model"]
    note = (
        _NOTES["relabelled"].format(label=what, model=model) if "labelled" in t["caption"] else ""
    )
    cells: list[Cell] = []
    if what == "fixef":
        for term, printed in t["values"].items():
            cells += _pair(term, f"{what}({model})", printed, m.fixef[term])
        return _table(_caption(t), cells, "term", note)
    ours = m.coef["school"] if what == "coef" else m.ranef["school"]
    for school, row in t["rows"].items():
        for term, printed in zip(t["columns"], row, strict=True):
            cells += _pair(school, term, printed, ours.loc[school, term])
    return _table(_caption(t), cells, "school", note)


def _table_3_1(t: dict[str, Any], intervals: Level1Intervals, variant: pd.DataFrame) -> ReportTable:
    ours = variant.set_index(["group", "term"])
    eq = intervals.table.astype({"group": str}).set_index(["group", "term"])
    cells: list[Cell] = []
    for school, row in t["rows"].items():
        for column, printed in zip(t["columns"], row, strict=True):
            term, _, bound = column.rpartition(" ")
            cells += _pair(school, column, printed, ours.loc[(school, term), bound])
            cells.append((school, column, EQ316, float(eq.loc[(school, term), bound])))
    return _table(_caption(t), cells, "school", _NOTES["3.1"])


def _table_4_1(t: dict[str, Any], comparison: ModelComparison) -> ReportTable:
    ours = comparison.coefficients
    cells: list[Cell] = []
    for term in TERMS:
        for school, row in t[term].items():
            for column, printed in zip(t["columns"], row, strict=True):
                cells += _pair((term, school), column, printed, ours.loc[(term, school), column])
    keys = [(term, school) for term in TERMS for school in t[term]]
    marks = comparison.outside.loc[keys, list(t["models"])]
    marks.index = pd.MultiIndex.from_tuples(keys, names=["term", "school"])
    return _table(_caption(t, "m3"), cells, ["term", "school"], _NOTES["4.1"], marks)


def _table_4_2(t: dict[str, Any], comparison: ModelComparison) -> ReportTable:
    ours = comparison.table
    cells: list[Cell] = []
    for name, printed in t["values"].items():
        printed_as = "resid_sd" if t["models"][name] == "m0" else "sigma"
        cells += _pair(name, "St. Dev of Residuals", printed, ours.loc[name, printed_as])
        cells.append((name, "sigma", LMERPY, float(ours.loc[name, "sigma"])))
        cells.append((name, "sd(resid)", LMERPY, float(ours.loc[name, "resid_sd"])))
    return _table(str(t["caption"]), cells, "model", _NOTES["4.2"])


def _pair(row: Hashable, column: str, printed: object, ours: object) -> list[Cell]:
    return [(row, column, REPORT, str(printed)), (row, column, LMERPY, float(str(ours)))]


def _table(
    caption: str,
    cells: Iterable[Cell],
    names: str | list[str],
    note: str = "",
    marks: pd.DataFrame | None = None,
) -> ReportTable:
    """A table from its cells: a row per distinct row key, (column, source) columns, in the
    order first met; the printed strings kept aside."""
    values: dict[tuple[str, str], dict[Hashable, float | str]] = {}
    rows: dict[Hashable, None] = {}
    for row, column, source, value in cells:
        values.setdefault((column, source), {})[row] = value
        rows[row] = None
    keys = list(rows)
    index: pd.Index = (
        pd.MultiIndex.from_tuples(keys, names=names)  # type: ignore[arg-type]
        if isinstance(names, list)
        else pd.Index(keys, name=names)
    )
    frame = pd.DataFrame(
        {k: [float(v.get(r, math.nan)) for r in keys] for k, v in values.items()}, index=index
    )
    frame.columns = pd.MultiIndex.from_tuples(list(values), names=["column", "source"])
    reported = {c: v for (c, source), v in values.items() if source == REPORT}
    printed = pd.DataFrame({c: [str(v.get(r, "")) for r in keys] for c, v in reported.items()})
    printed.index = index
    return ReportTable("", caption, frame, printed, note, marks)


def _rounds_to(value: float, printed: str) -> bool:
    decimals = len(printed.partition(".")[2])
    return float(f"{value:.{decimals}f}") == float(printed)


# ---- text ----------------------------------------------------------------------------------
def _header(result: ReportResult) -> str:
    nine = " ".join(printed_tables()["schools"])
    models = [
        f"  {name}  {NAMES[name]:<13} {'lm' if name == 'm0' else 'lmer'}({formula})"
        for name, formula in FORMULAS.items()
    ]
    first = result.fits["m0"]
    intro = (
        "Each table shows the value the report printed ('report', from the lme4 of 2010) "
        "beside lmerpy's, which follows lme4 1.1-31: where a printed value is not lmerpy's "
        "rounded, it is not lme4 1.1-31's either (docs/report.md lists those cells). "
        "The mixed models are fitted by REML; lmerpy's values are shown to one more decimal "
        "than printed. "
        f"The per-school tables show the report's nine schools: {nine}."
    )
    return "\n".join(
        [TITLE, "=" * len(TITLE), f"Data: mlmRev's Exam, {first.nobs} students in 65 schools",
         "Models:", *models, "", textwrap.fill(intro, _WIDTH)]
    )  # fmt: skip


def _footer(result: ReportResult) -> str:
    if not result.figures:
        return "Figures: none written (run_report(out=DIR), or lmerpy demo --out DIR)."
    folder = next(iter(result.figures.values())).parent
    lines = [f"Figures, in {folder}:"]
    for name, path in result.figures.items():
        caption = f"{path.name}  {_FIGURES[name].replace(chr(10), ' ')}"
        lines.append(textwrap.fill(caption, _WIDTH, initial_indent="  ", subsequent_indent="    "))
    return "\n".join(lines)


def _render_table(table: ReportTable) -> str:
    head = f"Table {table.number}. {table.caption}"
    lines = [textwrap.fill(head, _WIDTH, subsequent_indent="    "), "-" * min(len(head), _WIDTH)]
    lines.append(_cell_strings(table).to_string(line_width=_WIDTH))
    lines.append(_agreement_line(table))
    if table.note:
        lines.append(textwrap.fill(table.note, _WIDTH))
    return "\n".join(lines)


def _agreement_line(table: ReportTable) -> str:
    agree, total, worst = table.agreement
    if agree == total:
        return f"All {total} printed values are lmerpy's, rounded."
    return (
        f"{agree} of {total} printed values are lmerpy's, rounded; the other {total - agree} "
        f"differ from lmerpy's by at most {worst:.2g}."
    )


def _cell_strings(table: ReportTable) -> pd.DataFrame:
    """Printed values as printed; lmerpy's to one more decimal than the printed ones."""
    frame = table.frame
    columns = [cast(tuple[str, str], key) for key in frame.columns]
    out = pd.DataFrame("", index=frame.index, columns=pd.MultiIndex.from_tuples(columns))
    for j, (column, source) in enumerate(columns):
        printed = table.printed[column] if column in table.printed.columns else None
        for i, value in enumerate(frame.iloc[:, j].to_numpy(dtype=np.float64)):
            text = "" if printed is None else str(printed.iloc[i])
            cell = text if source == REPORT else _format(float(value), text)
            out.iat[i, j] = cell + _mark(table, i, column, source)
    return out


def _mark(table: ReportTable, i: int, column: str, source: str) -> str:
    if table.marks is None or source != LMERPY or column not in table.marks.columns:
        return ""
    return "*" if bool(table.marks[column].iloc[i]) else " "


def _format(value: float, printed: str) -> str:
    """lmerpy's value to one decimal more than printed (7 significant digits if none)."""
    if math.isnan(value):
        return ""
    if not printed:
        return f"{value:.7g}"
    decimals = len(printed.partition(".")[2])
    if decimals == 0 and value.is_integer():
        return str(int(value))
    return f"{value:.{decimals + 1}f}"


# ---- figures -------------------------------------------------------------------------------
def _draw(
    out: Path,
    exam: pd.DataFrame,
    fits: dict[str, Fit],
    intervals: Level1Intervals,
    variant: pd.DataFrame,
) -> dict[str, Path]:
    """Write the report's figures as PNG files in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, draw in _figure_makers(exam, fits, intervals, variant):
        fig = draw()
        fig.suptitle(_FIGURES[name], fontsize=10)
        paths[name] = out / f"{name}.png"
        fig.savefig(paths[name], dpi=110)
    return paths


def _figure_makers(
    exam: pd.DataFrame,
    fits: dict[str, Fit],
    intervals: Level1Intervals,
    variant: pd.DataFrame,
) -> Iterator[tuple[str, Callable[[], Any]]]:
    from .plots import caterpillar, fitted_lines, level1_bands

    nine = printed_tables()["schools"]

    def lines(*models: str) -> Callable[[], Any]:
        chosen = {NAMES[m]: fits[m] for m in models}
        styles = _STYLES if len(models) > 1 else None  # Figure 4.1's; else a black line
        return lambda: fitted_lines(chosen, exam, nine, x="standLRT", y="normexam",
                                    group="school", styles=styles)  # fmt: skip

    yield "figure_1_1", lines("m0")
    yield "figure_2_1", lines("m1")
    yield "figure_2_2", lines("m2")
    yield "figure_2_3", lines("m3")
    bands: dict[str, Level1Intervals | pd.DataFrame] = {
        "Table 3.1's computation (the report's)": variant,
        "eq. (3.16)": intervals,
    }
    yield "figure_3_1", lambda: level1_bands(bands, ols=intervals.ols, gamma=intervals.gamma,
                                             group_label="school")  # fmt: skip
    yield "figure_4_1", lines("m0", "m1", "m2", "m3")
    yield "caterpillar_m3", lambda: caterpillar(_mixed(fits, "m3"), "school")
