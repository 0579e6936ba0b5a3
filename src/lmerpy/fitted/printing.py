"""Text forms of results, laid out as lme4 prints them. Printing only: no numerics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from .base import MixedModelResult

__all__ = [
    "cell",
    "format_fit",
    "format_glmer",
    "format_varcorr",
    "grid",
    "random_effects_table",
]


def format_fit(fit: MixedModelResult, data_name: str | None = None) -> str:
    """What lme4's ``print(m)`` shows: criterion, variance components, fixed effects."""
    method = "REML" if fit.reml else "maximum likelihood"
    lines = [f"Linear mixed model fit by {method}", f"Formula: {fit.design.spec.formula}"]
    if data_name:
        lines.append(f"   Data: {data_name}")
    if fit.reml:
        lines.append(f"REML criterion at convergence: {fit.objective:.4f}")
    else:
        values = [fit.aic, fit.bic, fit.loglik, fit.deviance]
        cells = [f"{v:.4f}" for v in values] + [str(fit.df_residual)]
        lines.append(grid(["AIC", "BIC", "logLik", "deviance", "df.resid"], [cells], "rrrrr"))
    groups = ", ".join(f"{g}, {n}" for g, n in fit.ngroups.items())
    lines += ["Random effects:", format_varcorr(fit)]
    lines.append(f"Number of obs: {fit.nobs}, groups:  {groups}")
    names = list(fit.fixef.index)
    lines += ["Fixed Effects:", grid(names, [[f"{v:.5g}" for v in fit.fixef]], "r" * len(names))]
    lines += [f"warning: {m}" for m in fit.messages]
    return "\n".join(lines)


def format_varcorr(fit: MixedModelResult, residual: bool = True) -> str:
    """The Groups / Name / Std.Dev. / Corr table of lme4's ``print(VarCorr(m))``."""
    return random_effects_text(random_effects_table(fit, residual).drop(columns="Variance"))


def format_glmer(fit: MixedModelResult, family: str, nagq: int) -> str:
    """What lme4's ``print(m)`` shows for a glmer fit."""
    method = "Laplace Approximation" if nagq <= 1 else f"nAGQ = {nagq}"
    lines = [
        f"Generalized linear mixed model fit by maximum likelihood ({method})",
        f" Family: {family}",
        f"Formula: {fit.design.spec.formula}",
    ]
    values = [fit.aic, fit.bic, fit.loglik, fit.objective]
    cells = [f"{v:.4f}" for v in values] + [str(fit.df_residual)]
    lines.append(grid(["AIC", "BIC", "logLik", "deviance", "df.resid"], [cells], "rrrrr"))
    groups = ", ".join(f"{g}, {n}" for g, n in fit.ngroups.items())
    lines += ["Random effects:", format_varcorr(fit, residual=False)]
    lines.append(f"Number of obs: {fit.nobs}, groups:  {groups}")
    names = list(fit.fixef.index)
    lines += ["Fixed Effects:", grid(names, [[f"{v:.5g}" for v in fit.fixef]], "r" * len(names))]
    lines += [f"warning: {m}" for m in fit.messages]
    return "\n".join(lines)


def random_effects_table(fit: MixedModelResult, residual: bool = True) -> pd.DataFrame:
    """Groups, Name, Variance, Std.Dev. and correlations, one row per column of each term,
    as lme4's summary lays them out. Correlations of an unstructured term fill a lower
    triangle (``Corr``, ``Corr.1``, ...); a ``cs`` or ``ar1`` term shows its one correlation
    parameter on its first row, labelled, as lme4 2.0 and glmmTMB print it."""
    rows: list[dict[str, object]] = []
    for name, term, cov in fit.term_covariances:
        sd = np.sqrt(np.maximum(np.diag(cov), 0.0))
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = cov / np.outer(sd, sd)
        structured = term.term_type.name in {"cs", "ar1"}
        for i, column in enumerate(term.columns):
            row: dict[str, object] = {
                "Groups": name if i == 0 else "",
                "Name": column,
                "Variance": cov[i, i],
                "Std.Dev.": sd[i],
            }
            if structured and i == 0 and len(term.columns) > 1:
                row["Corr"] = f"{corr[1, 0]:.2f} ({term.term_type.name})"
            elif not structured and term.term_type.name != "diag":
                for j in range(i):
                    row["Corr" if j == 0 else f"Corr.{j}"] = corr[i, j]
            rows.append(row)
    if residual:
        sigma = fit.sigma
        rows.append({"Groups": "Residual", "Name": "", "Variance": sigma**2, "Std.Dev.": sigma})
    return pd.DataFrame(rows)


def random_effects_text(frame: pd.DataFrame) -> str:
    """A random-effects table as lme4 prints it."""
    cells = [
        [cell(v, col) for col, v in zip(frame.columns, row, strict=True)]
        for row in frame.itertuples(index=False)
    ]
    header = ["Corr" if c == "Corr" else "" if c.startswith("Corr") else c for c in frame.columns]
    return grid(header, cells, "ll" + "r" * (len(header) - 2))


def cell(value: object, column: str) -> str:
    """One table cell: text as is, numbers to 4 significant digits, correlations to 2 places."""
    if isinstance(value, str):
        return value
    if value is None or pd.isna(value):  # type: ignore[call-overload]
        return ""
    if column.startswith("Corr"):
        return f"{value:.2f}"
    return f"{value:.4g}"


def grid(header: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> str:
    """A plain-text table: one column per header cell, aligned left (l) or right (r)."""
    widths = [max(len(h), *(len(r[j]) for r in rows)) for j, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.ljust(w) if a == "l" else c.rjust(w)
            for c, w, a in zip(cells, widths, align, strict=True)
        ]
        return " " + " ".join(parts).rstrip()

    return "\n".join([line(header), *(line(r) for r in rows)])
