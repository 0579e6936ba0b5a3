"""The design of a linear mixed model: y, X, and each random-effects term's pieces.

``lformula(formula, data)`` is lme4's ``lFormula``: parse, keep complete cases,
build X with lme4's column names (dropping columns that make it rank deficient),
and for every random term its grouping factor, left-hand matrix and term type,
ordered as lme4 orders them (by decreasing number of levels).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from functools import partial
from typing import TypeVar

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.linalg.lapack import dgeqrf

from ..errors import (
    DataError,
    FormulaSemanticError,
    MissingColumnError,
    RankDeficiencyWarning,
    RowsDroppedWarning,
    warn,
)
from ..formula import LinearTerms, ModelSpec, RandomTerm, parse_formula
from ..formula.ast import Call
from ..formula.spec import with_constants
from ..terms import get_term_type
from .checks import Checks, Rows, run_checks
from .design import MAX_MAGNITUDE, RANK_TOLERANCE, Design, RandomEffectsTerm
from .grouping import Labels, grouping_factor, level_labels
from .matrices import ModelMatrix, evaluate, model_matrix

__all__ = [
    "build_design",
    "check_columns",
    "checked",
    "complete_cases",
    "independent_columns",
    "independent_gram_columns",
    "lformula",
    "offset_vector",
    "response_vector",
    "warn_rank_drop",
]

T = TypeVar("T")


def lformula(
    formula: str | ModelSpec,
    data: pd.DataFrame,
    *,
    weights: ArrayLike | str | None = None,
    checks: Checks | None = None,
) -> Design:
    """Build the design of ``formula`` on ``data`` (lme4: ``lFormula``).

    ``checks`` sets the severity of each data check (lme4: ``lmerControl(check.*)``);
    see ``lmerpy.Checks``.

    Example:
        >>> from lmerpy import datasets, lformula
        >>> design = lformula("Reaction ~ Days + (Days | Subject)", datasets.load("sleepstudy"))
        >>> design.x_columns, [t.group for t in design.terms]
        (['(Intercept)', 'Days'], ['Subject'])
    """
    return build_design(formula, data, weights=weights, checks=checks)


Response = Callable[
    [ModelSpec, pd.DataFrame, NDArray[np.float64] | None],
    tuple[NDArray[np.float64], NDArray[np.float64] | None],
]
"""(spec, complete-case frame, prior weights) -> (response, prior weights): a generalized
model's response step may turn cbind(successes, failures) into proportions and weights."""


def _gaussian_response(
    spec: ModelSpec, frame: pd.DataFrame, prior: NDArray[np.float64] | None
) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
    return response_vector(spec, frame), prior


def build_design(
    formula: str | ModelSpec,
    data: pd.DataFrame,
    *,
    weights: ArrayLike | str | None = None,
    checks: Checks | None = None,
    response: Response = _gaussian_response,
    generalized: bool = False,
    random: bool = True,
) -> Design:
    """``lformula`` with its response step replaced (``glformula`` builds on it);
    ``generalized`` runs the data checks as lme4's ``glmerControl`` sets them; with
    ``random=False`` the formula has no random terms (``lmerpy.glm``)."""
    spec = formula if isinstance(formula, ModelSpec) else parse_formula(formula)
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    if spec.response is None:
        raise FormulaSemanticError(
            "the formula has no response: write 'response ~ ...'", spec.formula, 0
        )
    if spec.random and not random:
        raise FormulaSemanticError(
            "this model takes no random-effect terms: use lmerpy.glmer for them",
            spec.formula,
            spec.random[0].start,
            spec.random[0].end,
        )
    if random and not spec.random:
        raise FormulaSemanticError(
            "no random-effect terms in the formula: add one such as (1 | g), "
            "or use ordinary least squares for a model without them",
            spec.formula,
            len(spec.formula),
        )
    data = with_constants(spec.variables, data)
    check_columns(spec, data)
    messages: list[str] = []
    known = _object_labels(spec, data)
    frame, prior, dropped = complete_cases(spec, data, weights, messages, known)
    y, prior = response(spec, frame, prior)
    fixed = checked(lambda: model_matrix(spec.fixed, frame), spec, "the fixed effects")
    X, x_columns, dropped_columns = _drop_rank_deficient(fixed, messages)
    matrices = {spec.fixed: fixed}  # a random term whose lhs is the fixed part reuses X
    terms = tuple(_random_term(rt, spec, frame, matrices, known) for rt in spec.random)
    terms = tuple(sorted(terms, key=lambda t: -t.factor.n_levels))  # stable, as lme4
    messages += run_checks(
        checks or Checks(), Rows(y, X), x_columns, terms, generalized=generalized
    )
    offset = offset_vector(spec, frame)
    return Design(
        spec, y, X, x_columns, terms, prior, offset, frame.index, fixed, data, weights,
        dropped, tuple(dropped_columns), tuple(messages),
    )  # fmt: skip


