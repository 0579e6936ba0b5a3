"""Memory limits: the dense blocks' limit, and the conditional variances of a term with many
levels crossed with another computed a slice of levels at a time (same numbers)."""

from __future__ import annotations

import numpy as np
import pytest

import lmerpy
import lmerpy.solver.structure
from lmerpy.errors import ModelTooLargeError
from lmerpy.solver import blocked
from tests.fits import data


@pytest.mark.filterwarnings("ignore::lmerpy.errors.SingularFitWarning")  # numbers only here
@pytest.mark.parametrize(
    ("formula", "name"),
    [
        ("diameter ~ 1 + (1 | plate) + (1 | sample)", "penicillin"),
        ("Reaction ~ Days + (Days | Subject) + (1 | Days)", "sleepstudy"),
    ],
)
def test_sliced_conditional_variances_are_the_same(
    formula: str, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fit = lmerpy.lmer(formula, data(name))
    theta = fit.record.final
    whole = fit.devfun.solve(theta).condvar
    monkeypatch.setattr(blocked, "_MAX_SOLVE_BYTES", 200)  # a few levels a slice
    sliced = lmerpy.make_deviance(fit.design).solve(theta).condvar
    for a, b in zip(whole, sliced, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-15)


def test_the_documented_limit_is_the_one_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Assigning lmerpy.solver.structure.MAX_DENSE_BYTES (docs/scale.md) takes effect, and
    the refusal names it."""
    design = lmerpy.lformula("diameter ~ 1 + (1 | plate) + (1 | sample)", data("penicillin"))
    monkeypatch.setattr(lmerpy.solver.structure, "MAX_DENSE_BYTES", 250)  # 6 x 6 x 8 is 288
    with pytest.raises(ModelTooLargeError, match=r"lmerpy\.solver\.structure\.MAX_DENSE_BYTES"):
        lmerpy.make_deviance(design)
    monkeypatch.setattr(lmerpy.solver.structure, "MAX_DENSE_BYTES", 8 * 36)
    assert lmerpy.make_deviance(design).workspace.dense_size == 6
