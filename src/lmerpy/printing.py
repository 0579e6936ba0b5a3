"""Text forms of results, laid out as lme4 prints them. Printing only: no numerics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from .result import LmerResult

__all__ = ["format_fit", "format_varcorr", "grid"]


def format_fit(fit: LmerResult, data_name: str | None = None) -> str:
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


def format_varcorr(fit: LmerResult) -> str:
    """The Groups / Name / Std.Dev. / Corr table of lme4's ``print(VarCorr(m))``."""
    rows: list[list[str]] = []
    for group, part in fit.varcorr.groupby("group", sort=False):
        sds = part[part["var2"].isna()]
        corr = part[part["var2"].notna()]
        for i, (var1, sdcor) in enumerate(zip(sds["var1"], sds["sdcor"], strict=True)):
            name = "" if pd.isna(var1) else str(var1)
            cells = [str(group) if i == 0 else "", name, f"{sdcor:.4g}"]
            cells += [
                f"{r:.2f}" for v2, r in zip(corr["var2"], corr["sdcor"], strict=True) if v2 == var1
            ]
            rows.append(cells)
    width = max(len(r) for r in rows)
    header = ["Groups", "Name", "Std.Dev."] + ["Corr"] + [""] * (width - 4)
    header = header[:width]
    rows = [r + [""] * (width - len(r)) for r in rows]
    return grid(header, rows, "llr" + "r" * (width - 3))


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
