"""Model matrices through formulaic, from bar-free strings lmerpy writes itself,
with columns named as lme4 names them (``(Intercept)``, ``sexM``, ``recipeB:temp``).

formulaic never sees user text: each formula handed to it is generated from the
checked AST, with every variable backticked and every function on lmerpy's
allow-list, so nothing in a formula can reach Python.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from formulaic import Formula
from formulaic import ModelSpec as FormulaicSpec
from formulaic.transforms import TRANSFORMS
from numpy.typing import NDArray

from ..errors import ArgumentTypeError, DataError
from ..formula.ast import BinOp, Call, Name, Node, Number, Paren, String, UnaryOp
from ..formula.functions import CONTRASTS, implementations
from ..formula.spec import LinearTerms, Term
from .coding import interaction_columns, levels_of, margins, r_modes

__all__ = ["ALIAS", "ModelMatrix", "evaluate", "expression_code", "model_matrix"]

ALIAS = "_lmerpy_"
"""Every function reaches formulaic under this prefix, so that a data column named like a
function (a column ``I`` or ``log``) never shadows it: R tells a call from a name, and so
must lmerpy."""


def _context() -> dict[str, Any]:
    """The functions generated code may call, by their aliases: formulaic's transforms for
    ``I``, ``C``, ``poly``, ``scale``, NumPy's mathematics, and the registered functions."""
    builtin = {"I": TRANSFORMS["I"], "C": TRANSFORMS["C"], "contr": TRANSFORMS["contr"],
               "poly": TRANSFORMS["poly"], "scale": TRANSFORMS["scale"], "log": np.log,
               "exp": np.exp, "sqrt": np.sqrt, "abs": np.abs, "log1p": np.log1p,
               "expm1": np.expm1, "log2": np.log2, "log10": np.log10}  # fmt: skip
    functions = {**builtin, **implementations(), "rterm": interaction_columns}
    return {ALIAS + name.replace(".", "_"): fn for name, fn in functions.items()}


@dataclass(frozen=True)
class ModelMatrix:
    """A dense model matrix, its lme4 column names, and the formulaic spec that
    re-encodes new data the same way (levels, ``scale()`` centres, ``poly()`` bases)."""

    values: NDArray[np.float64]
    columns: list[str]
    spec: FormulaicSpec | None
    """None where the columns need no encoding: the intercept and numeric variables as they
    are (``1 + Days``), each column a term of its own."""

    def on(self, data: pd.DataFrame) -> NDArray[np.float64]:
        """The same encoding applied to new data."""
        if self.spec is None:
            return _plain(self.columns, data)
        matrix = self.spec.get_model_matrix(data, na_action="ignore", context=_context())
        return np.asarray(matrix, dtype=np.float64).reshape(len(data), -1)


def model_matrix(terms: LinearTerms, data: pd.DataFrame) -> ModelMatrix:
    """Materialise a linear predictor (R's ``model.matrix``) on complete-case data."""
    plain = _plain_columns(terms, data)
    if plain is not None:  # (1 | g), Days: no need to ask formulaic
        return ModelMatrix(_plain(plain, data), plain, None)
    present = margins(terms)
    codes = [_term_code(t, present, data) for t in terms.terms]
    text = " + ".join(["1" if terms.intercept else "0", *codes])
    matrix = Formula(text, _ordering="none").get_model_matrix(
        data, na_action="raise", context=_context()
    )
    columns = _lme4_names(matrix.model_spec, terms)
    values = np.asarray(matrix, dtype=np.float64).reshape(len(data), len(columns))
    return ModelMatrix(values, columns, matrix.model_spec)


def _term_code(term: Term, present: set[frozenset[str]], data: pd.DataFrame) -> str:
    """A term's code: its factors' codes joined by ``:``, or, for an interaction whose margins
    are missing, R's columns formed by ``coding.interaction_columns``."""
    modes = r_modes(term, present, data)
    if modes is None:
        return " : ".join(_factor_code(f, data) for f in term.factors)
    names = ", ".join(expression_code(f) for f in term.factors)
    return f"{ALIAS}rterm({names}, modes={modes!r})"


def _plain_columns(terms: LinearTerms, data: pd.DataFrame) -> list[str] | None:
    """The columns of a predictor made of the intercept and numeric (not logical) variables
    taken as they are, named as they are spelled; None for anything formulaic encodes."""
    columns = ["(Intercept)"] if terms.intercept else []
    for term in terms.terms:
        factor = term.factors[0]
        if len(term.factors) > 1 or not isinstance(factor, Name) or str(factor) != factor.name:
            return None
        column = data[factor.name]
        if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            return None
        columns.append(factor.name)
    return columns


