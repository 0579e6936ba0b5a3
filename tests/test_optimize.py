"""optimize_deviance: BOBYQA within bounds, lme4's boundary handling, and the record."""

from __future__ import annotations

import numpy as np
import pytest

from lmerpy import optimize_deviance
from lmerpy.errors import FitError


def test_minimum_inside_the_bounds() -> None:
    rec = optimize_deviance(
        lambda t: float((t[0] - 2) ** 2 + (t[1] + 1) ** 2), lower=[0, -np.inf], start=[1, 0]
    )
    np.testing.assert_allclose(rec.final, [2, -1], atol=1e-6)
    assert rec.converged and rec.optimizer == "bobyqa" and rec.evaluations > 0
    assert rec.f_initial == pytest.approx(2.0)


def test_minimum_on_the_bound_is_exactly_on_it() -> None:
    rec = optimize_deviance(
        lambda t: float((t[0] + 1) ** 2 + t[1] ** 2), lower=[0, 0], start=[1, 1]
    )
    assert rec.final[0] == 0.0


def test_one_parameter() -> None:
    rec = optimize_deviance(lambda t: float((t[0] - 0.5) ** 2), lower=[0], start=[1])
    assert rec.final.shape == (1,)
    assert rec.final[0] == pytest.approx(0.5, abs=1e-5)


def test_near_zero_parameters_snap_to_the_bound_when_no_worse() -> None:
    rec = optimize_deviance(
        lambda t: float(abs(t[0]) + (t[1] - 3) ** 2), lower=[0, -np.inf], start=[1, 0]
    )
    assert rec.final[0] == 0.0


def test_a_deviance_that_cannot_be_evaluated_at_the_start_is_a_fit_error() -> None:
    with pytest.raises(FitError, match="starting values"):
        optimize_deviance(lambda t: float("inf"), lower=[0], start=[1])


class _EvenWithGradient:
    """(t² - 1/4)² with its gradient: even in t, so its gradient is 0 at the bound t = 0,
    where L-BFGS-B's first step from t = 1 lands (a scalar term's criterion is even too)."""

    has_gradient = True

    def __call__(self, t: np.ndarray) -> float:
        return float((t[0] ** 2 - 0.25) ** 2)

    def value_and_gradient(self, t: np.ndarray) -> tuple[float, np.ndarray]:
        return self(t), np.array([4 * t[0] * (t[0] ** 2 - 0.25)])


def test_auto_uses_the_exact_gradient_and_leaves_a_stationary_bound() -> None:
    rec = optimize_deviance(_EvenWithGradient(), lower=[0], start=[1])
    assert rec.optimizer == "lbfgsb" and rec.converged
    assert rec.final[0] == pytest.approx(0.5, abs=1e-5)


def test_without_a_gradient_auto_is_bobyqa() -> None:
    rec = optimize_deviance(lambda t: float((t[0] - 2) ** 2), lower=[0], start=[1])
    assert rec.optimizer == "bobyqa"
