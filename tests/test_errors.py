"""One exception root, one warning root, and warnings that point at the caller's line."""

from __future__ import annotations

import ast
import builtins
import inspect
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmerpy
from lmerpy import errors

PACKAGE = Path(lmerpy.__file__).parent
BUILTIN_ERRORS = {
    name for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
}  # fmt: skip
ABSTRACT = {"NotImplementedError"}  # the base result's members a model kind must supply


def test_every_error_has_the_root_and_every_warning_too() -> None:
    for name, value in vars(errors).items():
        if not (isinstance(value, type) and value.__module__ == errors.__name__):
            continue
        root = errors.LmerpyWarning if issubclass(value, Warning) else errors.LmerpyError
        assert issubclass(value, root), name


def test_argument_errors_keep_the_builtin_mixins() -> None:
    assert issubclass(errors.ArgumentError, ValueError)
    assert issubclass(errors.ArgumentTypeError, TypeError)
    assert issubclass(errors.SeparationError, errors.FitError)


def raised_builtins(path: Path) -> list[str]:
    """'file:line Name' for every ``raise Name(...)`` of a built-in exception."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Raise) and node.exc is not None:
            call = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            name = call.id if isinstance(call, ast.Name) else None
            if name in BUILTIN_ERRORS and name not in ABSTRACT:
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {name}")
    return found


def test_no_builtin_exception_is_raised() -> None:
    assert [hit for path in sorted(PACKAGE.rglob("*.py")) for hit in raised_builtins(path)] == []


def test_no_warning_counts_stack_levels_by_hand() -> None:
    offenders = [
        str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
        if path.name != "errors.py" and "stacklevel" in path.read_text(encoding="utf-8")
    ]  # fmt: skip
    assert offenders == []


def _sleep() -> pd.DataFrame:
    return lmerpy.datasets.load("sleepstudy")


def _rows_dropped() -> None:
    lmerpy.lmer("Reaction ~ Days + (1 | Subject)", _sleep().assign(Days=[np.nan] + [1.0] * 179))


def _rank_deficient() -> None:
    lmerpy.lmer("Reaction ~ Days + D2 + (1 | Subject)", _sleep().assign(D2=lambda d: 2 * d.Days))


def _scale() -> None:
    big = _sleep().assign(D2=lambda d: d.Days**2 * 1e6)
    lmerpy.lmer("Reaction ~ Days + D2 + (1 | Subject)", big)


def _singular() -> None:
    lmerpy.lmer("Yield ~ 1 + (1 | Batch)", lmerpy.datasets.load("dyestuff2"))


def _refit_ml() -> None:
    data = _sleep()
    lmerpy.anova(lmerpy.lmer("Reaction ~ 1 + (1 | Subject)", data),
                 lmerpy.lmer("Reaction ~ Days + (1 | Subject)", data))  # fmt: skip


def _chunked_rows_dropped(tmp_path: Path) -> None:
    frame = _sleep().assign(Days=[np.nan] + [1.0] * 179)
    frame.to_parquet(tmp_path / "sleep.parquet")
    lmerpy.lmer("Reaction ~ Days + (1 | Subject)", str(tmp_path / "sleep.parquet"))


@pytest.mark.parametrize(
    ("call", "category"),
    [
        (_rows_dropped, errors.RowsDroppedWarning),
        (_rank_deficient, errors.RankDeficiencyWarning),
        (_scale, errors.DataWarning),
        (_singular, errors.SingularFitWarning),
        (_refit_ml, errors.LmerpyWarning),
        (_chunked_rows_dropped, errors.RowsDroppedWarning),
    ],
)
def test_warnings_point_at_the_callers_line(
    call: Callable[..., None], category: type[Warning], tmp_path: Path
) -> None:
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        call(*([tmp_path] if inspect.signature(call).parameters else []))
    ours = [w for w in record if issubclass(w.category, category)]
    assert ours, category
    assert {w.filename for w in ours} == {__file__}
