"""Predictions and simulations from a fit (lme4's ``predict.merMod``, ``simulate.merMod``)."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp
from formulaic.errors import FormulaicWarning
from numpy.typing import NDArray

from ..design import RandomEffectsTerm
from ..design.grouping import level_labels
from ..design.matrices import evaluate
from ..errors import DataError, FormulaSemanticError, MissingColumnError
from ..formula import parse_formula
from ..formula.spec import variables_of, with_constants

if TYPE_CHECKING:
    from .base import MixedModelResult

__all__ = [
    "Chosen",
    "chosen_terms",
    "fixed_rows",
    "new_random_effects",
    "offset_rows",
    "predict",
    "random_rows",
    "simulate",
]

FloatArray = NDArray[np.float64]

ReForm = str | bool | None


def predict(
    fit: MixedModelResult,
    newdata: pd.DataFrame | None = None,
    re_form: ReForm = None,
    allow_new_levels: bool = False,
) -> pd.Series:
    """Predictions on the response scale (lme4: ``predict(m, newdata, re.form, allow.new.levels)``).

    ``re_form=None`` uses every random-effect term; ``"~0"`` or ``False`` none (population
    level); a formula such as ``"~ (1 | school)"`` the terms it names. A level of a grouping
    factor not seen in the fit is an error naming it, unless ``allow_new_levels`` is true,
    when its random effects are zero; it is never an error for population-level predictions.
    """
    chosen = chosen_terms(fit, re_form)
    if newdata is None:
        frame, rows = None, fit.design.rows
        X, offset = fit.design.X, fit.design.offset
    else:
        frame, rows = _frame(fit, newdata, [t for t, _ in chosen]), newdata.index
        X, offset = fixed_rows(fit, frame), offset_rows(fit, frame)
    eta = X @ fit.fixef.to_numpy() + (0.0 if offset is None else offset)
    for term, columns in chosen:
        eta = eta + _random_part(fit, term, columns, frame, allow_new_levels)
    return pd.Series(eta, index=rows, name="predict")


def simulate(
    fit: MixedModelResult, nsim: int = 1, seed: int | np.random.Generator | None = None
) -> pd.DataFrame:
    """Responses simulated from the fitted model, new random effects each time
    (lme4: ``simulate(m, nsim, seed)``, with ``use.u = FALSE``). Columns ``sim_1`` ..."""
    rng = np.random.default_rng(seed)
    sims = {f"sim_{k + 1}": fit.simulate_once(rng) for k in range(nsim)}
    return pd.DataFrame(sims, index=fit.design.rows)


def new_random_effects(fit: MixedModelResult, rng: np.random.Generator) -> FloatArray:
    """Z b for b drawn afresh from the fitted N(0, σ² ΛΛ') (σ = 1 for binomial and Poisson)."""
    total = np.zeros(fit.design.nobs)
    for term, theta in zip(fit.design.terms, fit._term_thetas(), strict=True):
        factor = term.term_type.lambda_block(theta, len(term.columns))
        u = fit.sigma * rng.standard_normal((term.factor.n_levels, len(term.columns)))
        total = total + _term_contribution(term.lhs.values, term.factor.codes, u @ factor.T)
    return total


Chosen = list[tuple[RandomEffectsTerm, list[int]]]
"""Random terms ``re_form`` keeps, each with the positions of the columns it keeps."""


def chosen_terms(fit: MixedModelResult, re_form: ReForm) -> Chosen:
    """The random terms ``re_form`` keeps, with their columns (lme4's ``re.form``): None all,
    ``"~0"``/``NA``/False none, a formula the terms it names. A term of ``re_form`` may keep
    part of a model term, as lme4 allows: ``~ (1 | Subject)`` on a ``(Days | Subject)`` model
    keeps the intercept deviations alone; ``/`` and ``:`` expand as in a model formula."""
    terms = list(fit.design.terms)
    if re_form is None or re_form is True:
        return [(t, list(range(len(t.columns)))) for t in terms]
    if re_form is False or (isinstance(re_form, str) and re_form.replace(" ", "") in {"~0", "NA"}):
        return []
    spec = parse_formula(re_form)
    chosen: Chosen = []
    for wanted in spec.random:
        labels = (["(Intercept)"] if wanted.lhs.intercept else []) + [
            str(t) for t in wanted.lhs.terms
        ]
        match = _matching_columns(terms, wanted.group, labels)
        if match is None:
            raise FormulaSemanticError(
                f"re_form names {wanted}, which is not (part of) a random-effect term of the "
                "model; the model's terms: " + " + ".join(str(t.spec) for t in terms),
                re_form,
                0,
                len(re_form),
            )
        for term, columns in match:
            known = next((c for t, c in chosen if t is term), None)
            if known is None:
                chosen.append((term, columns))
            else:
                known.extend(c for c in columns if c not in known)
    return chosen


def _matching_columns(
    terms: list[RandomEffectsTerm], group: tuple[str, ...], labels: list[str]
) -> Chosen | None:
    """The columns of the model's terms on ``group`` that ``labels`` name: a term of one
    column per label matches label by label, any other term only as a whole."""
    out: Chosen = []
    left = set(labels)
    for term in terms:
        spec = term.spec.lhs
        own = (["(Intercept)"] if spec.intercept else []) + [str(t) for t in spec.terms]
        if set(term.spec.group) != set(group) or not left & set(own):
            continue
        if set(own) <= left:
            out.append((term, list(range(len(term.columns)))))
        elif len(own) == len(term.columns):  # one column per label: keep those named
            out.append((term, [i for i, name in enumerate(own) if name in left]))
        else:
            continue
        left -= set(own)
    return out if out and not left else None


def _frame(
    fit: MixedModelResult, newdata: pd.DataFrame, terms: list[RandomEffectsTerm]
) -> pd.DataFrame:
    if not isinstance(newdata, pd.DataFrame):
        raise DataError(f"newdata must be a pandas DataFrame, not {type(newdata).__name__}")
    spec = fit.design.spec
    needed = [f for t in spec.fixed.terms for f in t.factors] + list(spec.offsets)
    names = {n for node in needed for n in variables_of(node)}
    for term in terms:
        names |= {n for t in term.spec.lhs.terms for f in t.factors for n in variables_of(f)}
        names |= set(term.spec.group)
    newdata = with_constants(sorted(names), newdata)
    missing = sorted(names - set(map(str, newdata.columns)))
    if missing:
        raise MissingColumnError(
            f"newdata lacks the column(s) the prediction needs: {', '.join(missing)}", missing[0]
        )
    return newdata


def fixed_rows(fit: MixedModelResult, frame: pd.DataFrame) -> NDArray[np.float64]:
    """The fixed-effects model matrix of new rows, with the fit's levels, contrasts and
    dropped columns (R: ``model.matrix(delete.response(terms(m)), newdata)``)."""
    full = _encode(fit.design.fixed.on, frame, "the fixed effects")
    keep = [fit.design.fixed.columns.index(c) for c in fit.design.x_columns]
    return full[:, keep]


def offset_rows(fit: MixedModelResult, frame: pd.DataFrame) -> NDArray[np.float64] | None:
    """The summed offsets of new rows, or None when the model has none."""
    if not fit.design.spec.offsets:
        return None
    return np.asarray(
        np.sum([evaluate(node, frame) for node in fit.design.spec.offsets], axis=0),
        dtype=np.float64,
    )


def _encode(encoder: object, frame: pd.DataFrame, what: str) -> NDArray[np.float64]:
    with warnings.catch_warnings():
        warnings.simplefilter("error", FormulaicWarning)
        try:
            return encoder(frame)  # type: ignore[operator, no-any-return]
        except Exception as exc:  # a level the fit never saw, or a value formulaic rejects
            raise DataError(f"cannot encode {what} of newdata: {exc}") from None


def _random_part(
    fit: MixedModelResult,
    term: RandomEffectsTerm,
    columns: list[int],
    frame: pd.DataFrame | None,
    allow_new: bool,
) -> NDArray[np.float64]:
    modes = np.zeros((term.factor.n_levels, len(term.columns)))
    modes[:, columns] = fit.ranef[term.group][term.columns].to_numpy()[:, columns]
    if frame is None:
        return _term_contribution(term.lhs.values, term.factor.codes, modes)
    lhs = _encode(term.lhs.on, frame, f"the random term {term.spec}")
    labels = _labels(frame, term.spec.group)
    codes = pd.Index(term.factor.levels).get_indexer(labels)
    new = sorted(set(labels[(codes < 0) & pd.notna(labels)]))
    if new and not allow_new:
        raise DataError(
            f"new levels of {term.group} in newdata: {', '.join(map(str, new[:10]))}"
            f"{' ...' if len(new) > 10 else ''}; pass allow_new_levels=True to predict them "
            "at the population level"
        )
    padded = np.vstack([modes, np.zeros((1, modes.shape[1]))])  # new levels -> zero effects
    return _term_contribution(lhs, np.where(codes < 0, len(modes), codes), padded)


def random_rows(fit: MixedModelResult, frame: pd.DataFrame | None, chosen: Chosen) -> sp.csr_matrix:
    """Z of new rows (n × q, the fit's column order) for the chosen terms and columns only; a
    level the fit never saw has no column (its effects are zero). ``frame=None``: the data's
    rows."""
    q = sum(t.factor.n_levels * len(t.columns) for t in fit.design.terms)
    keep = {id(t): c for t, c in chosen}
    blocks, offset = [], 0
    n = fit.design.nobs if frame is None else len(frame)
    for term in fit.design.terms:
        k = len(term.columns)
        if id(term) in keep:
            if frame is None:
                lhs, codes = term.lhs.values, term.factor.codes
            else:
                lhs = _encode(term.lhs.on, frame, f"the random term {term.spec}")
                labels = _labels(frame, term.spec.group)
                codes = pd.Index(term.factor.levels).get_indexer(labels)
            known = np.flatnonzero(codes >= 0)
            lhs = np.where(np.isin(np.arange(k), keep[id(term)]), lhs, 0.0)
            rows = np.repeat(known, k)
            cols = offset + (codes[known, None] * k + np.arange(k)).ravel()
            blocks.append(sp.csr_matrix((lhs[known].ravel(), (rows, cols)), shape=(n, q)))
        offset += term.factor.n_levels * k
    return sp.csr_matrix(sum(blocks, sp.csr_matrix((n, q))))


def _labels(frame: pd.DataFrame, group: tuple[str, ...]) -> NDArray[np.object_]:
    parts = [level_labels(frame[g]).values() for g in group]
    joined = parts[0]
    for part in parts[1:]:
        joined = np.array([f"{a}:{b}" for a, b in zip(joined, part, strict=True)], dtype=object)
    return joined


def _term_contribution(
    lhs: NDArray[np.float64], codes: NDArray[np.int64], effects: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Row-wise Σ_j lhs[i, j] * effects[codes[i], j]: one term's Z b without forming Z."""
    return np.asarray(np.einsum("ij,ij->i", lhs, effects[codes]), dtype=np.float64)
