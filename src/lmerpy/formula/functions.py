"""The functions a formula may call: an allow-list with argument rules.

Nothing in a formula is ever evaluated as Python. A call is accepted only if its
name is listed here and its arguments obey the listed rules; every other name is a
variable, looked up in the data later.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from typing import Literal as Kind

import numpy as np
import pandas as pd

from ..errors import ArgumentError, ArgumentTypeError

__all__ = [
    "CONTRASTS",
    "FUNCTIONS",
    "MAX_POLY_DEGREE",
    "FunctionRule",
    "implementations",
    "protect",
    "register_function",
]

MAX_POLY_DEGREE = 20

# R contrast names accepted as C(x, contr.NAME) and what formulaic calls them.
CONTRASTS = {
    "contr.treatment": "treatment",
    "contr.sum": "sum",
    "contr.helmert": "helmert",
    "contr.poly": "poly",
    "contr.SAS": "SAS",  # treatment with the last level as base; coded by lmerpy
    "contr.sdif": "sdif",  # MASS's successive differences; coded by lmerpy
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
        registered: whether ``register_function`` added it (its implementation is then in
            the registry, called through the alias the design layer gives it).
    """

    role: Kind["transform", "offset", "response"]
    max_args: int = 1
    keywords: tuple[tuple[str, str], ...] = ()
    literal_args: tuple[str, ...] = ()
    registered: bool = False


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
    "C": FunctionRule(
        "transform", max_args=2, keywords=(("base", "number"),), literal_args=("contrast",)
    ),
    "offset": FunctionRule("offset"),
    "cbind": FunctionRule("response", max_args=2),
}


# ---- the registry of functions users add ----------------------------------------------------

_NAME = re.compile(r"^(?:[A-Za-z]|\.(?![0-9]))[A-Za-z0-9._]*$")
_BUILTIN = set(FUNCTIONS)  # names no one may replace (library.py adds its own)
_IMPLEMENTATIONS: dict[str, Callable[..., Any]] = {}
LITERAL_KINDS = ("number", "bool", "string")


def register_function(
    name: str,
    fn: Callable[..., Any],
    *,
    max_args: int = 1,
    literal_args: tuple[str, ...] = (),
    keywords: Mapping[str, str] | None = None,
    stateful: bool = False,
) -> None:
    """Let formulas call ``name(...)``, computed by ``fn`` (no R function: in R a formula may
    call any function; lmerpy's formulas call only those on this allow-list).

    Args:
        name: the name formulas use (an R name, e.g. ``"pmin"`` or ``"ns"``); a built-in
            function cannot be replaced.
        fn: computes the values: ``fn(x, *args, **kwargs)`` for a call ``name(x, ...)``, x
            the first argument's values (a Series). It returns one column (an array or
            Series, numbers or a categorical), several (a 2-D array or a DataFrame: columns
            named ``name(...)1``, ``name(...)2`` ... as R names a basis), or a dict of named
            columns.
        max_args: positional arguments a call may have (at least one is required).
        literal_args: if given, the positional arguments after the first must be literals of
            these kinds (``"number"``, ``"bool"``, ``"string"``); otherwise they are
            expressions of the data (``pmin(x, y)``).
        keywords: option name -> literal kind (``{"df": "number"}``).
        stateful: ``fn`` also takes ``state``, a dict: empty when the model is fitted (``fn``
            records there what new data must reuse, such as a spline's knots), and as left
            then when new data are encoded (R's ``makepredictcall``).

    Nothing else becomes callable: a formula still runs no code that was not registered.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ArgumentError(
            f"{name!r} is not a name a formula can call (an R name: letters, digits, '.', '_')"
        )
    if name in _BUILTIN:
        raise ArgumentError(f"{name}() is built in and cannot be replaced")
    clash = [k for k in FUNCTIONS if k != name and k.replace(".", "_") == name.replace(".", "_")]
    if clash:  # the design layer calls both as the same alias
        raise ArgumentError(f"{name}() would clash with {clash[0]}(): choose another name")
    if not callable(fn):
        raise ArgumentTypeError(f"fn must be callable, not {type(fn).__name__}")
    kinds = dict(keywords or {})
    for kind in (*literal_args, *kinds.values()):
        if kind not in LITERAL_KINDS:
            raise ArgumentError(f"literal kinds are {', '.join(LITERAL_KINDS)}; got {kind!r}")
    if max_args < 1 or (literal_args and len(literal_args) != max_args - 1):
        raise ArgumentError("max_args counts the first argument; literal_args the ones after it")
    FUNCTIONS[name] = FunctionRule(
        "transform", max_args, tuple(kinds.items()), tuple(literal_args), True
    )
    _IMPLEMENTATIONS[name] = _stateful(fn) if stateful else _plain(fn)


def protect(*names: str) -> None:
    """Make registered functions built-ins: they can no longer be replaced."""
    _BUILTIN.update(names)


def implementations() -> dict[str, Callable[..., Any]]:
    """The registered functions, wrapped for the design layer (by formula name)."""
    return dict(_IMPLEMENTATIONS)


def _columns(x: Any, value: Any) -> Any:
    """One column as it is; several as a dict keyed 1, 2, ... (formulaic names them
    ``f(x)[1]``, which lmerpy renames ``f(x)1``, as R)."""
    n = len(x)
    index = x.index if isinstance(x, pd.Series) else None
    if hasattr(value, "__formulaic_metadata__"):  # already coded (a factor with contrasts)
        return value
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, pd.DataFrame):
        value = value.to_numpy()
    if isinstance(value, pd.Categorical):
        return pd.Series(value, index=index)
    if isinstance(value, pd.Series):
        return value
    array = np.asarray(value)
    if array.ndim == 0:
        array = np.full(n, array)
    if array.ndim == 2 and array.shape[1] > 1:
        return {str(j + 1): array[:, j] for j in range(array.shape[1])}
    return array.reshape(n) if array.size == n else array


def _plain(fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(x: Any, *args: Any, **kwargs: Any) -> Any:
        return _columns(x, fn(x, *args, **kwargs))

    call.__name__ = getattr(fn, "__name__", "registered")
    return call


def _stateful(fn: Callable[..., Any]) -> Callable[..., Any]:
    from formulaic.utils.stateful_transforms import stateful_transform

    def call(x: Any, *args: Any, _state: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        state = {} if _state is None else _state
        return _columns(x, fn(x, *args, state=state, **kwargs))

    call.__name__ = getattr(fn, "__name__", "registered")
    wrapped: Callable[..., Any] = stateful_transform(call)
    return wrapped
