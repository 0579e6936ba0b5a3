"""The functions a formula may call: an allow-list with argument rules.

Nothing in a formula is ever evaluated as Python. A call is accepted only if its
name is listed here and its arguments obey the listed rules; every other name is a
variable, looked up in the data later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal as Kind

__all__ = ["CONTRASTS", "FUNCTIONS", "MAX_POLY_DEGREE", "FunctionRule"]

MAX_POLY_DEGREE = 20

# R contrast names accepted as C(x, contr.NAME) and what formulaic calls them.
CONTRASTS = {
    "contr.treatment": "treatment",
    "contr.sum": "sum",
    "contr.helmert": "helmert",
    "contr.poly": "poly",
}


@dataclass(frozen=True)
class FunctionRule:
    """How a function may be called.

    Attributes:
        role: ``transform`` (a value, usable anywhere a variable is), ``offset``
            (only as a term of the fixed part), ``response`` (only as the whole
            left-hand side).
        max_args: positional arguments allowed (at least one is always required).
        keywords: keyword arguments allowed, each with the literal kind it takes.
        literal_args: kinds of the positional arguments after the first, which must
            be literals (``poly(x, 2)``); empty when they are expressions.
    """

    role: Kind["transform", "offset", "response"]
    max_args: int = 1
    keywords: tuple[tuple[str, str], ...] = ()
    literal_args: tuple[str, ...] = ()


_MATH = FunctionRule("transform")

FUNCTIONS: dict[str, FunctionRule] = {
    "log": FunctionRule("transform", keywords=(("base", "number"),)),
    "log2": _MATH,
    "log10": _MATH,
    "log1p": _MATH,
    "exp": _MATH,
    "expm1": _MATH,
    "sqrt": _MATH,
    "abs": _MATH,
    "I": _MATH,
    "scale": FunctionRule("transform", keywords=(("center", "bool"), ("scale", "bool"))),
    "poly": FunctionRule(
        "transform", max_args=2, keywords=(("raw", "bool"),), literal_args=("degree",)
    ),
    "factor": _MATH,
    "as.factor": _MATH,
    "C": FunctionRule("transform", max_args=2, literal_args=("contrast",)),
    "offset": FunctionRule("offset"),
    "cbind": FunctionRule("response", max_args=2),
}
