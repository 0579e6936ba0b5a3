"""LmerResult: a fitted linear mixed model with lme4's accessors, as attributes.

Built once by ``make_result`` (lme4's ``mkMerMod``) and never changed. Costly pieces
(conditional variances, fitted values) are computed on first use.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg
from numpy.typing import ArrayLike, NDArray

from .design import Design, RandomEffectsTerm
from .deviance import DevianceFunction
from .errors import ConvergenceWarning, DataError, SingularFitWarning
from .optimize import OptimizerRecord
from .pls import PlsSolution
from .predict import predict, simulate
from .printing import format_fit
from .summary import Summary, summarize
from .tidy import tidy

__all__ = ["SINGULAR_TOL", "LmerResult", "fit_warnings", "make_result"]

SINGULAR_TOL = 1e-4  # lme4's isSingular(tol = 1e-4)


class MixedModelResult:
    """What linear and generalized fits share: the design, the optimizer record, and the
    random effects' accessors (lme4 names). Subclasses supply β, the conditional modes and
    variances, θ by term, and the scale of the covariances (σ, or 1)."""

    design: Design
    record: OptimizerRecord

    # ---- supplied by the subclass -------------------------------------------------------------
    @property
    def _beta(self) -> NDArray[np.float64]:
        raise NotImplementedError

    @property
    def _modes(self) -> NDArray[np.float64]:
        raise NotImplementedError

    @property
    def _condvar(self) -> list[NDArray[np.float64]]:
        raise NotImplementedError

    @property
    def _covariance_scale(self) -> float:
        raise NotImplementedError

    @property
    def _theta_names(self) -> list[str]:
        raise NotImplementedError

    def _term_thetas(self) -> list[NDArray[np.float64]]:
        raise NotImplementedError

    @property
    def sigma(self) -> float:
        """Residual standard deviation (1 for binomial and Poisson models)."""
        raise NotImplementedError

    # ---- shared ----------------------------------------------------------------------------
    @property
    def fixef(self) -> pd.Series:
        return pd.Series(self._beta, index=self.design.x_columns, name="fixef")

    @property
    def theta(self) -> pd.Series:
        return pd.Series(self.record.final[: len(self._theta_names)], index=self._theta_names,
                         name="theta")  # fmt: skip

    @property
    def nobs(self) -> int:
        return self.design.nobs

    @property
    def dropped_rows(self) -> int:
        """Rows of the data left out for missing values."""
        return self.design.dropped_rows

    @property
    def ngroups(self) -> dict[str, int]:
        return {t.group: t.factor.n_levels for t in self.design.terms}

    @cached_property
    def ranef(self) -> dict[str, pd.DataFrame]:
        frames: dict[str, list[pd.DataFrame]] = {}
        for term, values in zip(self.design.terms, self._term_modes(), strict=True):
            frame = pd.DataFrame(values, index=term.factor.levels, columns=term.columns)
            frames.setdefault(term.group, []).append(frame)
        return {g: pd.concat(parts, axis=1) for g, parts in frames.items()}

    @cached_property
    def ranef_condvar(self) -> dict[str, NDArray[np.float64]]:
        """Per group, (levels, k, k). Terms sharing a grouping factor fill their own
        diagonal blocks; covariances across such terms are not computed (NaN)."""
        out: dict[str, list[NDArray[np.float64]]] = {}
        for term, cv in zip(self.design.terms, self._condvar, strict=True):
            out.setdefault(term.group, []).append(cv)
        return {g: _block_diagonal(parts) for g, parts in out.items()}

    @cached_property
    def coef(self) -> dict[str, pd.DataFrame]:
        fixef = self.fixef
        out = {}
        for group, modes in self.ranef.items():
            frame = pd.DataFrame(
                np.tile(fixef.to_numpy(), (len(modes), 1)), index=modes.index, columns=fixef.index
            )
            for col in modes.columns:
                frame[col] = modes[col] + frame.get(col, 0.0)
            out[group] = frame
        return out

    @cached_property
    def term_covariances(self) -> list[tuple[str, RandomEffectsTerm, NDArray[np.float64]]]:
        """(name, term, covariance σ²TTᵀ) per random term, named as lme4's VarCorr names
        them: a grouping factor's second term is ``g.1``, its third ``g.2``."""
        out = []
        seen: dict[str, int] = {}
        scale = self._covariance_scale
        for term, theta in zip(self.design.terms, self._term_thetas(), strict=True):
            k = seen.get(term.group, 0)
            seen[term.group] = k + 1
            factor = term.term_type.lambda_block(theta, len(term.columns))
            name = term.group if k == 0 else f"{term.group}.{k}"
            out.append((name, term, scale * factor @ factor.T))
        return out

    def _varcorr_rows(self) -> list[dict[str, object]]:
        rows: list[dict[str, object]] = []
        for name, term, cov in self.term_covariances:
            rows += _varcorr_rows(name, term.columns, cov)
        return rows

    @property
    def is_singular(self) -> bool:
        """A parameter within ``SINGULAR_TOL`` of a finite bound (lme4's ``isSingular``)."""
        theta, lower, upper = self.record.final, self.record.lower, self.record.upper
        return bool(np.any(theta - lower < SINGULAR_TOL) or np.any(upper - theta < SINGULAR_TOL))

    @property
    def converged(self) -> bool:
        return self.record.converged

    def _term_modes(self) -> list[NDArray[np.float64]]:
        out, start = [], 0
        for term in self.design.terms:
            size = term.factor.n_levels * len(term.columns)
            out.append(self._modes[start : start + size].reshape(term.factor.n_levels, -1))
            start += size
        return out


