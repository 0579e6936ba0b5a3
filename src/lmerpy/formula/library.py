"""R's functions that lme4 users call in formulas, beyond the core (``log``, ``I``, ``poly``,
``scale``, ``factor``, ``C``): each added through ``register_function``, as a user's own would
be, and then protected from replacement.

- elementwise: ``sin``, ``cos``, ``tan``, ``pmin(x, y)``, ``pmax(x, y)``, ``as.numeric``,
  ``as.integer`` (R truncates toward zero);
- splines (R's ``splines`` package): ``bs(x, df = 5, degree = 3)`` and ``ns(x, 3)``, knots at
  the training data's quantiles and kept for new data, as R's ``predict`` keeps them;
- factors: ``relevel(f, ref = "b")``, ``interaction(a, b)`` (levels ``a.b``, the first factor
  varying fastest, as R), ``ordered(f)`` (polynomial contrasts, as R codes ordered factors),
  ``cut(x, breaks = k)`` (k equal-width intervals over the training range, labelled as R's
  ``(a,b]``; new data reuse the training breaks).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd

from .functions import protect, register_function

__all__: list[str] = []


def _values(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _categorical(x: Any) -> Any:
    if isinstance(x, pd.Categorical):
        return x
    series = pd.Series(x)
    if isinstance(series.dtype, pd.CategoricalDtype):
        return pd.Categorical(series)
    levels = sorted(pd.unique(series.dropna()))
    return pd.Categorical(series, categories=levels)


def _relevel(x: Any, ref: str = "") -> Any:
    f = _categorical(x)
    levels = [str(c) for c in f.categories]
    if ref not in levels:
        from ..errors import DataError

        raise DataError(f"relevel(): {ref!r} is not a level ({', '.join(levels[:10])})")
    position = levels.index(ref)
    order = [f.categories[position], *[c for i, c in enumerate(f.categories) if i != position]]
    return f.reorder_categories(order)


def _interaction(a: Any, b: Any) -> Any:
    fa, fb = _categorical(a), _categorical(b)
    labels = [
        f"{x}.{y}"
        for x, y in zip(np.asarray(fa, dtype=object), np.asarray(fb, dtype=object), strict=True)
    ]
    levels = [f"{x}.{y}" for y in fb.categories for x in fa.categories]
    return pd.Categorical(labels, categories=levels)


def _ordered(x: Any) -> Any:
    from formulaic.transforms import TRANSFORMS

    values = pd.Series(_categorical(x), index=getattr(x, "index", None))
    return TRANSFORMS["C"](values, TRANSFORMS["contr"].poly)


def _cut(x: Any, breaks: float = 2.0, *, state: dict[str, Any]) -> Any:
    values = _values(x)
    if "breaks" not in state:
        k = int(breaks)
        low, high = float(np.nanmin(values)), float(np.nanmax(values))
        edges = np.linspace(low, high, k + 1)
        span = high - low
        edges[0], edges[-1] = low - span / 1000, high + span / 1000  # R widens the range by 0.1%
        state["breaks"] = edges.tolist()
    edges = np.asarray(state["breaks"])
    labels = [f"({_r_number(a)},{_r_number(b)}]" for a, b in itertools.pairwise(edges)]
    codes = np.searchsorted(edges, values, side="left") - 1
    codes = np.where((codes < 0) | (codes >= len(labels)) | np.isnan(values), -1, codes)
    return pd.Categorical.from_codes(codes.astype(np.int64), categories=pd.Index(labels))


def _r_number(v: float) -> str:
    """R's cut labels: three significant digits."""
    return f"{float(f'{v:.3g}'):g}"


def _spline_knots(
    x: np.ndarray, inner: int, state: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """Interior knots at the quantiles (R's type 7) and the boundary knots, once."""
    if "knots" not in state:
        probs = np.linspace(0, 1, inner + 2)[1:-1]
        state["knots"] = np.quantile(x, probs).tolist() if inner > 0 else []
        state["boundary"] = [float(np.min(x)), float(np.max(x))]
    return np.asarray(state["knots"], dtype=np.float64), np.asarray(state["boundary"])


def _basis(
    x: np.ndarray, knots: np.ndarray, boundary: np.ndarray, order: int, deriv: int = 0
) -> np.ndarray:
    """R's ``splineDesign(c(rep(boundary, order), knots) sorted, x, order, derivs)``."""
    from scipy.interpolate import BSpline

    t = np.sort(np.concatenate([np.repeat(boundary, order), knots]))
    n = len(t) - order
    spline = BSpline(t, np.eye(n), order - 1, extrapolate=False)
    values = spline.derivative(deriv)(x) if deriv else spline(x)
    return np.nan_to_num(np.asarray(values, dtype=np.float64))


def _bs(x: Any, df: float = 0.0, degree: float = 3.0, *, state: dict[str, Any]) -> np.ndarray:
    values, order = _values(x), int(degree) + 1
    inner = max(int(df) - int(degree), 0) if df else 0
    knots, boundary = _spline_knots(values, inner, state)
    return _basis(values, knots, boundary, order)[:, 1:]


def _ns(x: Any, df: float = 1.0, *, state: dict[str, Any]) -> np.ndarray:
    """R's ``ns``: the cubic B-spline basis (first column dropped) projected onto the
    functions with zero second derivative at both boundary knots, through the complete Q of
    the QR decomposition of the constraint (Householder, as R's and LAPACK's)."""
    values = _values(x)
    knots, boundary = _spline_knots(values, max(int(df) - 1, 0), state)
    basis = _basis(values, knots, boundary, 4)[:, 1:]
    constraint = _basis(boundary, knots, boundary, 4, deriv=2)[:, 1:]
    q, _ = np.linalg.qr(constraint.T, mode="complete")
    return np.asarray((basis @ q)[:, 2:])


register_function("bs", _bs, max_args=2, literal_args=("number",),
                  keywords={"df": "number", "degree": "number"}, stateful=True)  # fmt: skip
register_function("ns", _ns, max_args=2, literal_args=("number",),
                  keywords={"df": "number"}, stateful=True)  # fmt: skip
register_function("sin", lambda x: np.sin(_values(x)))
register_function("cos", lambda x: np.cos(_values(x)))
register_function("tan", lambda x: np.tan(_values(x)))
register_function("pmin", lambda x, y: np.minimum(_values(x), _values(y)), max_args=2)
register_function("pmax", lambda x, y: np.maximum(_values(x), _values(y)), max_args=2)
register_function("as.numeric", lambda x: _values(x))
register_function("as.integer", lambda x: np.trunc(_values(x)))
register_function("relevel", _relevel, keywords={"ref": "string"})
register_function("interaction", _interaction, max_args=2)
register_function("ordered", _ordered)
register_function("cut", _cut, keywords={"breaks": "number"}, stateful=True)
protect("bs", "ns", "sin", "cos", "tan", "pmin", "pmax", "as.numeric", "as.integer", "relevel",
        "interaction", "ordered", "cut")  # fmt: skip
