"""``lmerpy.register_function``: a user's function becomes callable from formulas (and
nothing else does), with literal checks, several columns named as R names a basis, and state
replayed on new data."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import lmerpy
from lmerpy.errors import ArgumentError, ArgumentTypeError, FormulaSemanticError, FormulaSyntaxError


def test_a_registered_function_is_called() -> None:
    lmerpy.register_function("twice", lambda x: 2 * np.asarray(x, float))
    d = lmerpy.datasets.load("sleepstudy")
    m = lmerpy.lmer("Reaction ~ twice(Days) + (1 | Subject)", d)
    plain = lmerpy.lmer("Reaction ~ Days + (1 | Subject)", d)
    assert list(m.fixef.index) == ["(Intercept)", "twice(Days)"]
    assert m.fixef.iloc[1] == pytest.approx(plain.fixef.iloc[1] / 2, rel=1e-9)


def test_state_is_kept_for_new_data_and_columns_are_numbered() -> None:
    def centred_powers(x: Any, degree: float = 2, *, state: dict[str, Any]) -> np.ndarray:
        values = np.asarray(x, float)
        state.setdefault("centre", float(values.mean()))
        c = values - state["centre"]
        return np.column_stack([c**k for k in range(1, int(degree) + 1)])

    lmerpy.register_function("cpow", centred_powers, keywords={"degree": "number"}, stateful=True)
    d = lmerpy.datasets.load("sleepstudy")
    m = lmerpy.lmer("Reaction ~ cpow(Days, degree = 2) + (1 | Subject)", d)
    assert list(m.fixef.index) == [
        "(Intercept)",
        "cpow(Days, degree = 2)1",
        "cpow(Days, degree = 2)2",
    ]
    new = pd.DataFrame({"Days": [4.5], "Subject": ["308"]})  # the training mean: both powers 0
    assert m.predict(new, re_form="~0").iloc[0] == pytest.approx(m.fixef.iloc[0], rel=1e-12)


def test_literals_are_checked_and_nothing_else_is_callable() -> None:
    lmerpy.register_function(
        "shift", lambda x, by=0.0: np.asarray(x, float) + by, keywords={"by": "number"}
    )
    with pytest.raises(FormulaSemanticError, match="expected a number"):
        lmerpy.parse_formula('y ~ shift(x, by = "a")')
    with pytest.raises(FormulaSemanticError, match="no option 'step'"):
        lmerpy.parse_formula("y ~ shift(x, step = 1)")
    with pytest.raises(FormulaSyntaxError, match="unknown function 'nope'"):
        lmerpy.parse_formula("y ~ nope(x)")


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        (("2bad", np.log), ArgumentError, "not a name"),
        (("log", np.log), ArgumentError, "built in"),
        (("f", 3), ArgumentTypeError, "callable"),
        (("f", np.log), ArgumentError, "literal kinds"),
        (("as_numeric", np.log), ArgumentError, "clash with as.numeric"),
    ],
)
def test_bad_registrations(args: tuple[Any, Any], error: type, match: str) -> None:
    kwargs = {"keywords": {"k": "vector"}} if match == "literal kinds" else {}
    with pytest.raises(error, match=match):
        lmerpy.register_function(*args, **kwargs)