@dataclass(frozen=True, repr=False)
class LmerResult(MixedModelResult):
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
    def loglik(self) -> float:
        return -self.objective / 2

    @property
    def aic(self) -> float:
        return self.objective + 2 * self.npar

    @property
    def bic(self) -> float:
        return self.objective + self.npar * math.log(self.nobs)

    @property
    def reml_criterion(self) -> float | None:
        return self.objective if self.reml else None

    @cached_property
    def deviance(self) -> float:
        if not self.reml:
            return self.objective
        return self.devfun.solve(self.record.final, reml=False).objective

    @property
    def df_residual(self) -> int:
        return self.nobs - self.npar

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

    def coef_table(self, ddf: str = "satterthwaite") -> pd.DataFrame:
        """Estimate, Std. Error, df, t value, Pr(>|t|) (lmerTest: ``summary(m)$coefficients``);
        ``ddf`` is ``"satterthwaite"``, ``"kenward-roger"`` or ``"residual"``."""
        from .ddf import coef_table

        return coef_table(self, ddf)

    def anova(self, ddf: str = "satterthwaite") -> pd.DataFrame:
        """Type III F tests of the fixed terms (lmerTest: ``anova(m)``)."""
        from .ddf import anova_type3

        return anova_type3(self, ddf)

    def confint(self, method: str = "profile", level: float = 0.95, **options: Any) -> pd.DataFrame:
        """Confidence intervals (lme4: ``confint(m, method, level, oldNames = FALSE)``):
        ``"profile"``, ``"wald"`` or ``"boot"`` (``nsim``, ``seed``, ``progress``)."""
        from .confint import confint

        return confint(self, method, level, **options)

    def predict(
        self,
        newdata: pd.DataFrame | None = None,
        re_form: str | bool | None = None,
        allow_new_levels: bool = False,
    ) -> pd.Series:
        """Predictions (lme4: ``predict(m, newdata, re.form, allow.new.levels)``)."""
        if newdata is None:
            self._require_rows("predictions on the data")
        return predict(self, newdata, re_form, allow_new_levels)

    def simulate(
        self, nsim: int = 1, seed: int | np.random.Generator | None = None
    ) -> pd.DataFrame:
        """Simulated responses (lme4: ``simulate(m, nsim, seed)``)."""
        self._require_rows("simulated responses")
        return simulate(self, nsim, seed)

    def refit(self, response: ArrayLike | None = None) -> LmerResult:
        """The same model fitted to a new response (lme4: ``refit(m, newresp)``)."""
        from .api import refit

        return refit(self, response)

    def refit_ml(self) -> LmerResult:
        """The same model fitted by maximum likelihood (lme4: ``refitML(m)``)."""
        from .api import refit

        return self if not self.reml else refit(self, reml=False)

    def update(self, formula: str | None = None, *, reml: bool | None = None) -> LmerResult:
        """A changed model on the same data (lme4: ``update(m, . ~ . - x)``)."""
        from .api import update

        return update(self, formula, reml=reml)

    def tidy(self, effects: str = "fixed", ddf: str = "satterthwaite") -> pd.DataFrame:
        """Long frames as broom.mixed's ``tidy(m, effects)``: fixed, ran_pars, ran_vals."""
        return tidy(self, effects, ddf)

    # ---- per observation ------------------------------------------------------------------------
    @cached_property
    def fitted(self) -> pd.Series:
        self._require_rows("fitted values")
        return pd.Series(self.solution.fitted, index=self.design.rows, name="fitted")

    @cached_property
    def residuals(self) -> pd.Series:
        self._require_rows("residuals")
        return pd.Series(self.design.y - self.solution.fitted, index=self.design.rows, name="resid")

    def _require_rows(self, what: str) -> None:
        if self.design.streamed_rows is not None:
            raise DataError(
                f"the {what} of a fit to data read in chunks are not kept in memory: "
                "lmerpy.write_fitted(fit, data, path) writes them to Parquet"
            )