def _factor_code(node: Node, data: pd.DataFrame) -> str:
    """A factor's code; a logical one (a logical column, a comparison in ``I()``) is coded as
    R codes it, a factor with levels FALSE and TRUE (columns ``wkTRUE``, ``I(x > 3)TRUE``)."""
    custom = _custom_contrast(node, data)
    if custom is not None:
        return custom
    code = expression_code(node)
    return f"{ALIAS}C({code}, levels=[False, True])" if _is_logical(node, data) else code


def _custom_contrast(node: Node, data: pd.DataFrame) -> str | None:
    """``C(f, contr.SAS)``, ``C(f, contr.sdif)`` and ``C(f, contr.treatment, base = k)``
    with R's coding and column names: a contrast given to ``C`` as a function is called with
    the number of levels, so its columns are numbered (``1``, ``3``; ``2-1``, ``3-2``)."""
    if not (isinstance(node, Call) and node.func == "C" and len(node.args) == 2):
        return None
    contrast = node.args[1]
    base = dict(node.kwargs).get("base")
    name = contrast.name if isinstance(contrast, Name) else ""
    if name not in ("contr.SAS", "contr.sdif") and base is None:
        return None
    levels = _levels_of(node.args[0], data)
    k = len(levels)
    if name == "contr.sdif":
        weights = {f"{j + 1}-{j}": [(j - k) / k if i < j else j / k for i in range(k)]
                   for j in range(1, k)}  # fmt: skip
    else:
        b = k if name == "contr.SAS" else int(float(expression_code(base)))  # type: ignore[arg-type]
        if not 1 <= b <= k:
            raise DataError(f"{node}: base = {b}, but the factor has {k} levels")
        weights = {str(j): [float(i == j - 1) for i in range(k)] for j in range(1, k + 1) if j != b}
    return f"{ALIAS}C({expression_code(node.args[0])}, {weights!r}, levels={levels!r})"


def _levels_of(node: Node, data: pd.DataFrame) -> list[Any]:
    """The levels formulaic gives a categorical expression (a column's own categories, or
    its sorted values)."""
    if not isinstance(node, Name) or node.name not in data:
        raise DataError(f"{node}: C(..., contr.SAS | contr.sdif | base = k) takes a column")
    levels = levels_of(data[node.name])
    # the levels are written into the code formulaic evaluates: plain literals only
    if not all(type(v) in (str, int, float, bool) for v in levels):
        raise DataError(f"{node}: C(..., contr.SAS | contr.sdif | base = k) needs text or numbers")
    return levels


def _is_logical(node: Node, data: pd.DataFrame) -> bool:
    inner = node.inner if isinstance(node, Paren) else node
    if isinstance(inner, Name):
        return inner.name in data and pd.api.types.is_bool_dtype(data[inner.name])
    if isinstance(inner, Call) and inner.func == "I" and inner.args:
        arg = inner.args[0]
        arg = arg.inner if isinstance(arg, Paren) else arg
        return isinstance(arg, BinOp) and arg.op in {"==", "!=", "<", ">", "<=", ">="}
    return False


def _plain(columns: list[str], data: pd.DataFrame) -> NDArray[np.float64]:
    values = np.empty((len(data), len(columns)))
    for k, name in enumerate(columns):
        values[:, k] = 1.0 if name == "(Intercept)" else data[name].to_numpy(dtype=np.float64)
    return values


