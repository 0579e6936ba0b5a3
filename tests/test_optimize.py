"""optimize_deviance: BOBYQA within bounds, lme4's boundary handling, and the record."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest

import lmerpy
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


def _slope_data(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n, m = 600, 40
    g, x = rng.integers(0, m, n), rng.normal(size=n)
    y = 1 + 0.5 * x + rng.normal(size=m)[g] + 0.5 * rng.normal(size=m)[g] * x + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "g": g.astype(str)})


@pytest.mark.parametrize("factor", [1e-6, 1e-3, 1e3, 1e6])
@pytest.mark.parametrize("formula", ["y ~ x + (x | g)", "y ~ x + (x || g)"])
def test_a_rescaled_slope_fits_the_same_model(factor: float, formula: str) -> None:
    """The optimizer searches θ / scale (the random-effect columns' root mean squares), so a
    predictor multiplied by 1e-6 or 1e6 gives the model of the unscaled one: the same ML
    deviance, the slope and its SD scaled by the inverse factor, no spurious singular fit."""
    data = _slope_data(11)
    with warnings.catch_warnings():
        warnings.simplefilter("error", lmerpy.errors.SingularFitWarning)
        base = lmerpy.lmer(formula, data, reml=False)
        scaled = lmerpy.lmer(formula, data.assign(x=data["x"] * factor), reml=False)
    assert scaled.deviance == pytest.approx(base.deviance, rel=1e-9)
    np.testing.assert_allclose(scaled.fixef.to_numpy() * [1, factor], base.fixef, rtol=1e-5)
    sd, sd_base = (f.varcorr[f.varcorr["var2"].isna()].set_index("var1")["sdcor"]
                   for f in (scaled, base))  # fmt: skip
    assert sd["x"] * factor == pytest.approx(sd_base["x"], rel=1e-4)
    assert sd["(Intercept)"] == pytest.approx(sd_base["(Intercept)"], rel=1e-4)
    assert sd[np.nan] == pytest.approx(sd_base[np.nan], rel=1e-6)  # the residual


def test_columns_near_unit_scale_leave_theta_as_lme4_searches_it() -> None:
    design = lmerpy.lformula(
        "Reaction ~ Days + (Days | Subject)", lmerpy.datasets.load("sleepstudy")
    )
    assert np.all(lmerpy.make_deviance(design).theta_scale == 1.0)
    tiny = design.data.assign(Days=design.data["Days"] * 1e-4)
    devfun = lmerpy.make_deviance(lmerpy.lformula("Reaction ~ Days + (Days | Subject)", tiny))
    rms = np.sqrt(np.mean((design.data["Days"] * 1e-4) ** 2))
    np.testing.assert_allclose(devfun.theta_scale, [1.0, 1 / rms, 1 / rms])
    np.testing.assert_allclose(devfun.start, [1.0, 0.0, 1 / rms])


def _replicates(
    formula: str, name: str, count: int
) -> tuple[lmerpy.LmerResult, list[lmerpy.DevianceFunction]]:
    """A fit and the deviance functions of parametric bootstrap responses."""
    fit = lmerpy.lmer(formula, lmerpy.datasets.load(name))
    rng = np.random.default_rng(11)
    return fit, [
        fit.devfun.refitted(dataclasses.replace(fit.design, y=fit.simulate_once(rng)))
        for _ in range(count)
    ]


@pytest.mark.parametrize(
    ("formula", "name"),
    [("Reaction ~ Days + (Days | Subject)", "sleepstudy"),
     ("distance ~ age + (age | Subject)", "orthodont")],  # near-singular replicates
)  # fmt: skip
def test_newton_refits_reach_bobyqas_optimum_or_below(formula: str, name: str) -> None:
    """From the fitted θ, as refits start: Newton's optimum is never above BOBYQA's by more
    than BOBYQA's own scatter where it hands over near a boundary (Orthodont: ~3e-4 of a
    deviance of ~450, in either direction), and on sleepstudy by no more than rounding."""
    tolerance = 1e-8 if name == "sleepstudy" else 1e-5
    fit, replicates = _replicates(formula, name, 25)
    start = np.asarray(fit.record.final)
    for devfun in replicates:
        assert devfun.has_hessian
        kwargs = {"lower": devfun.lower, "upper": devfun.upper, "start": start}
        newton = optimize_deviance(devfun, optimizer="newton", **kwargs)
        bobyqa = optimize_deviance(devfun, optimizer="bobyqa", **kwargs)
        assert newton.converged and newton.optimizer == "newton"
        assert newton.f_final <= bobyqa.f_final * (1 + tolerance)
        assert newton.f_final == pytest.approx(devfun(newton.final), rel=1e-12)


def test_newton_hands_a_singular_optimum_to_bobyqa() -> None:
    """A response without slope variation: the optimum has θ₃ = 0, a bound Newton's steps
    never land on; BOBYQA finishes there, as a fit from scratch does."""
    fit = lmerpy.lmer("Reaction ~ Days + (Days | Subject)", lmerpy.datasets.load("sleepstudy"))
    rng = np.random.default_rng(3)
    subject = fit.design.terms[0].factor.codes
    y = 250 + 10 * fit.design.X[:, 1] + 30 * rng.standard_normal(18)[subject]
    y = y + 20 * rng.standard_normal(fit.nobs)
    devfun = fit.devfun.refitted(dataclasses.replace(fit.design, y=y))
    kwargs = {"lower": devfun.lower, "upper": devfun.upper, "start": fit.record.final}
    newton = optimize_deviance(devfun, optimizer="newton", **kwargs)
    fresh = optimize_deviance(devfun, optimizer="bobyqa", lower=devfun.lower, start=devfun.start)
    assert newton.final[2] == 0.0 and fresh.final[2] == 0.0
    assert newton.f_final <= fresh.f_final + 1e-6


def test_newton_needs_a_hessian() -> None:
    with pytest.raises(lmerpy.errors.ArgumentError, match="needs a deviance function with a"):
        optimize_deviance(lambda t: float(t[0] ** 2), lower=[0], start=[1], optimizer="newton")
