"""LmerResult: a fitted linear mixed model with lme4's accessors, as attributes.

Built once by ``make_result`` (lme4's ``mkMerMod``) and never changed. Costly pieces
(conditional variances, fitted values) are computed on first use.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg
from numpy.typing import ArrayLike, NDArray

from ..design import Design
from ..errors import ArgumentError
from ..fitted.base import fit_warnings
from ..fitted.predict import new_random_effects, predict
from ..fitted.printing import format_fit
from ..fitted.summary import Summary, summarize
from ..fitted.tidy import tidy
from ..inference.confint import confint
from ..inference.ddf import coef_table
from ..inference.type3 import anova_type3
from ..optimize import OptimizerRecord
from ..postfit.leverage import predict_with_se
from ..postfit.methods import PostFitMethods
from ..postfit.sandwich import ROBUST_TYPES, robust_coef_table
from ..postfit.wald import wald_anova
from ..solver import PlsSolution
from .deviance import DevianceFunction

__all__ = ["LmerResult", "make_result"]


@dataclass(frozen=True, repr=False)
class LmerResult(PostFitMethods):
    """A fitted linear mixed model (lme4's ``merMod``).

    Attributes (all lme4-named; groups as lme4 names them, e.g. ``cask:batch``):
        fixef: fixed-effect estimates, a Series (``fixef(m)``).
        vcov: their covariance, a DataFrame (``vcov(m)``).
        theta: relative covariance parameters in lme4's order (``getME(m, "theta")``).
        sigma: residual standard deviation (``sigma(m)``).
        varcorr: ``as.data.frame(VarCorr(m))``: group, var1, var2, vcov, sdcor.
        ranef: group -> DataFrame of conditional modes (``ranef(m)``).
        ranef_condvar: group -> (levels, k, k) conditional covariances
            (``attr(ranef(m, condVar = TRUE)[[g]], "postVar")``, levels first).
        coef: group -> DataFrame of fixef + ranef per level (``coef(m)``).
        loglik, aic, bic: ``logLik(m)``, ``AIC(m)``, ``BIC(m)`` (REML fits: the REML values).
        deviance: ML fits: -2 logLik; REML fits: ``deviance(m, REML = FALSE)``.
        reml_criterion: ``REMLcrit(m)`` for REML fits, None for ML fits.
        fitted, residuals: Series indexed by the data rows used.
        nobs, dropped_rows, ngroups, is_singular, converged, messages: as their names say.
    """

    design: Design
    devfun: DevianceFunction
    record: OptimizerRecord
    solution: PlsSolution
    reml: bool
    messages: tuple[str, ...]

    def __repr__(self) -> str:
        kind = "REML criterion" if self.reml else "deviance"
        return (
            f"<LmerResult {self.design.spec.formula!r}: {kind} {self.objective:.4f}, "
            f"{self.nobs} obs>"
        )

    def __str__(self) -> str:
        return format_fit(self)

    # ---- parameters ------------------------------------------------------------------------
    @property
    def sigma(self) -> float:
        return self.solution.sigma

    @cached_property
    def vcov(self) -> pd.DataFrame:
        rx_inv = scipy.linalg.solve_triangular(self.solution.RX, np.eye(len(self.solution.beta)))
        cols = self.design.x_columns
        return pd.DataFrame(self.sigma**2 * rx_inv @ rx_inv.T, index=cols, columns=cols)

    # ---- fit criteria -------------------------------------------------------------------------
    @property
    def npar(self) -> int:
        """Parameters counted by ``logLik``'s df: β, θ and σ."""
        return len(self.solution.beta) + len(self.record.final) + 1

    @property
    def objective(self) -> float:
        """The criterion minimised: REML criterion or ML deviance."""
        return self.record.f_final

    @property
    def reml_criterion(self) -> float | None:
        return self.objective if self.reml else None

    @cached_property
    def deviance(self) -> float:
        if not self.reml:
            return self.objective
        return self.devfun.solve(self.record.final, reml=False).objective

    @cached_property
    def varcorr(self) -> pd.DataFrame:
        rows = self._varcorr_rows()
        rows.append(
            {"group": "Residual", "var1": None, "var2": None, "vcov": self.sigma**2,
             "sdcor": self.sigma}
        )  # fmt: skip
        return pd.DataFrame(rows, columns=["group", "var1", "var2", "vcov", "sdcor"])

    # ---- hooks of MixedModelResult ----------------------------------------------------------
    @property
    def _beta(self) -> NDArray[np.float64]:
        return self.solution.beta

    @property
    def _modes(self) -> NDArray[np.float64]:
        return self.solution.b

    @cached_property
    def _condvar(self) -> list[NDArray[np.float64]]:
        """Computed on first use: for crossed factors they can cost more than the fit."""
        if self.solution.condvar is not None:
            return self.solution.condvar
        lambdas = self.devfun.lambdas(self.record.final)
        return [self.sigma**2 * cv for cv in self.devfun.workspace.conditional_variances(lambdas)]

    @property
    def _covariance_scale(self) -> float:
        return self.sigma**2

    @property
    def _theta_names(self) -> list[str]:
        return self.devfun.theta_names

    def _term_thetas(self) -> list[NDArray[np.float64]]:
        return list(self.devfun.term_thetas(self.record.final))

    # ---- inference, prediction, refitting (each a call into its own module) ------------------
    def summary(self, ddf: str = "satterthwaite") -> Summary:
        """lme4's ``summary(m)`` with lmerTest's df and p-values; print it, or show it in a
        notebook (``_repr_html_``) or a report (``to_markdown()``)."""
        return summarize(self, ddf)

    def coef_table(
        self, ddf: str | None = "satterthwaite", *, vcov: str | None = None
    ) -> pd.DataFrame:
        """Estimate, Std. Error, df, t value, Pr(>|t|) (lmerTest: ``summary(m)$coefficients``);
        ``ddf`` is ``"satterthwaite"``, ``"kenward-roger"``, ``"residual"`` or
        ``"asymptotic"``. ``vcov="CR0"|"CR1"|"CR2"`` gives cluster-robust standard errors
        with their Satterthwaite df instead (clubSandwich: ``coef_test(m, vcov)``)."""
        if vcov is not None:
            if str(vcov).upper() not in ROBUST_TYPES:
                raise ArgumentError(f"vcov must be one of {', '.join(ROBUST_TYPES)}; got {vcov!r}")
            return robust_coef_table(self, vcov)
        return coef_table(self, ddf or "satterthwaite")

    def anova(
        self, ddf: str = "satterthwaite", *, type: int | None = None, test: str | None = None
    ) -> pd.DataFrame:
        """Type III F tests of the fixed terms with ``ddf`` (lmerTest: ``anova(m)``); with
        ``type`` (2 or 3) or ``test`` (``"F"``, ``"chisq"``), car's Wald tests
        (``Anova(m, type, test.statistic)``: type 2 and chi-square by default, F with
        Kenward-Roger df)."""
        if type is None and test is None:
            return anova_type3(self, ddf)
        return wald_anova(self, type or 2, test or "chisq")

    def confint(self, method: str = "profile", level: float = 0.95, **options: Any) -> pd.DataFrame:
        """Confidence intervals (lme4: ``confint(m, method, level, oldNames = FALSE)``):
        ``"profile"``, ``"wald"`` or ``"boot"`` (``nsim``, ``seed``, ``progress``)."""
        return confint(self, method, level, **options)

    def predict(
        self,
        newdata: pd.DataFrame | None = None,
        re_form: str | bool | None = None,
        allow_new_levels: bool = False,
        *,
        se_fit: bool = False,
        interval: str | None = None,
        level: float = 0.95,
    ) -> pd.Series | pd.DataFrame:
        """Predictions (lme4: ``predict(m, newdata, re.form, allow.new.levels, se.fit)``).

        With ``se_fit`` or ``interval`` (``"confidence"``, ``"prediction"``), a DataFrame
        with ``fit``, ``se_fit`` (and ``lower``, ``upper``): the SE of xᵀβ̂ when ``re_form``
        drops the random effects; when it keeps them, the prediction-error SE of xᵀβ̂ + zᵀb̂
        given θ̂, joint with the modes (as lme4 ≥ 1.1-35). Prediction intervals add σ² and
        the variance of the random terms ``re_form`` drops."""
        if se_fit or interval is not None:
            return predict_with_se(self, newdata, re_form, interval, level, allow_new_levels)
        if newdata is None:
            self._require_rows("predictions on the data")
        return predict(self, newdata, re_form, allow_new_levels)

    def simulate_once(
        self, rng: np.random.Generator, beta: ArrayLike | None = None
    ) -> NDArray[np.float64]:
        """One response: Xβ + offset + Zb + ε with b and ε drawn afresh (σ-scaled); β the
        fitted one unless given (simr's ``fixef(m) <- ...``)."""
        design, sigma = self.design, self.sigma
        b = self.solution.beta if beta is None else np.asarray(beta, dtype=np.float64)
        mean = design.X @ b + (0.0 if design.offset is None else design.offset)
        scale = sigma / np.sqrt(design.weights) if design.weights is not None else sigma
        y = mean + scale * rng.standard_normal(design.nobs)
        return y + new_random_effects(self, rng)

    def refit(self, response: ArrayLike | None = None) -> LmerResult:
        """The same model fitted to a new response (lme4: ``refit(m, newresp)``)."""
        from .fit import refit

        return refit(self, response)

    def refit_ml(self) -> LmerResult:
        """The same model fitted by maximum likelihood (lme4: ``refitML(m)``)."""
        from .fit import refit

        return self if not self.reml else refit(self, reml=False)

    def update(
        self,
        formula: str | None = None,
        *,
        reml: bool | None = None,
        data: pd.DataFrame | None = None,
    ) -> LmerResult:
        """A changed model, or the same one on other data (lme4: ``update(m, . ~ . - x,
        data = ...)``)."""
        from .fit import update

        return update(self, formula, reml=reml, data=data)

    def tidy(self, effects: str = "fixed", ddf: str = "satterthwaite") -> pd.DataFrame:
        """Long frames as broom.mixed's ``tidy(m, effects)``: fixed, ran_pars, ran_vals."""
        return tidy(self, effects, ddf)

    # ---- per observation ------------------------------------------------------------------------
    @cached_property
    def fitted(self) -> pd.Series:
        self._require_rows("fitted values")
        return predict(self).rename("fitted")

    @cached_property
    def residuals(self) -> pd.Series:
        self._require_rows("residuals")
        return pd.Series(
            self.design.y - self.fitted.to_numpy(), index=self.design.rows, name="resid"
        )


def make_result(devfun: DevianceFunction, record: OptimizerRecord) -> LmerResult:
    """Assemble the fitted model at the optimizer's θ (lme4: ``mkMerMod``).

    Warns, and keeps the message, for a singular fit and for non-convergence."""
    solution = devfun.solve(record.final, condvar=False)
    messages = list(devfun.design.messages) + list(record.messages)
    result = LmerResult(devfun.design, devfun, record, solution, devfun.reml, ())
    hint = "rescaling predictors, or another optimizer (optimizer='lbfgsb'), may help"
    messages += fit_warnings(result, hint)
    return LmerResult(devfun.design, devfun, record, solution, devfun.reml, tuple(messages))
