"""GlmerResult: a fitted generalized linear mixed model with lme4's accessors."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from ..design import Design
from ..errors import ArgumentError
from ..fitted.base import MixedModelResult
from ..fitted.predict import ReForm, predict
from ..fitted.summary import Summary
from ..optimize import OptimizerRecord
from .family import Family
from .pirls import GlmmDeviance, PirlsFit

__all__ = ["GlmerResult"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, repr=False)
class GlmerResult(MixedModelResult):
    """A fitted generalized linear mixed model (lme4's ``glmerMod``).

    Attributes, besides those every fit has (``fixef``, ``theta``, ``ranef``,
    ``ranef_condvar``, ``coef``, ``varcorr``, ``ngroups``, ``is_singular``, ...):
        vcov: covariance of the fixed effects (``vcov(m)``), from the Hessian of the
            deviance over (θ, β) unless ``vcov_method`` is ``"RX"``.
        loglik, aic, bic: ``logLik(m)``, ``AIC(m)``, ``BIC(m)``, with every normalising
            constant (also for nagq > 1, where lme4 1.1-31 drops the saturated model's).
        deviance: Σ of the squared deviance residuals at the modes (``deviance(m)``);
            ``objective`` is -2 logLik, the summary's "deviance".
        fitted: means on the response scale (``fitted(m)``); ``residuals`` the deviance
            residuals (``residuals(m)``).
        family, nagq, messages: as their names say.
    """

    design: Design
    devfun: GlmmDeviance
    record: OptimizerRecord
    fit: PirlsFit
    nagq: int
    vcov_matrix: FloatArray
    vcov_method: str
    hessian: FloatArray | None
    messages: tuple[str, ...]

    def __repr__(self) -> str:
        return (
            f"<GlmerResult {self.design.spec.formula!r} ({self.family}): "
            f"-2 logLik {self.objective:.4f}, {self.nobs} obs>"
        )

    def __str__(self) -> str:
        from ..fitted.printing import format_glmer

        return format_glmer(self)

    @property
    def family(self) -> Family:
        return self.devfun.family

    # ---- hooks of MixedModelResult ----------------------------------------------------------
    @property
    def _beta(self) -> FloatArray:
        return self.fit.beta

    @property
    def _modes(self) -> FloatArray:
        return self.fit.b

    @cached_property
    def _condvar(self) -> list[FloatArray]:
        """Λ(L L')⁻¹Λ' at the weights of the modes (lme4's condVar for a glmer fit)."""
        return self.devfun.conditional_variances(self.fit, self._thetas)

    @property
    def _covariance_scale(self) -> float:
        return 1.0

    @property
    def _theta_names(self) -> list[str]:
        return self.devfun.layout.names

    @property
    def _thetas(self) -> FloatArray:
        return self.record.final[: len(self.devfun.layout.lower)]

    def _term_thetas(self) -> list[FloatArray]:
        return self.devfun.layout.split(self._thetas)

    # ---- estimates --------------------------------------------------------------------------
    @property
    def sigma(self) -> float:
        """1: binomial and Poisson models have no scale parameter (lme4's ``sigma(m)``)."""
        return 1.0

    @cached_property
    def vcov(self) -> pd.DataFrame:
        cols = self.design.x_columns
        return pd.DataFrame(self.vcov_matrix, index=cols, columns=cols)

    @cached_property
    def varcorr(self) -> pd.DataFrame:
        """``as.data.frame(VarCorr(m))``: no residual row."""
        return pd.DataFrame(
            self._varcorr_rows(), columns=["group", "var1", "var2", "vcov", "sdcor"]
        )

    def coef_table(self) -> pd.DataFrame:
        """Estimate, Std. Error, z value, Pr(>|z|) (lme4: ``summary(m)$coefficients``)."""
        se = np.sqrt(np.diag(self.vcov_matrix))
        z = self.fit.beta / se
        return pd.DataFrame(
            {"Estimate": self.fit.beta, "Std. Error": se, "z value": z,
             "Pr(>|z|)": 2 * stats.norm.sf(np.abs(z))},
            index=self.design.x_columns,
        )  # fmt: skip

    # ---- fit criteria -------------------------------------------------------------------------
    @property
    def objective(self) -> float:
        """-2 log-likelihood at the optimum (Laplace or quadrature)."""
        return self.fit.objective

    @property
    def npar(self) -> int:
        """Parameters counted by ``logLik``'s df: β and θ."""
        return len(self.record.final)

    @property
    def loglik(self) -> float:
        return -self.objective / 2

    @property
    def aic(self) -> float:
        return self.objective + 2 * self.npar

    @property
    def bic(self) -> float:
        return self.objective + self.npar * math.log(self.nobs)

    @property
    def deviance(self) -> float:
        return self.fit.dev_resid

    @property
    def df_residual(self) -> int:
        return self.nobs - self.npar

    # ---- per observation ------------------------------------------------------------------------
    @cached_property
    def fitted(self) -> pd.Series:
        return pd.Series(self.fit.mu, index=self.design.rows, name="fitted")

    @cached_property
    def residuals(self) -> pd.Series:
        """Deviance residuals (lme4: ``residuals(m)``, type ``"deviance"``)."""
        y, mu = self.devfun.y, self.fit.mu
        d = self.family.dev_resid(y, mu, self.devfun.prior)
        return pd.Series(np.sign(y - mu) * np.sqrt(np.maximum(d, 0.0)), index=self.design.rows,
                         name="resid")  # fmt: skip

    @cached_property
    def pearson_residuals(self) -> pd.Series:
        """(y - μ) / sqrt(V(μ) / w) (lme4: ``residuals(m, "pearson")``)."""
        y, mu, w = self.devfun.y, self.fit.mu, self.devfun.prior
        r = (y - mu) * np.sqrt(w / self.family.variance(mu))
        return pd.Series(r, index=self.design.rows, name="pearson")

    def predict(
        self,
        newdata: pd.DataFrame | None = None,
        re_form: ReForm = None,
        allow_new_levels: bool = False,
        type: str = "link",
    ) -> pd.Series:
        """Predictions (lme4: ``predict(m, newdata, re.form, allow.new.levels, type)``):
        the linear predictor (``type="link"``, lme4's default) or the mean
        (``type="response"``)."""
        if type not in ("link", "response"):
            raise ArgumentError(f"type must be 'link' or 'response', not {type!r}")
        eta = predict(self, newdata, re_form, allow_new_levels)
        if type == "link":
            return eta
        return pd.Series(self.family.link.linkinv(eta.to_numpy()), index=eta.index, name="predict")

    def simulate(
        self, nsim: int = 1, seed: int | np.random.Generator | None = None
    ) -> pd.DataFrame:
        """Responses simulated from the fitted model with new random effects each time
        (lme4: ``simulate(m, nsim, seed)``): 0/1 or proportions of the trials for a binomial
        model, counts for a Poisson one. Columns ``sim_1`` ..."""
        rng = np.random.default_rng(seed)
        design, fam = self.design, self.family
        base = design.X @ self.fit.beta + self.devfun.offset
        lambdas = self.devfun.layout.lambdas(self._thetas)
        size = np.round(self.devfun.prior).astype(np.int64)  # R: the prior weights are the trials
        sims = {}
        for k in range(nsim):
            eta = base.copy()
            for term, factor in zip(design.terms, lambdas, strict=True):
                u = rng.standard_normal((term.factor.n_levels, len(term.columns)))
                b = u @ factor.T
                eta += np.einsum("ij,ij->i", term.lhs.values, b[term.factor.codes])
            mu = fam.link.linkinv(eta)
            if fam.name == "binomial":
                y = rng.binomial(size, mu) / size
            else:
                y = rng.poisson(mu).astype(np.float64)
            sims[f"sim_{k + 1}"] = y
        return pd.DataFrame(sims, index=design.rows)

    @property
    def reml(self) -> bool:
        """False: a generalized model is fitted by maximum likelihood."""
        return False

    @property
    def reml_criterion(self) -> None:
        """None: there is no REML criterion for a generalized model."""
        return None

    def confint(self, method: str = "profile", level: float = 0.95) -> pd.DataFrame:
        """Confidence intervals (lme4: ``confint(m, method, level, oldNames = FALSE)``):
        ``"profile"`` (likelihood profile) or ``"wald"``."""
        from ..inference.confint import confint

        return confint(self, method, level)

    def tidy(self, effects: str = "fixed") -> pd.DataFrame:
        """Long frames as broom.mixed's ``tidy(m, effects)``: fixed, ran_pars, ran_vals."""
        from ..fitted.tidy import tidy

        return tidy(self, effects)

    def summary(self) -> Summary:
        """lme4's ``summary(m)`` of a glmer fit; print it, or show it in a notebook."""
        from ..fitted.summary import summarize_glmer

        return summarize_glmer(self)
