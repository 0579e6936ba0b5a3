"""The unstructured term type: lme4's θ layout."""

from __future__ import annotations

import numpy as np

from lmerpy.terms import Unstructured, get_term_type, registered_term_types


def test_theta_is_the_lower_triangle_column_by_column() -> None:
    block = Unstructured().lambda_block(np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]), 3)
    np.testing.assert_array_equal(block, [[1, 0, 0], [2, 4, 0], [3, 5, 6]])


def test_bounds_starts_and_names_as_lme4() -> None:
    us = Unstructured()
    np.testing.assert_array_equal(us.lower_bounds(2), [0.0, -np.inf, 0.0])
    np.testing.assert_array_equal(us.theta_start(2), [1.0, 0.0, 1.0])
    # lme4 1.1-31: names(getME(lmer(Reaction ~ Days + (Days | Subject), sleepstudy), "theta"))
    assert us.theta_names(["(Intercept)", "Days"], "Subject") == [
        "Subject.(Intercept)", "Subject.Days.(Intercept)", "Subject.Days",
    ]  # fmt: skip


def test_us_is_registered() -> None:
    assert "us" in registered_term_types()
    assert isinstance(get_term_type("us"), Unstructured)
