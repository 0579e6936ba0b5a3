"""Comparing a fit from data read in chunks with the fit of the same rows in memory."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lmerpy

CRITERION_RTOL = 1e-9
"""The issue's bar: the criterion of a chunked fit equals the in-memory one to 1e-9."""


def assert_same_fit(chunked: lmerpy.LmerResult, memory: lmerpy.LmerResult) -> None:
    assert chunked.objective == pytest.approx(memory.objective, rel=CRITERION_RTOL)
    assert chunked.nobs == memory.nobs
    assert chunked.dropped_rows == memory.dropped_rows
    assert chunked.design.x_columns == memory.design.x_columns
    assert chunked.design.dropped_columns == memory.design.dropped_columns
    assert chunked.ngroups == memory.ngroups
    np.testing.assert_allclose(chunked.fixef, memory.fixef, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(chunked.theta, memory.theta, rtol=1e-4, atol=1e-6)
    assert chunked.sigma == pytest.approx(memory.sigma, rel=1e-6)
    for group, modes in memory.ranef.items():
        pd.testing.assert_index_equal(chunked.ranef[group].index, modes.index)
        np.testing.assert_allclose(chunked.ranef[group], modes, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(chunked.vcov, memory.vcov, rtol=1e-4, atol=1e-10)  # as theta
