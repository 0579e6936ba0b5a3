"""``fit.summary()``: lme4's ``summary(m)`` with lmerTest's df and p-values.

The Summary holds its parts as values (DataFrames, numbers) and renders them as text
(laid out as R prints them), HTML for notebooks, and Markdown for reports. Printing only:
every number comes from the fit.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .printing import cell, grid, random_effects_table, random_effects_text

if TYPE_CHECKING:
    from .base import MixedModelResult

__all__ = ["Summary", "summarize", "summarize_glmer"]

_DDF_NAMES = {
    "satterthwaite": "Satterthwaite's method",
    "kenward-roger": "Kenward-Roger's method",
    "residual": "residual degrees of freedom",
    "asymptotic": "asymptotic (z) tests",
}


@dataclass(frozen=True)
class Summary:
    """The parts of lme4's summary, each a value.

    Attributes:
        title: "Linear mixed model fit by REML" (or maximum likelihood) and the t-test method.
        formula: the model formula.
        criteria: REML criterion, or AIC/BIC/logLik/deviance/df.resid for ML fits.
        scaled_residuals: quantiles of residuals/σ (Min, 1Q, Median, 3Q, Max); Pearson
            residuals for a generalized model.
        random_effects: Groups, Name, Variance, Std.Dev., Corr (one column per correlation).
        nobs, ngroups: number of observations and of levels of each grouping factor.
        coefficients: Estimate, Std. Error, df, t value, Pr(>|t|) (generalized models:
            Estimate, Std. Error, z value, Pr(>|z|)).
        correlation: correlation of the fixed-effect estimates.
        messages: warnings kept with the fit (singular, dropped columns or rows, ...).
    """

    title: str
    formula: str
    criteria: pd.Series
    scaled_residuals: pd.Series
    random_effects: pd.DataFrame
    nobs: int
    ngroups: dict[str, int]
    coefficients: pd.DataFrame
    correlation: pd.DataFrame
    messages: tuple[str, ...] = field(default=())
    family: str = ""
    """The response family and link of a generalized model, e.g. "binomial  ( logit )"."""
    dispersion: str = ""
    """The family's dispersion, as glmmTMB's summary states it (empty if it has none)."""
    other_models: tuple[tuple[str, pd.DataFrame], ...] = ()
    """Further coefficient tables by heading: "Zero-inflation model", "Dispersion model"."""

    def __str__(self) -> str:
        lines = [self.title]
        lines += [f" Family: {self.family}"] if self.family else []
        lines += [f"Formula: {self.formula}", ""]
        if "REML criterion" in self.criteria.index:
            lines.append(f"REML criterion at convergence: {self.criteria['REML criterion']:.1f}")
        else:
            lines.append(_numbers_line(self.criteria, ".1f"))
        if self.scaled_residuals.notna().any():  # not for data read in chunks
            lines += ["", "Scaled residuals:", _numbers_line(self.scaled_residuals, ".4f")]
        lines.append("")
        lines += [
            "Random effects:",
            random_effects_text(self.random_effects),
            self._groups_line(),
            "",
        ]
        lines += [self.dispersion, ""] if self.dispersion else []
        lines += ["Fixed effects:", _coefficients_text(self.coefficients)]
        for heading, table in self.other_models:
            lines += ["", f"{heading}:", _coefficients_text(table)]
        lines += ["---", "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"]
        if len(self.correlation) > 1:
            lines += ["", "Correlation of Fixed Effects:", _correlation_text(self.correlation)]
        lines += [f"warning: {m}" for m in self.messages]
        return "\n".join(lines)

    def to_markdown(self) -> str:
        """The summary as Markdown: headings, tables and the warnings."""
        parts = [f"**{self.title}**", "", f"`{self.formula}`", ""]
        parts += [_md_table(self.criteria.to_frame().T.round(4), index=False), ""]
        parts += ["*Random effects*", "", _md_table(self.random_effects, index=False), ""]
        parts += [self._groups_line().strip(), ""]
        parts += ["*Fixed effects*", "", _md_table(self.coefficients, index=True)]
        parts += [f"\n> warning: {m}" for m in self.messages]
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        tables = [
            self.criteria.to_frame().T.to_html(index=False, float_format="{:.4f}".format),
            self.random_effects.to_html(index=False, na_rep=""),
            self.coefficients.to_html(float_format="{:.5g}".format),
        ]
        warn = "".join(f"<p><b>warning:</b> {html.escape(m)}</p>" for m in self.messages)
        return (
            f"<div><p><b>{html.escape(self.title)}</b><br><code>{html.escape(self.formula)}"
            f"</code></p>{tables[0]}<p><i>Random effects</i></p>{tables[1]}"
            f"<p>{html.escape(self._groups_line().strip())}</p><p><i>Fixed effects</i></p>"
            f"{tables[2]}{warn}</div>"
        )

    def _groups_line(self) -> str:
        groups = ", ".join(f"{g}, {n}" for g, n in self.ngroups.items())
        return f"Number of obs: {self.nobs}, groups:  {groups}"


def summarize(fit: MixedModelResult, ddf: str = "satterthwaite") -> Summary:
    """Build the Summary of a fit (lme4 + lmerTest: ``summary(m, ddf = ...)``)."""
    method = "REML" if fit.reml else "maximum likelihood"
    title = f"Linear mixed model fit by {method}. t-tests use {_DDF_NAMES[ddf]}"
    if fit.reml:
        criteria = pd.Series({"REML criterion": fit.objective})
    else:
        criteria = pd.Series(
            {"AIC": fit.aic, "BIC": fit.bic, "logLik": fit.loglik, "deviance": fit.deviance,
             "df.resid": fit.df_residual}
        )  # fmt: skip
    scaled = _scaled_residuals(fit)
    return Summary(
        title, fit.design.spec.formula, criteria, scaled, random_effects_table(fit), fit.nobs,
        fit.ngroups, fit.coef_table(ddf), _correlation(fit.vcov), fit.messages,
    )  # fmt: skip


def _scaled_residuals(fit: MixedModelResult) -> pd.Series:
    """Quantiles of the scaled residuals (NaN for data read in chunks: no rows in memory)."""
    names = ["Min", "1Q", "Median", "3Q", "Max"]
    if fit.design.streamed_rows is not None:
        return pd.Series(np.nan, index=names)
    resid = fit.residuals.to_numpy() / fit.sigma
    if fit.design.weights is not None:
        resid = resid * np.sqrt(fit.design.weights)
    return pd.Series(np.quantile(resid, [0, 0.25, 0.5, 0.75, 1]), index=names)


def summarize_glmer(
    fit: MixedModelResult,
    family: str,
    nagq: int,
    pearson: pd.Series | None,
    *,
    dispersion: str = "",
    other_models: tuple[tuple[str, pd.DataFrame], ...] = (),
) -> Summary:
    """Build the Summary of a generalized fit (lme4: ``summary(m)`` of a glmer fit)."""
    method = (
        "Laplace Approximation"
        if nagq <= 1
        else f"Adaptive Gauss-Hermite Quadrature, nAGQ = {nagq}"
    )
    title = f"Generalized linear mixed model fit by maximum likelihood ({method})"
    criteria = pd.Series(
        {"AIC": fit.aic, "BIC": fit.bic, "logLik": fit.loglik, "deviance": fit.objective,
         "df.resid": fit.df_residual}
    )  # fmt: skip
    names = ["Min", "1Q", "Median", "3Q", "Max"]
    if pearson is None:  # data read in chunks: no rows in memory
        scaled = pd.Series(np.nan, index=names)
    else:
        scaled = pd.Series(np.quantile(pearson, [0, 0.25, 0.5, 0.75, 1]), index=names)
    return Summary(
        title, fit.design.spec.formula, criteria, scaled,
        random_effects_table(fit, residual=False), fit.nobs, fit.ngroups, fit.coef_table(),
        _correlation(fit.vcov), fit.messages, family, dispersion, other_models,
    )  # fmt: skip


def _correlation(vcov: pd.DataFrame) -> pd.DataFrame:
    values = vcov.to_numpy()
    sd = np.sqrt(np.diag(values))
    return pd.DataFrame(values / np.outer(sd, sd), index=vcov.index, columns=vcov.columns)


def _numbers_line(values: pd.Series, fmt: str) -> str:
    cells = [f"{v:.0f}" if k == "df.resid" else f"{v:{fmt}}" for k, v in values.items()]
    return grid([str(k) for k in values.index], [cells], "r" * len(cells))


def _coefficients_text(table: pd.DataFrame) -> str:
    stat = "z" if "z value" in table.columns else "t"
    numbers = [c for c in ("Estimate", "Std. Error", "df") if c in table.columns]
    rows = []
    for name, row in table.iterrows():
        p = row[f"Pr(>|{stat}|)"]
        cells = [str(name)] + [f"{row[c]:.5g}" for c in numbers]
        cells += [f"{row[f'{stat} value']:.3f}", _pvalue(p), _stars(p)]
        rows.append(cells)
    header = ["", *numbers, f"{stat} value", f"Pr(>|{stat}|)", ""]
    return grid(header, rows, "l" + "r" * (len(header) - 2) + "l")


def _correlation_text(corr: pd.DataFrame) -> str:
    abbrev = [_abbreviate(c) for c in corr.columns[:-1]]
    values = corr.to_numpy(dtype=np.float64)
    rows = [
        [str(name), *(f"{values[i, j]:.3f}" for j in range(i)), *[""] * (len(abbrev) - i)]
        for i, name in enumerate(corr.index)
        if i > 0
    ]
    return grid(["", *abbrev], rows, "l" + "r" * len(abbrev))


def _abbreviate(name: str, length: int = 6) -> str:
    """R's ``abbreviate(name, 6)``: drop lower-case vowels, then lower-case letters, from the
    right (never the first character): '(Intercept)' -> '(Intr)', 'standLRT' -> 'stnLRT'."""
    chars = list(name)
    for drop in ("aeiou", "abcdefghijklmnopqrstuvwxyz"):
        i = len(chars) - 1
        while len(chars) > length and i > 0:
            if chars[i] in drop:
                del chars[i]
            i -= 1
    return "".join(chars[:length]) if len(chars) > length else "".join(chars)


def _pvalue(p: float) -> str:
    if not np.isfinite(p):
        return "NA"
    return "<2e-16" if p < 2e-16 else f"{p:.3g}"


def _stars(p: float) -> str:
    for cut, stars in [(0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")]:
        if p < cut:
            return stars
    return ""


def _md_table(frame: pd.DataFrame, index: bool) -> str:
    cols = ([""] if index else []) + [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for name, row in frame.iterrows():
        cells = ([str(name)] if index else []) + [cell(v, str(c)) for c, v in row.items()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
