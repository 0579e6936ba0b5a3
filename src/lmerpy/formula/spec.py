"""ModelSpec: what a formula says, with no data attached.

``str(spec)`` is a canonical formula that parses back to an equal spec.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import pandas as pd

from .ast import BinOp, Call, Literal, Name, Node, Paren, UnaryOp
from .functions import FUNCTIONS

__all__ = ["LinearTerms", "ModelSpec", "RandomTerm", "Term"]


def _quote(name: str) -> str:
    return str(Name(name))


def _literal(value: Literal) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return format(value, ".15g")


@dataclass(frozen=True, eq=False)
class Term:
    """One term of a linear predictor: a main effect or an interaction of factors.

    ``factors`` are expressions (variables or allowed calls) in order of first
    appearance in the formula, as R's ``terms()`` orders them; ``str`` gives lme4's
    label (``recipe:temp``, ``I(age^2)``). Terms are equal when they hold the same
    factors, in any order (``a:b`` is ``b:a``).
    """

    factors: tuple[Node, ...]

    def __str__(self) -> str:
        return ":".join(str(f) for f in self.factors)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Term) and set(self.factors) == set(other.factors)

    def __hash__(self) -> int:
        return hash(frozenset(self.factors))


@dataclass(frozen=True)
class LinearTerms:
    """An intercept decision and the terms of one linear predictor (R's ``terms``)."""

    intercept: bool
    terms: tuple[Term, ...] = ()

    def __str__(self) -> str:
        return " + ".join(["1" if self.intercept else "0", *map(str, self.terms)])

    @property
    def labels(self) -> list[str]:
        """Term labels as R's ``attr(terms(f), "term.labels")``."""
        return [str(t) for t in self.terms]


@dataclass(frozen=True)
class RandomTerm:
    """``type(lhs | group, options)``: random effects for ``lhs`` within each level of
    the grouping factor.

    Attributes:
        lhs: the term's left-hand linear predictor.
        group: variable names whose interaction is the grouping factor, in lme4's
            printed order (``("cask", "batch")`` is ``cask:batch``).
        type: the registered term type (``"us"`` for a plain ``(x | g)``).
        options: literal options of a term-type wrapper, sorted by name.
        start, end: the term's span in the formula text.
    """

    lhs: LinearTerms
    group: tuple[str, ...]
    type: str = "us"
    options: tuple[tuple[str, Literal], ...] = ()
    start: int = field(default=0, compare=False, repr=False)
    end: int = field(default=0, compare=False, repr=False)

    @property
    def group_name(self) -> str:
        """The grouping factor's name as lme4 prints it (``school``, ``cask:batch``)."""
        return ":".join(self.group)

    def __str__(self) -> str:
        bar = f"{self.lhs} | {':'.join(_quote(g) for g in self.group)}"
        if self.type == "us" and not self.options:
            return f"({bar})"
        opts = "".join(f", {k} = {_literal(v)}" for k, v in self.options)
        return f"{self.type}({bar}{opts})"


@dataclass(frozen=True)
class ModelSpec:
    """A parsed and expanded lme4 formula (lme4's ``lFormula`` without the data).

    Attributes:
        response: the left-hand side expression, or None for a one-sided formula.
        fixed: intercept and fixed-effect terms.
        offsets: arguments of ``offset(...)`` terms, added to the linear predictor.
        random: random-effect terms, ``(x || g)`` already split as lme4 1.1 splits it.
        formula: the text the spec was parsed from.
    """

    response: Node | None
    fixed: LinearTerms
    random: tuple[RandomTerm, ...] = ()
    offsets: tuple[Node, ...] = ()
    formula: str = field(default="", compare=False)

    def __str__(self) -> str:
        rhs = " + ".join(
            [str(self.fixed), *(f"offset({o})" for o in self.offsets), *map(str, self.random)]
        )
        return f"{self.response} ~ {rhs}" if self.response is not None else f"~ {rhs}"

    @property
    def variables(self) -> list[str]:
        """Every data column the formula uses, in order of first appearance."""
        names: dict[str, None] = {}
        nodes: list[Node] = [] if self.response is None else [self.response]
        nodes += [f for t in self.fixed.terms for f in t.factors] + list(self.offsets)
        for rt in self.random:
            nodes += [f for t in rt.lhs.terms for f in t.factors]
        for node in nodes:
            names.update(dict.fromkeys(variables_of(node)))
        for rt in self.random:
            names.update(dict.fromkeys(rt.group))
        return list(names)


CONSTANTS = {"pi": math.pi}
"""Names R knows as constants: a formula may use them where the data have no such column (a
column of that name wins, as in R)."""


def with_constants(names: list[str], data: pd.DataFrame) -> pd.DataFrame:
    """``data`` with a column for each constant among ``names`` that it lacks."""
    missing = {k: v for k, v in CONSTANTS.items() if k in names and k not in data.columns}
    return data.assign(**missing) if missing else data


def variables_of(node: Node) -> list[str]:
    """Variable names in an expression, left to right (literal arguments excluded)."""
    out: list[str] = []
    stack: list[Node] = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Name):
            if n.name not in {"TRUE", "FALSE"}:
                out.append(n.name)
        elif isinstance(n, Call):
            rule = FUNCTIONS.get(n.func)
            literal = n.func in {"poly", "C"} or (rule is not None and bool(rule.literal_args))
            stack.extend(reversed(n.args[:1] if literal else n.args))
        elif isinstance(n, BinOp):
            stack.extend([n.right, n.left])
        elif isinstance(n, UnaryOp | Paren):
            stack.append(n.operand if isinstance(n, UnaryOp) else n.inner)
    return out


_DOT = re.compile(r"(?<![\w.`])\.(?![\w.`])")


def substitute_dots(formula: str, spec: ModelSpec) -> str:
    """lme4's ``update`` formulas: ``.`` stands for the old response on the left of ``~`` and
    for the old right-hand side on the right (``". ~ . - Days"``)."""
    lhs, tilde, rhs = formula.partition("~")
    if not tilde:
        return formula
    old_rhs = str(spec).partition("~")[2].strip()
    lhs = _DOT.sub(str(spec.response), lhs)
    rhs = _DOT.sub(f"({old_rhs})", rhs)
    return f"{lhs.strip()} ~ {rhs.strip()}"
