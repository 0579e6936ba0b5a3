"""The exact gradient and Hessian of a small model's criterion (lmerpy.solver.hessian): the
value is the criterion's, and both derivatives agree with central differences."""

from __future__ import annotations

import numpy as np
import pytest

import lmerpy
from lmerpy.errors import ArgumentError
from tests.fits import data

MODELS = [
    ("Reaction ~ Days + (Days | Subject)", "sleepstudy"),  # a vector term: θ = T's triangle
    ("Reaction ~ Days + (Days || Subject)", "sleepstudy"),  # two scalar terms, one factor
    ("diameter ~ 1 + (1 | plate) + (1 | sample)", "penicillin"),  # crossed
]


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize(("formula", "name"), MODELS)
def test_value_gradient_and_hessian_agree_with_central_differences(
    formula: str, name: str, reml: bool
) -> None:
    devfun = lmerpy.lmer(formula, data(name), reml=reml).devfun
    assert devfun.has_hessian
    theta = np.asarray(devfun.start) * 0.7 + 0.1  # away from the optimum, where g ≠ 0
    value, grad, hess = devfun.value_gradient_hessian(theta)
    assert value == pytest.approx(devfun(theta), rel=1e-12)
    h, eye = 1e-5, np.eye(len(theta))
    fd_grad = np.array([(devfun(theta + h * e) - devfun(theta - h * e)) / (2 * h) for e in eye])
    fd_hess = np.array(
        [
            (devfun.value_gradient_hessian(theta + h * e)[1]
             - devfun.value_gradient_hessian(theta - h * e)[1]) / (2 * h)
            for e in eye
        ]
    )  # fmt: skip
    scale = np.max(np.abs(grad))
    np.testing.assert_allclose(grad, fd_grad, atol=1e-5 * scale)
    np.testing.assert_allclose(hess, fd_hess, atol=1e-5 * np.max(np.abs(hess)))
    np.testing.assert_array_equal(hess, hess.T)


def test_no_hessian_beyond_the_dense_route_or_for_nonlinear_terms() -> None:
    exam = lmerpy.lmer("normexam ~ standLRT + (standLRT | school)", data("exam")).devfun
    assert not exam.has_hessian  # 130 random effects: factored level by level
    with pytest.raises(ArgumentError, match="Hessian"):
        exam.value_gradient_hessian(exam.start)
    cs = lmerpy.lmer("Reaction ~ Days + cs(0 + factor(Days) | Subject)", data("sleepstudy"))
    assert not cs.devfun.has_hessian  # cs's Λ is not linear in θ