def make_result(devfun: DevianceFunction, record: OptimizerRecord) -> LmerResult:
    """Assemble the fitted model at the optimizer's θ (lme4: ``mkMerMod``).

    Warns, and keeps the message, for a singular fit and for non-convergence."""
    solution = devfun.solve(record.final, condvar=False)
    messages = list(devfun.design.messages) + list(record.messages)
    result = LmerResult(devfun.design, devfun, record, solution, devfun.reml, ())
    hint = "rescaling predictors, or another optimizer (optimizer='lbfgsb'), may help"
    messages += fit_warnings(result, hint, stacklevel=4)
    return LmerResult(devfun.design, devfun, record, solution, devfun.reml, tuple(messages))


def fit_warnings(result: MixedModelResult, hint: str, stacklevel: int) -> list[str]:
    """Warn of a singular fit and of non-convergence, as lme4 does; the messages, to keep
    with the result. ``hint`` says what may help convergence; ``stacklevel`` is
    warnings.warn's, counted from this function."""
    messages = []
    if result.is_singular:
        msg = (
            "boundary (singular) fit: a variance is estimated as 0 or a correlation as +-1 "
            "(lme4: ?isSingular)"
        )
        warnings.warn(msg, SingularFitWarning, stacklevel=stacklevel)
        messages.append(msg)
    if not result.record.converged:
        msg = (
            f"the optimizer ({result.record.optimizer}) did not report convergence: check the "
            f"estimates; {hint}"
        )
        warnings.warn(msg, ConvergenceWarning, stacklevel=stacklevel)
        messages.append(msg)
    return messages


def _varcorr_rows(
    group: str, columns: list[str], cov: NDArray[np.float64]
) -> list[dict[str, object]]:
    sd = np.sqrt(np.maximum(np.diag(cov), 0.0))
    rows: list[dict[str, object]] = [
        {"group": group, "var1": c, "var2": None, "vcov": cov[i, i], "sdcor": sd[i]}
        for i, c in enumerate(columns)
    ]
    for j in range(len(columns)):
        for i in range(j + 1, len(columns)):
            denom = sd[i] * sd[j]
            corr = cov[i, j] / denom if denom > 0 else float("nan")
            rows.append(
                {"group": group, "var1": columns[j], "var2": columns[i], "vcov": cov[i, j],
                 "sdcor": corr}
            )  # fmt: skip
    return rows


def _block_diagonal(parts: list[NDArray[np.float64]]) -> NDArray[np.float64]:
    if len(parts) == 1:
        return parts[0]
    sizes = [p.shape[1] for p in parts]
    out = np.full((parts[0].shape[0], sum(sizes), sum(sizes)), np.nan)
    start = 0
    for part, size in zip(parts, sizes, strict=True):
        out[:, start : start + size, start : start + size] = part
        start += size
    return out
