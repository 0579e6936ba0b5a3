"""The conditional variances of a term with many levels crossed with another are computed a
slice of levels at a time when the dense block below them would be large: same numbers."""

from __future__ import annotations

import numpy as np
import pytest

import lmerpy
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