def check_columns(spec: ModelSpec, data: pd.DataFrame) -> None:
    columns = [str(c) for c in data.columns]
    for name in spec.variables:
        if name not in data.columns:
            close = difflib.get_close_matches(name, columns, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            start, end = _position_of(name, spec.formula)
            message = f"column '{name}' is not in the data{hint}"
            raise MissingColumnError(message, name, spec.formula, start, end)


def _position_of(name: str, text: str) -> tuple[int, int]:
    match = re.search(rf"(?<![\w.`]){re.escape(name)}(?![\w.`])|`{re.escape(name)}`", text)
    return (match.start(), match.end()) if match else (0, 1)


def _object_labels(spec: ModelSpec, data: pd.DataFrame) -> dict[str, Labels]:
    """The factor codes of the grouping columns held as Python objects (text as
    ``pd.read_csv(..., dtype=object)`` gives it), found once: hashing them also finds their
    missing values, which pandas' ``isna`` otherwise looks for object by object (68 of a
    268 ms design on 10⁶ rows)."""
    names = {v for term in spec.random for v in term.group}
    columns = {v: data[v] for v in names if v in data.columns}
    return {
        v: level_labels(c)
        for v, c in columns.items()
        if isinstance(c, pd.Series) and c.dtype == object
    }


def complete_cases(
    spec: ModelSpec,
    data: pd.DataFrame,
    weights: ArrayLike | str | None,
    messages: list[str],
    known: dict[str, Labels] | None = None,
) -> tuple[pd.DataFrame, NDArray[np.float64] | None, int]:
    """The rows with every variable (and weight) present: ``data`` itself when none is
    missing (no copy), else its complete rows of the formula's variables, with a warning.
    ``known``: factor codes of some columns (-1 where missing), kept to the same rows."""
    known = {} if known is None else known
    prior = _weights(weights, data)
    missing = _missing_rows(data, spec.variables, known)
    if prior is not None:
        missing = missing | np.isnan(prior)
    dropped = int(missing.sum())
    frame = data
    if dropped:
        used = ", ".join(spec.variables)
        msg = f"{dropped} of {len(data)} rows dropped for missing values in: {used}"
        warn(msg, RowsDroppedWarning)
        messages.append(msg)
        frame = data.loc[~missing, list(spec.variables)]
        prior = None if prior is None else prior[~missing]
        for name, labels in known.items():
            known[name] = Labels(labels.codes[~missing], labels.texts)
    if len(data) == 0:
        raise DataError("the data have no rows")
    if len(frame) == 0:
        raise DataError("no rows left after dropping rows with missing values")
    if prior is not None and (not np.all(np.isfinite(prior)) or np.any(prior <= 0)):
        raise DataError("weights must be positive and finite")
    return frame, prior, dropped


def _missing_rows(
    data: pd.DataFrame, variables: Sequence[str], known: dict[str, Labels]
) -> NDArray[np.bool_]:
    """Rows where any of ``variables`` is missing, column by column (a copy of the columns
    as one frame cost more than the rest of a small model's design); a ``known`` column's
    codes say it."""
    missing = np.zeros(len(data), dtype=bool)
    for name in variables:
        if name in known:
            missing |= known[name].codes < 0
            continue
        column: pd.Series | pd.DataFrame = data[name]
        if isinstance(column, pd.DataFrame):  # a name several columns share
            missing |= column.isna().any(axis=1).to_numpy()
        else:
            missing |= np.asarray(pd.isna(column.array), dtype=bool)
    return missing


def _weights(weights: ArrayLike | str | None, data: pd.DataFrame) -> NDArray[np.float64] | None:
    if weights is None:
        return None
    if isinstance(weights, str):
        if weights not in data.columns:
            raise MissingColumnError(f"weights column '{weights}' is not in the data", weights)
        weights = data[weights]
    try:
        values = np.asarray(weights, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise DataError("weights must be numeric") from None
    if len(values) != len(data):
        raise DataError(f"weights has {len(values)} values but the data have {len(data)} rows")
    return values


def response_vector(spec: ModelSpec, frame: pd.DataFrame) -> NDArray[np.float64]:
    node = spec.response
    assert node is not None
    if isinstance(node, Call) and node.func == "cbind":
        raise FormulaSemanticError(
            "a cbind(successes, failures) response is for binomial models, not lmer",
            spec.formula,
            node.start,
            node.end,
        )
    names = [v for v in spec.variables if str(v) == str(node)]
    if names and not pd.api.types.is_numeric_dtype(frame[names[0]]):
        raise DataError(f"the response '{names[0]}' must be numeric, not {frame[names[0]].dtype}")
    y = checked(lambda: evaluate(node, frame), spec, f"the response {node}")
    require_finite(y, f"the response {node}")
    return y


def offset_vector(spec: ModelSpec, frame: pd.DataFrame) -> NDArray[np.float64] | None:
    if not spec.offsets:
        return None
    total = np.zeros(len(frame))
    for node in spec.offsets:
        values = checked(partial(evaluate, node, frame), spec, f"offset({node})")
        require_finite(values, f"offset({node})")
        total += values
    return total


def _random_term(
    term: RandomTerm,
    spec: ModelSpec,
    frame: pd.DataFrame,
    matrices: dict[LinearTerms, ModelMatrix],
    known: dict[str, Labels],
) -> RandomEffectsTerm:
    factor = grouping_factor(term.group, frame, known)
    if term.lhs not in matrices:
        build = partial(model_matrix, term.lhs, frame)
        matrices[term.lhs] = checked(build, spec, f"the random term {term}")
    lhs = matrices[term.lhs]
    require_finite(lhs.values, f"the random term {term}")
    independent = set(independent_columns(lhs.values))
    dependent = [c for j, c in enumerate(lhs.columns) if j not in independent]
    if dependent:
        raise DataError(
            f"in the random term {term}, the column(s) {', '.join(dependent)} are zero or linear "
            "combinations of the others, so their variances cannot be estimated: drop them"
        )
    return RandomEffectsTerm(term, factor, lhs, get_term_type(term.type, dict(term.options)))


def _drop_rank_deficient(
    fixed: ModelMatrix, messages: list[str]
) -> tuple[NDArray[np.float64], list[str], list[str]]:
    """Drop columns of X that are linear combinations of earlier ones (lme4's
    ``chkRank.drop.cols`` with R's QR tolerance), warning as lme4 does."""
    X, columns = fixed.values, list(fixed.columns)
    require_finite(X, "the fixed effects")
    keep = independent_columns(X)
    dropped = [c for j, c in enumerate(columns) if j not in keep]
    if dropped:
        messages.append(warn_rank_drop(dropped))
    return X[:, keep], [columns[j] for j in keep], dropped


def warn_rank_drop(dropped: Sequence[str]) -> str:
    """lme4's warning for fixed-effect columns dropped for rank deficiency; the message."""
    n = len(dropped)
    msg = (
        f"fixed-effect model matrix is rank deficient so dropping {n} "
        f"column{'s' if n > 1 else ''} / coefficient{'s' if n > 1 else ''}: " + ", ".join(dropped)
    )
    warn(msg, RankDeficiencyWarning)
    return msg


def independent_columns(X: NDArray[np.float64]) -> list[int]:
    """Columns of X, in order, each not a linear combination of those kept before it
    (R's QR rank test: a residual norm below 1e-7 of the column's norm is zero)."""
    if X.shape[1] == 0:
        return []
    # One unpivoted QR: |R[j, j]| is the part of column j orthogonal to all columns before it.
    # LAPACK's dgeqrf directly: scipy.linalg.qr's checks cost ten times the factorisation
    # of a small model's X.
    qr, _, _, info = dgeqrf(X)
    if info != 0:
        raise DataError("cannot test the columns for linear dependence")
    r = np.abs(np.diagonal(qr))
    norms = np.sqrt(np.einsum("ij,ij->j", X, X))
    return [
        j
        for j in range(min(len(r), X.shape[1]))
        if norms[j] > 0 and r[j] > RANK_TOLERANCE * norms[j]
    ]


def require_finite(values: NDArray[np.float64], what: str) -> None:
    """Finite, and small enough that sums of products cannot overflow."""
    bad = ~np.isfinite(values)
    if bad.any():
        rows = int(bad.reshape(len(values), -1).any(axis=1).sum())
        raise DataError(
            f"{what} has non-finite values (inf or NaN) in {rows} rows; "
            "check the transformations (log of 0 or a negative number?)"
        )
    largest = float(np.abs(values).max()) if values.size else 0.0
    if largest > MAX_MAGNITUDE:
        raise DataError(
            f"{what} has values as large as {largest:.3g}; beyond {MAX_MAGNITUDE:g} their "
            "products overflow double precision: rescale the variable"
        )


def checked(build: Callable[[], T], spec: ModelSpec, what: str) -> T:
    """Run a formulaic step; turn its failures into a DataError naming the part."""
    try:
        with np.errstate(all="ignore"):  # non-finite results are checked and reported
            return build()
    except DataError:
        raise
    except Exception as exc:  # formulaic, pandas or numpy failing on these data
        raise DataError(f"cannot build {what} from the data: {exc}") from None


def independent_gram_columns(gram: NDArray[np.float64]) -> list[int]:
    """Columns, in order, each not a linear combination of those kept before it, from
    their Gram matrix (R's QR rank test: a residual norm below 1e-7 of the column's norm)."""
    keep: list[int] = []
    for j in range(gram.shape[0]):
        norm2 = gram[j, j]
        if norm2 <= 0:
            continue
        residual2 = norm2
        if keep:
            G = gram[np.ix_(keep, keep)]
            g = gram[keep, j]
            residual2 = norm2 - g @ np.linalg.solve(G, g)
        if residual2 > (RANK_TOLERANCE**2) * norm2:
            keep.append(j)
    return keep
