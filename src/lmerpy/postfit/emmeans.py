"""Estimated marginal means and their contrasts (emmeans' ``emmeans``, ``pairs`` and
``contrast``), with Kenward–Roger, Satterthwaite or asymptotic df."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from ..design.coding import r_text
from ..errors import ArgumentError, ArgumentTypeError
from ..fitted.base import MixedModelResult
from ..formula.spec import variables_of
from ..inference.ddf import check_ddf, linear_estimates
from .adjust import ADJUSTMENTS, adjust_p
from .grid import reference_grid

__all__ = ["CONTRAST_METHODS", "Contrasts", "EMMeans", "emmeans", "estimate_rows"]

FloatArray = NDArray[np.float64]

CONTRAST_METHODS = ("pairwise", "revpairwise", "trt.vs.ctrl", "poly", "eff")
"""Named contrast families (emmeans' ``*.emmc``); a dict of weights gives custom ones."""
_DEFAULT_ADJUST = {"pairwise": "tukey", "revpairwise": "tukey", "trt.vs.ctrl": "dunnettx",
                   "poly": "none", "eff": "fdr"}  # fmt: skip
_RESPONSE_NAMES = {"binomial": "prob", "poisson": "rate"}
_RATIO_NAMES = {"logit": "odds.ratio", "log": "ratio"}


def emmeans(
    fit: MixedModelResult,
    specs: str | Sequence[str],
    *,
    by: str | Sequence[str] | None = None,
    at: Mapping[str, Any] | None = None,
    ddf: str | None = None,
    type: str = "link",
    level: float = 0.95,
) -> EMMeans:
    """Estimated marginal means (emmeans: ``emmeans(m, specs, by, at, lmer.df, type, level)``).

    The reference grid holds every level of each factor and each covariate at its mean
    (``at`` overrides either); a mean averages the grid's cells over the factors not in
    ``specs`` or ``by`` with equal weights.

    Args:
        fit: a linear or generalized fit.
        specs: the factor (or factors) whose levels' means are wanted.
        by: factor(s) within whose levels the means, and their contrasts, are taken.
        at: variable -> value(s) for the reference grid.
        ddf: ``"kenward-roger"`` (the default for REML fits, as emmeans), ``"satterthwaite"``
            (the default for ML fits), ``"asymptotic"`` (z intervals; the only method, and
            the default, for generalized fits).
        type: ``"link"`` or ``"response"`` (means back-transformed by the inverse link,
            standard errors by the delta method).
        level: confidence level of the intervals.
    """
    specs_list, by_list = _names(specs, "specs"), _names(by, "by") if by is not None else []
    method = _ddf_for(fit, ddf)
    if type not in ("link", "response"):
        raise ArgumentError(f"type must be 'link' or 'response'; got {type!r}")
    if not 0 < level < 1:
        raise ArgumentError(f"level must be between 0 and 1; got {level!r}")
    grid = reference_grid(fit, at)
    cells, L = grid.means(specs_list, by_list)
    averaged = [f for f in grid.factors if f not in specs_list + by_list]
    notes = []
    if _interacting(fit, averaged, specs_list + by_list):
        notes.append("NOTE: Results may be misleading due to involvement in interactions")
    return EMMeans(fit, specs_list, by_list, cells, L, method, type, level, averaged, notes)


@dataclass(frozen=True)
class EMMeans:
    """Estimated marginal means (emmeans' ``emmGrid``): ``table``, ``pairs``, ``contrast``."""

    fit: MixedModelResult = field(repr=False)
    specs: list[str]
    by: list[str]
    cells: pd.DataFrame = field(repr=False)
    L: FloatArray = field(repr=False)
    ddf: str
    type: str
    level: float
    averaged_over: list[str]
    notes: list[str] = field(default_factory=list)

    @cached_property
    def table(self) -> pd.DataFrame:
        """emmeans' ``as.data.frame(summary(em))``: the factors, then ``emmean`` (on the
        response scale ``prob``, ``rate`` or ``response``), ``SE``, ``df`` and the limits
        ``lower.CL``/``upper.CL`` (``asymp.LCL``/``asymp.UCL`` with infinite df)."""
        est, se, df = estimate_rows(self.fit, self.L, self.ddf)
        crit = stats.t.ppf(0.5 + self.level / 2, df)
        lower, upper = est - crit * se, est + crit * se
        name = "emmean"
        link = _link(self.fit)
        if self.type == "response" and link is not None and link.name != "identity":
            name = _RESPONSE_NAMES.get(_family_name(self.fit), "response")
            se = se * np.abs(link.mu_eta(est))
            lower, upper = np.sort([link.linkinv(lower), link.linkinv(upper)], axis=0)
            est = link.linkinv(est)
        limits = ("asymp.LCL", "asymp.UCL") if np.all(np.isinf(df)) else ("lower.CL", "upper.CL")
        out = self.cells.map(r_text)
        out[name], out["SE"], out["df"] = est, se, df
        out[limits[0]], out[limits[1]] = lower, upper
        return out

    def pairs(self, adjust: str = "tukey", *, reverse: bool = False) -> Contrasts:
        """Pairwise differences ``a - b`` of the means, within each ``by`` group (emmeans:
        ``pairs(em, adjust, reverse)``); Tukey-adjusted by default."""
        return self.contrast("revpairwise" if reverse else "pairwise", adjust=adjust)

    def contrast(
        self,
        method: str | Mapping[str, Sequence[float]] = "pairwise",
        *,
        adjust: str | None = None,
        ref: int = 0,
    ) -> Contrasts:
        """Contrasts of the means within each ``by`` group (emmeans: ``contrast(em, method,
        adjust, ref)``).

        Args:
            method: ``"pairwise"``, ``"revpairwise"``, ``"trt.vs.ctrl"`` (each mean minus the
                ``ref``-th, 0-based), ``"poly"`` (orthogonal polynomials), ``"eff"`` (each
                mean minus their average), or a dict name -> weights, one per mean.
            adjust: one of ``ADJUSTMENTS``; by default emmeans': tukey for pairwise,
                dunnettx for trt.vs.ctrl, fdr for eff, none otherwise. Tukey's method is for
                pairwise comparisons only; on other families it becomes Sidak's, as emmeans.
        """
        key = method if isinstance(method, str) else "custom"
        if isinstance(method, str) and method not in CONTRAST_METHODS:
            raise ArgumentError(
                f"method must be one of {', '.join(CONTRAST_METHODS)} or a dict of weights; "
                f"got {method!r}"
            )
        chosen = _DEFAULT_ADJUST.get(key, "none") if adjust is None else adjust
        if chosen not in ADJUSTMENTS:
            raise ArgumentError(f"adjust must be one of {', '.join(ADJUSTMENTS)}; got {chosen!r}")
        notes = []
        if chosen == "tukey" and key not in ("pairwise", "revpairwise"):
            chosen = "sidak"
            notes.append('adjust = "tukey" was changed to "sidak": Tukey\'s method is only for '
                         "one set of pairwise comparisons")  # fmt: skip
        return _contrasts(self, method, chosen, ref, notes)

    def __str__(self) -> str:
        lines = _grouped_text(self.table, self.by)
        if self.averaged_over:
            lines.append(
                f"Results are averaged over the levels of: {', '.join(self.averaged_over)}"
            )
        lines.append(f"Degrees-of-freedom method: {self.ddf}")
        link = _link(self.fit)
        if self.type == "response" and link is not None:
            lines.append(f"Intervals are back-transformed from the {link.name} scale")
        lines.append(f"Confidence level used: {self.level:g}")
        return "\n".join(lines + self.notes)

    def _repr_html_(self) -> str:
        return (
            str(self.table.to_html(index=False)) + "<pre>" + str(self).split("\n\n")[-1] + "</pre>"
        )


@dataclass(frozen=True)
class Contrasts:
    """A family of contrasts of marginal means (emmeans' contrast ``emmGrid``)."""

    table: pd.DataFrame
    adjust: str
    notes: list[str]
    by: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = _grouped_text(self.table, self.by)
        lines += self.notes
        lines.append(f"P value adjustment: {self.adjust}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return (
            str(self.table.to_html(index=False)) + f"<pre>P value adjustment: {self.adjust}</pre>"
        )


def estimate_rows(
    fit: MixedModelResult, L: FloatArray, ddf: str
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Lβ with its standard errors and df (``linear_estimates``; Wald with infinite df for a
    generalized fit)."""
    method = "asymptotic" if fit.generalized else ddf
    return linear_estimates(fit, L, method)  # type: ignore[arg-type]


# ---- contrasts --------------------------------------------------------------------------------


def _contrasts(
    em: EMMeans, method: str | Mapping[str, Sequence[float]], adjust: str, ref: int,
    notes: list[str],
) -> Contrasts:  # fmt: skip
    groups = _by_groups(em)
    labels_all, rows, by_values, family = [], [], [], []
    for g, (by_value, idx) in enumerate(groups):
        cell_labels = _cell_labels(em.cells.iloc[idx][em.specs])
        weights, labels = _weights(method, len(idx), cell_labels, ref)
        rows.append(weights @ em.L[idx])
        labels_all += labels
        by_values += [by_value] * len(labels)
        family += [g] * len(labels)
    L = np.vstack(rows)
    est, se, df = estimate_rows(em.fit, L, em.ddf)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = est / se
    family_arr = np.asarray(family)
    p = np.empty(len(est))
    for g, (_, idx) in enumerate(groups):
        mask = family_arr == g
        rank = int(np.linalg.matrix_rank(L[mask])) if mask.any() else 0
        p[mask] = adjust_p(ratio[mask], df[mask], adjust, n_means=len(idx), rank=max(rank, 1))
    out = pd.DataFrame({"contrast": labels_all})
    for j, name in enumerate(em.by):
        out[name] = [v[j] for v in by_values]
    link = _link(em.fit)
    ratio_name = _RATIO_NAMES.get(link.name) if link is not None else None
    if em.type == "response" and ratio_name is not None:
        out["contrast"] = [s.replace(" - ", " / ") for s in labels_all]
        out[ratio_name], out["SE"], out["df"] = np.exp(est), np.exp(est) * se, df
        out["null"] = 1.0
    else:
        out["estimate"], out["SE"], out["df"] = est, se, df
    out["z.ratio" if np.all(np.isinf(df)) else "t.ratio"] = ratio
    out["p.value"] = p
    n_family = len(groups[0][1]) if groups else 0
    what = "comparing a family of" if adjust == "tukey" else "for"
    unit = "estimates" if adjust == "tukey" else "tests"
    size = n_family if adjust == "tukey" else int(np.sum(family_arr == 0))
    described = f"{adjust} method {what} {size} {unit}" if adjust != "none" else "none"
    return Contrasts(out, described, notes, list(em.by))


def _by_groups(em: EMMeans) -> list[tuple[tuple[str, ...], list[int]]]:
    if not em.by:
        return [((), list(range(len(em.cells))))]
    keys = em.cells[em.by].astype(str).apply(tuple, axis=1)
    order: dict[tuple[str, ...], list[int]] = {}
    for i, key in enumerate(keys):
        order.setdefault(key, []).append(i)
    return list(order.items())


def _cell_labels(cells: pd.DataFrame) -> list[str]:
    """emmeans' labels: a level that reads as a number is prefixed by its factor's name;
    several factors' levels are joined by spaces."""
    parts = []
    for name in cells.columns:
        values = cells[name].map(r_text)
        parts.append([f"{name}{v}" if _numeric(v) else v for v in values])
    return [" ".join(p) for p in zip(*parts, strict=True)]


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _wrap(label: str) -> str:
    return f"({label})" if re.search(r"[-+*/^]", label) else label


def _weights(
    method: str | Mapping[str, Sequence[float]], k: int, labels: list[str], ref: int
) -> tuple[FloatArray, list[str]]:
    lab = [_wrap(s) for s in labels]
    if not isinstance(method, str):
        if not isinstance(method, Mapping):
            raise ArgumentTypeError(f"method must be a name or a dict, not {type(method).__name__}")
        W = np.asarray([list(map(float, w)) for w in method.values()], dtype=np.float64)
        if W.ndim != 2 or W.shape[1] != k:
            raise ArgumentError(
                f"each contrast needs {k} weights, one per mean ({', '.join(labels)})"
            )
        return W, [str(n) for n in method]
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    if method == "pairwise":
        return _rows(k, [(i, j) for i, j in pairs]), [f"{lab[i]} - {lab[j]}" for i, j in pairs]
    if method == "revpairwise":
        rev = [(j, i) for i, j in sorted(pairs, key=lambda p: (p[1], p[0]))]
        return _rows(k, rev), [f"{lab[i]} - {lab[j]}" for i, j in rev]
    if method == "trt.vs.ctrl":
        if not 0 <= ref < k:
            raise ArgumentError(f"ref must be between 0 and {k - 1}; got {ref}")
        others = [(i, ref) for i in range(k) if i != ref]
        return _rows(k, others), [f"{lab[i]} - {lab[j]}" for i, j in others]
    if method == "eff":
        return np.eye(k) - 1.0 / k, [f"{lab[i]} effect" for i in range(k)]
    return _poly(k)


def _rows(k: int, pairs: list[tuple[int, int]]) -> FloatArray:
    W = np.zeros((len(pairs), k))
    for r, (i, j) in enumerate(pairs):
        W[r, i], W[r, j] = 1.0, -1.0
    return W


def _poly(k: int) -> tuple[FloatArray, list[str]]:
    """Orthogonal polynomial contrasts scaled to integers where they are (emmeans'
    ``poly.emmc``): linear, quadratic, cubic, quartic, then degree 5, ..."""
    x = np.arange(1, k + 1, dtype=np.float64)
    q, _ = np.linalg.qr(np.vander(x - x.mean(), k, increasing=True))
    W = q[:, 1:].T
    for r in range(len(W)):
        W[r] *= np.sign(W[r][-1]) or 1.0
        W[r] /= np.min(np.abs(W[r][np.abs(W[r]) > 1e-8]))
        for multiple in range(1, 25):
            if np.allclose(W[r] * multiple, np.round(W[r] * multiple), atol=1e-6):
                W[r] = np.round(W[r] * multiple)
                break
    names = ["linear", "quadratic", "cubic", "quartic"] + [f"degree {d}" for d in range(5, k)]
    return W, names[: k - 1]


# ---- helpers -----------------------------------------------------------------------------------


def _names(value: str | Sequence[str] | None, what: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise ArgumentTypeError(f"{what} must be a variable name or a list of them; got {value!r}")


def _ddf_for(fit: MixedModelResult, ddf: str | None) -> str:
    if fit.generalized:
        if ddf is not None and check_ddf(ddf) != "asymptotic":
            raise ArgumentError(
                f"a generalized fit's marginal means are asymptotic (z intervals); ddf={ddf!r} "
                "applies to linear fits only"
            )
        return "asymptotic"
    if ddf is None:
        return "kenward-roger" if fit.reml else "satterthwaite"
    return check_ddf(ddf)


def _interacting(fit: MixedModelResult, averaged: list[str], kept: list[str]) -> bool:
    """Whether a fixed term involves both an averaged factor and a ``specs``/``by`` one."""
    for term in fit.design.spec.fixed.terms:
        names = {n for factor in term.factors for n in variables_of(factor)}
        if names & set(averaged) and names & set(kept):
            return True
    return False


def _link(fit: MixedModelResult) -> Any:
    family = getattr(fit, "family", None)
    return None if family is None else family.link


def _family_name(fit: MixedModelResult) -> str:
    return str(getattr(getattr(fit, "family", None), "name", ""))


def _grouped_text(table: pd.DataFrame, by: list[str]) -> list[str]:
    shown = table.drop(columns=by)
    if not by:
        return [shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"), ""]
    lines = []
    for key, part in table.groupby(by, sort=False):
        values = key if isinstance(key, tuple) else (key,)
        lines.append(", ".join(f"{b} = {v}" for b, v in zip(by, values, strict=True)) + ":")
        lines.append(
            part.drop(columns=by).to_string(index=False, float_format=lambda v: f"{v:.4g}")
        )
        lines.append("")
    return lines