def evaluate(node: Node, data: pd.DataFrame) -> NDArray[np.float64]:
    """Evaluate one numeric expression (a response, an offset) on the data."""
    if isinstance(node, Name) and pd.api.types.is_numeric_dtype(data[node.name]):
        return data[node.name].to_numpy(dtype=np.float64)
    code = expression_code(node)
    if isinstance(node, BinOp | UnaryOp | Paren):  # arithmetic, not formula operators
        code = f"I({code})"
    matrix = Formula(f"0 + {code}").get_model_matrix(data, na_action="ignore", context=_context())
    values = np.asarray(matrix, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != 1:
        raise ArgumentTypeError(f"{node} is not a single numeric column")
    return values[:, 0]


def expression_code(node: Node) -> str:
    """formulaic's spelling of a checked expression (``^`` as ``**``, odd names backticked)."""
    if isinstance(node, Name):  # bare when it can be (formulaic garbles some backticked names)
        plain = node.name.isidentifier() and not keyword.iskeyword(node.name)
        return node.name if plain and not node.name.startswith("_") else f"`{node.name}`"
    if isinstance(node, Number):
        return repr(node.value)
    if isinstance(node, String):
        return repr(node.value)
    if isinstance(node, Paren):
        return f"({expression_code(node.inner)})"
    if isinstance(node, UnaryOp):
        return f"({node.op}{expression_code(node.operand)})"
    if isinstance(node, BinOp):
        op = "**" if node.op == "^" else node.op
        return f"({expression_code(node.left)} {op} {expression_code(node.right)})"
    return _call_code(node)


def _call_code(call: Call) -> str:
    arg = expression_code(call.args[0])
    kwargs = {k: v for k, v in call.kwargs}
    a = ALIAS
    if call.func in {"factor", "as.factor"} or (call.func == "C" and len(call.args) == 1):
        return f"{a}C({arg})"
    if call.func == "C":
        contrast = call.args[1]
        assert isinstance(contrast, Name)
        return f"{a}C({arg}, {a}contr.{CONTRASTS[contrast.name]})"
    if call.func == "I":
        return f"{a}I({arg})"
    if call.func == "log" and "base" in kwargs:
        return f"{a}I({a}log({arg}) / {a}log({expression_code(kwargs['base'])}))"
    if call.func == "poly":
        degree = expression_code(call.args[1]) if len(call.args) > 1 else "1"
        raw = _flag(kwargs.get("raw"), default=False)
        return f"{a}poly({arg}, degree={int(float(degree))}, raw={raw})"
    if call.func == "scale":
        center = _flag(kwargs.get("center"), default=True)
        scale = _flag(kwargs.get("scale"), default=True)
        return f"{a}scale({arg}, center={center}, scale={scale})"
    rest = [_argument_code(x) for x in call.args[1:]]
    rest += [f"{k}={_argument_code(v)}" for k, v in call.kwargs]
    return f"{a}{call.func.replace('.', '_')}({', '.join([arg, *rest])})"


def _argument_code(node: Node) -> str:
    """An argument of a registered function: literals as Python literals (TRUE -> True)."""
    if isinstance(node, Name) and node.name in {"TRUE", "FALSE"}:
        return str(node.name == "TRUE")
    return expression_code(node)


def _flag(node: Node | None, default: bool) -> bool:
    return default if node is None else isinstance(node, Name) and node.name == "TRUE"


def _lme4_names(spec: FormulaicSpec, terms: LinearTerms) -> list[str]:
    """Rename formulaic's columns (``sex[T.M]``, ``poly(x, 2)[1]``) to lme4's."""
    structure = [entry for entry in spec.structure if entry.columns]
    names = ["(Intercept)"] if terms.intercept else []
    for term, entry in zip(terms.terms, structure[len(names) :], strict=True):
        factors = [factor.expr for factor in entry.term.factors]
        if factors[0].startswith(f"{ALIAS}rterm("):  # R's names already, in brackets
            names += [c[len(factors[0]) + 1 : -1] for c in entry.columns]
            continue
        labels = [str(f) for f in term.factors]
        renamed = [_rename(column, factors, labels) for column in entry.columns]
        names += _number_coded_levels(renamed)
    return names


def _rename(column: str, factors: list[str], labels: list[str]) -> str:
    """One formulaic column name in R's spelling; a factor formulaic left out of this
    column (its reduced coding of a term without margins) is skipped."""
    pieces = []
    rest = column
    for i, (fexpr, label) in enumerate(zip(factors, labels, strict=True)):
        if not rest.startswith(fexpr):
            continue
        rest = rest[len(fexpr) :]
        suffix = ""
        if rest.startswith("["):
            end = _bracket_end(rest, factors[i + 1 :])
            suffix = _level(rest[1:end])
            if fexpr.startswith(f"{ALIAS}poly(") and "raw=True" in fexpr and suffix.isdigit():
                suffix = str(int(suffix) + 1)  # formulaic numbers raw powers from 0, R from 1
            rest = rest[end + 1 :]
        pieces.append(label + suffix)
        rest = rest.removeprefix(":")
    return ":".join(pieces) if not rest else column


def _bracket_end(rest: str, later: list[str]) -> int:
    for factor in later:
        at = rest.find("]:" + factor)
        if at >= 0:
            return at
    return len(rest) - 1


def _level(inside: str) -> str:
    if inside.startswith("T."):
        return {"True": "TRUE", "False": "FALSE"}.get(inside[2:], inside[2:])
    if inside[:2] in {"S.", "H.", "P.", "D."}:  # numbered later, as R numbers them
        return "\0" + inside
    return inside


def _number_coded_levels(names: list[str]) -> list[str]:
    """R names the columns of sum, Helmert and polynomial contrasts by position
    (``C(sex, contr.sum)1``; ``.L``, ``.Q``, ``.C``, ``^4`` for polynomials)."""
    index: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        kind, level = match.group(1), match.group(2)
        n = index.setdefault(kind + level, sum(k[0] == kind for k in index) + 1)
        return _POLY.get(n, f"^{n}") if kind == "P" else str(n)

    return [re.sub(r"\0([SHPD])\.([^:\0]*)", number, name) for name in names]


_POLY = {1: ".L", 2: ".Q", 3: ".C"}
