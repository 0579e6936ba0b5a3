"""fit.tidy(): broom.mixed's long frames."""

from __future__ import annotations

import numpy as np
import pytest

import lmerpy


@pytest.fixture(scope="module")
def fit() -> lmerpy.LmerResult:
    return lmerpy.lmer("Reaction ~ Days + (Days | Subject)", lmerpy.datasets.load("sleepstudy"))


def test_fixed(fit: lmerpy.LmerResult) -> None:
    t = fit.tidy()
    assert list(t.columns) == [
        "effect",
        "term",
        "estimate",
        "std.error",
        "statistic",
        "df",
        "p.value",
    ]
    # lme4 1.1-31 / lmerTest: sqrt(diag(vcov(m))), summary df for sleepstudy = 17
    np.testing.assert_allclose(t["std.error"], [6.824597, 1.545790], rtol=1e-3)
    np.testing.assert_allclose(t["df"], [17.0, 17.0], rtol=1e-3)


def test_ran_pars_names_as_broom_mixed(fit: lmerpy.LmerResult) -> None:
    t = fit.tidy("ran_pars")
    assert t["term"].tolist() == [
        "sd__(Intercept)", "sd__Days", "cor__(Intercept).Days", "sd__Observation",
    ]  # fmt: skip
    # lme4 1.1-31: as.data.frame(VarCorr(m))$sdcor
    np.testing.assert_allclose(
        t["estimate"], [24.7406580, 5.9221377, 0.0655512, 25.5917957], rtol=1e-3
    )


def test_ran_vals_have_conditional_sds(fit: lmerpy.LmerResult) -> None:
    t = fit.tidy("ran_vals")
    assert len(t) == 36 and set(t["term"]) == {"(Intercept)", "Days"}
    first = t.iloc[0]
    # lme4 1.1-31: ranef(m, condVar = TRUE)$Subject["308", ], postVar[1, 1, 1] = 145.7056
    assert first["level"] == "308" and first["estimate"] == pytest.approx(2.258551, abs=1e-2)
    assert first["std.error"] == pytest.approx(np.sqrt(145.7056), rel=1e-2)


def test_unknown_effects() -> None:
    fit = lmerpy.lmer("Yield ~ 1 + (1 | Batch)", lmerpy.datasets.load("dyestuff"))
    with pytest.raises(ValueError, match="effects must be one of fixed, ran_pars, ran_vals"):
        fit.tidy("everything")
