"""GlmerResult: a fitted generalized linear mixed model with lme4's accessors."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from ..design import Design
from ..errors import ArgumentError, DataError
from ..fitted.predict import ReForm, new_random_effects, predict
from ..fitted.printing import format_glmer
from ..fitted.summary import Summary, summarize_glmer
from ..fitted.tidy import tidy
from ..inference.confint import confint
from ..optimize import OptimizerRecord
from ..postfit.leverage import predict_with_se
from ..postfit.methods import PostFitMethods
from ..postfit.wald import wald_anova
from .family import Family
from .laplace import LaplaceDeviance
from .pirls import GlmmDeviance, PirlsFit, PirlsObjectives

__all__ = ["PREDICT_TYPES", "GlmerResult"]

PREDICT_TYPES = ("link", "response", "conditional", "zprob")

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, repr=False)
class GlmerResult(PostFitMethods):
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
    devfun: PirlsObjectives | LaplaceDeviance
    record: OptimizerRecord
    fit: PirlsFit
    nagq: int
    vcov_matrix: FloatArray
    vcov_method: str
    hessian: FloatArray | None
    messages: tuple[str, ...]
    generalized: ClassVar[bool] = True

    def __repr__(self) -> str:
        return (
            f"<GlmerResult {self.design.spec.formula!r} ({self.family}): "
            f"-2 logLik {self.objective:.4f}, {self.nobs} obs>"
        )

    def __str__(self) -> str:
        return format_glmer(self, str(self.family), self.nagq)

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
        """1 for binomial and Poisson models (lme4's ``sigma(m)``); for a family with a
        dispersion parameter, glmmTMB's ``sigma(m)`` (see ``lmerpy.glmm.distributions``)."""
        return self.devfun.sigma(self.record.final)

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

    @property
    def fixef_zi(self) -> pd.Series:
        """The zero-inflation model's coefficients, logit of P(structural zero) (glmmTMB:
        ``fixef(m)$zi``); empty without ``zi=``."""
        return self._part("zi")[0]

    @property
    def fixef_disp(self) -> pd.Series:
        """The dispersion model's coefficients, of log φ on glmmTMB's scale for the family
        (glmmTMB: ``fixef(m)$disp``); empty for binomial and Poisson models."""
        return self._part("disp")[0]

    @property
    def vcov_zi(self) -> pd.DataFrame:
        """Covariance of ``fixef_zi`` (glmmTMB: ``vcov(m)$zi``)."""
        return self._part("zi")[1]

    @property
    def vcov_disp(self) -> pd.DataFrame:
        """Covariance of ``fixef_disp`` (glmmTMB: ``vcov(m)$disp``)."""
        return self._part("disp")[1]

    @property
    def extra_parameters(self) -> pd.DataFrame:
        """The zero-inflation (``zi~x``) and dispersion (``d~x``) coefficients with their
        standard errors, in the order of the parameter vector (glmmTMB's full names)."""
        parts = [(prefix, *self._part(which)) for prefix, which in (("zi~", "zi"), ("d~", "disp"))]
        return pd.DataFrame(
            {
                "estimate": np.concatenate([est.to_numpy() for _, est, _ in parts]),
                "se": np.concatenate([np.sqrt(np.diag(V.to_numpy())) for _, _, V in parts]),
            },
            index=[prefix + str(c) for prefix, est, _ in parts for c in est.index],
        )

    def _part(self, which: str) -> tuple[pd.Series, pd.DataFrame]:
        dev = self.devfun
        k, p = len(dev.layout.lower), dev.p
        columns = list(dev.zi_columns if which == "zi" else dev.disp_columns)
        start = k + p + (0 if which == "zi" else len(dev.zi_columns))
        part = slice(start, start + len(columns))
        V = np.full((len(columns), len(columns)), np.nan)
        if self.hessian is not None and columns:
            with np.errstate(all="ignore"):
                inv = np.linalg.pinv(self.hessian)
            V = (inv + inv.T)[part, part]
        return (
            pd.Series(self.record.final[part], index=columns, dtype=np.float64),
            pd.DataFrame(V, index=columns, columns=columns),
        )

    def coef_table(self, ddf: str | None = "asymptotic") -> pd.DataFrame:
        """Estimate, Std. Error, z value, Pr(>|z|) (lme4: ``summary(m)$coefficients``);
        the z tests are asymptotic, the only ``ddf`` a generalized model has."""
        _asymptotic(ddf)
        return _z_table(pd.Series(self.fit.beta, index=self.design.x_columns), self.vcov_matrix)

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
    def deviance(self) -> float:
        return self.fit.dev_resid

    # ---- per observation ------------------------------------------------------------------------
    @cached_property
    def fitted(self) -> pd.Series:
        self._require_rows("fitted values")
        return pd.Series(self.fit.mu, index=self.design.rows, name="fitted")

    @cached_property
    def residuals(self) -> pd.Series:
        """Deviance residuals for binomial and Poisson models (lme4: ``residuals(m)``);
        response residuals y - μ for the others (glmmTMB's default)."""
        self._require_rows("residuals")
        return pd.Series(self._rows.residuals(self.fit), index=self.design.rows, name="resid")

    @cached_property
    def pearson_residuals(self) -> pd.Series:
        """(y - μ) / sqrt(Var(y) / w) (lme4 and glmmTMB: ``residuals(m, "pearson")``)."""
        self._require_rows("Pearson residuals")
        r = self._rows.pearson(self.fit, self.record.final)
        return pd.Series(r, index=self.design.rows, name="pearson")

    def predict(
        self,
        newdata: pd.DataFrame | None = None,
        re_form: ReForm = None,
        allow_new_levels: bool = False,
        type: str = "link",
        *,
        se_fit: bool = False,
        interval: str | None = None,
        level: float = 0.95,
    ) -> pd.Series | pd.DataFrame:
        """Predictions (lme4: ``predict(m, newdata, re.form, allow.new.levels, type)``;
        glmmTMB's types): the linear predictor (``type="link"``, lme4's default), the mean
        (``"response"``: (1 - p)μ with zero inflation), the mean of the count part
        (``"conditional"``: μ) or the probability of a structural zero (``"zprob"``: p).

        With ``se_fit`` or ``interval="confidence"``, a DataFrame of ``fit``, ``se_fit`` (and
        ``lower``, ``upper``) on the link scale, for population-level predictions
        (``re_form="~0"``): the SE of xᵀβ̂."""
        if se_fit or interval is not None:
            if type != "link":
                raise ArgumentError(
                    "standard errors of predictions are on the link scale: type='link'"
                )
            return predict_with_se(self, newdata, re_form, interval, level, allow_new_levels)
        if type not in PREDICT_TYPES:
            raise ArgumentError(f"type must be one of {', '.join(PREDICT_TYPES)}, not {type!r}")
        eta = predict(self, newdata, re_form, allow_new_levels)
        if type == "link":
            return eta
        p = self.devfun.zero_probability(self.record.final, newdata)
        mu = self.family.link.linkinv(eta.to_numpy())
        values = {"conditional": mu, "response": (1 - p) * mu, "zprob": p}[type]
        return pd.Series(values, index=eta.index, name="predict")

    def simulate_once(self, rng: np.random.Generator, beta: ArrayLike | None = None) -> FloatArray:
        """One response at η = Xβ + offset + Zb with b drawn afresh: 0/1 or proportions of
        the trials for a binomial model, counts for a Poisson one, and so on; β the fitted
        one unless given."""
        self._require_rows("simulated responses")
        b = self.fit.beta if beta is None else np.asarray(beta, dtype=np.float64)
        eta = self.design.X @ b + self._rows.offset + new_random_effects(self, rng)
        return self._rows.sample(rng, eta, self.record.final)

    @property
    def _rows(self) -> GlmmDeviance | LaplaceDeviance:
        """The deviance on the rows in memory (a fit to data read in chunks has none)."""
        devfun = self.devfun
        assert isinstance(devfun, GlmmDeviance | LaplaceDeviance)
        return devfun

    @property
    def reml(self) -> bool:
        """False: a generalized model is fitted by maximum likelihood."""
        return False

    @property
    def reml_criterion(self) -> None:
        """None: there is no REML criterion for a generalized model."""
        return None

    def confint(self, method: str = "profile", level: float = 0.95, **options: Any) -> pd.DataFrame:
        """Confidence intervals (lme4: ``confint(m, method, level, oldNames = FALSE)``):
        ``"profile"`` (likelihood profile) or ``"wald"``."""
        return confint(self, method, level, **options)

    def tidy(self, effects: str = "fixed", ddf: str | None = "asymptotic") -> pd.DataFrame:
        """Long frames as broom.mixed's ``tidy(m, effects)``: fixed, ran_pars, ran_vals."""
        return tidy(self, effects, _asymptotic(ddf))

    def summary(self, ddf: str | None = "asymptotic") -> Summary:
        """lme4's ``summary(m)`` of a glmer fit; print it, or show it in a notebook."""
        _asymptotic(ddf)
        # a dispersion model of one intercept is the dispersion line, not a table
        shown = [("Zero-inflation model", "zi", 1), ("Dispersion model", "disp", 2)]
        others = tuple(
            (heading, _z_table(est, V.to_numpy()))
            for heading, which, fewest in shown
            for est, V in [self._part(which)]
            if len(est) >= fewest
        )
        streamed = self.design.streamed_rows is not None  # no rows: no residual quantiles
        return summarize_glmer(
            self, str(self.family), self.nagq, None if streamed else self.pearson_residuals,
            dispersion=self._dispersion_line(), other_models=others,
        )  # fmt: skip

    def _dispersion_line(self) -> str:
        """glmmTMB's statement of the dispersion (none for binomial and Poisson)."""
        sigma, name = self.sigma, self.family.name
        if not self.fixef_disp.size or not np.isfinite(sigma):
            return ""
        if name in ("gaussian", "gamma", "inverse_gaussian"):
            return f"Dispersion estimate for {name} family (sigma^2): {sigma**2:.3g}"
        return f"Dispersion parameter for {name} family (): {sigma:.3g}"

    def update(
        self, formula: str | None = None, *, data: pd.DataFrame | None = None
    ) -> GlmerResult:
        """A changed model, or the same one on other data, with the same family (lme4:
        ``update(m, . ~ . - x, data = ...)``); ``.`` stands for the old formula's sides."""
        if not self.extra_parameters.empty:
            raise ArgumentError("update() of a model with zi= or disp= formulas is not supported")
        from ..formula import parse_formula
        from ..formula.spec import substitute_dots
        from .fit import glmer

        spec = self.design.spec
        text = (
            spec.formula if formula is None else str(parse_formula(substitute_dots(formula, spec)))
        )
        return glmer(text, self.design.data if data is None else data, self.family,
                     nagq=self.nagq, weights=self.design.weights_arg)  # fmt: skip

    def anova(self, type: int = 2, test: str = "chisq") -> pd.DataFrame:
        """Type II or III Wald chi-square tests of the fixed terms (car: ``Anova(m, type)``)."""
        return wald_anova(self, type, test)

    def refit_ml(self) -> GlmerResult:
        """The fit itself: a generalized model is always fitted by maximum likelihood."""
        return self

    @property
    def refittable(self) -> bool:
        """lme4's families (binomial, Poisson) refit; glmmTMB's do not yet."""
        return isinstance(self.devfun, GlmmDeviance)

    def refit(self, response: ArrayLike) -> GlmerResult:
        """The same model fitted to a new response (lme4: ``refit(m, newresp)``): for a
        binomial model the proportions of the same trials, as ``simulate`` gives them."""
        if not isinstance(self.devfun, GlmmDeviance):
            raise ArgumentError("refit() is available for binomial and Poisson models")
        y = np.asarray(response, dtype=np.float64).reshape(-1)
        if y.shape != self.design.y.shape or not np.all(np.isfinite(y)):
            raise DataError(f"the new response must be {self.design.nobs} finite numbers")
        from .fit import fit_glmm

        design = dataclasses.replace(self.design, y=y)
        devfun = GlmmDeviance(design, self.family, self.devfun.trials, nagq=self.devfun.nagq)
        return fit_glmm(devfun, fast=self.nagq == 0)


def _asymptotic(ddf: str | None) -> str:
    """A generalized model's tests are asymptotic z tests: no other ``ddf``."""
    if ddf not in (None, "asymptotic"):
        raise ArgumentError(
            f"a generalized model's tests are asymptotic z tests; ddf={ddf!r} is for linear "
            "models (use ddf='asymptotic', or leave it out)"
        )
    return "asymptotic"


def _z_table(estimates: pd.Series, vcov: FloatArray) -> pd.DataFrame:
    """Estimate, Std. Error, z value, Pr(>|z|)."""
    se = np.sqrt(np.diag(vcov))
    z = estimates.to_numpy() / se
    return pd.DataFrame(
        {"Estimate": estimates.to_numpy(), "Std. Error": se, "z value": z,
         "Pr(>|z|)": 2 * stats.norm.sf(np.abs(z))},
        index=estimates.index,
    )  # fmt: skip
