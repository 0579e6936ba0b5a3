"""The data checks and their severities (lme4's lmerControl(check.*))."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lmerpy
from lmerpy import Checks
from lmerpy.design.checks import DataWarning
from lmerpy.errors import DataError


def sleep() -> pd.DataFrame:
    return lmerpy.datasets.load("sleepstudy")


def test_one_level_grouping_factor() -> None:
    data = sleep().assign(one="a")
    with pytest.raises(DataError, match="'one' has only one level"):
        lmerpy.lmer("Reaction ~ Days + (1 | one)", data)


def test_as_many_levels_as_observations() -> None:
    data = sleep().assign(row=np.arange(180))
    with pytest.raises(DataError, match="as many levels as there are observations"):
        lmerpy.lmer("Reaction ~ Days + (1 | Subject) + (1 | row)", data)


def test_as_many_random_effects_as_observations() -> None:
    data = sleep().query("Days < 2")  # 2 per subject: (Days | Subject) has 36 effects for 36 rows
    with pytest.raises(DataError, match="has 36 random effects for 36 observations"):
        lmerpy.lmer("Reaction ~ Days + (Days | Subject)", data)


def test_constant_response() -> None:
    with pytest.raises(DataError, match="the response is constant"):
        lmerpy.lmer("y ~ Days + (1 | Subject)", sleep().assign(y=3.0))


def test_scale_hint_is_a_warning_kept_on_the_fit() -> None:
    data = sleep().assign(big=lambda d: d["Days"] * 1e5 + np.arange(180))
    with pytest.warns(DataWarning, match="very different scales"):
        fit = lmerpy.lmer("Reaction ~ Days + big + (1 | Subject)", data)
    assert any("very different scales" in m for m in fit.messages)


def test_fewer_than_five_levels_only_when_asked() -> None:
    data = lmerpy.datasets.load("pastes")
    small = data[data["batch"].isin(["A", "B", "C"])]
    with pytest.warns(DataWarning, match="fewer than 5 levels"):
        lmerpy.lmer("strength ~ 1 + (1 | batch)", small, checks=Checks(nlev_gteq_5="warning"))


def test_severity_can_be_lowered() -> None:
    data = sleep().query("Days < 2")
    with pytest.warns(DataWarning, match="random effects"):
        lmerpy.lformula(
            "Reaction ~ Days + (Days | Subject)", data, checks=Checks(nobs_vs_nre="warning")
        )
    lmerpy.lformula("Reaction ~ Days + (Days | Subject)", data, checks=Checks(nobs_vs_nre="ignore"))


def test_severities_are_validated() -> None:
    with pytest.raises(ValueError, match="must be 'error', 'warning' or 'ignore'"):
        Checks(scale_x="loud")  # type: ignore[arg-type]


def test_the_callers_data_are_never_modified() -> None:
    data = sleep()
    data.loc[3, "Reaction"] = np.nan
    before = data.copy()
    with pytest.warns(lmerpy.errors.RowsDroppedWarning):
        lmerpy.lmer("Reaction ~ Days + (Days | Subject)", data)
    pd.testing.assert_frame_equal(data, before)


def test_results_are_deterministic() -> None:
    a = lmerpy.lmer("Reaction ~ Days + (Days | Subject)", sleep())
    b = lmerpy.lmer("Reaction ~ Days + (Days | Subject)", sleep())
    assert a.reml_criterion == b.reml_criterion
    np.testing.assert_array_equal(a.theta, b.theta)
