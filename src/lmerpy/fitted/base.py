"""What every fit shares: ``MixedModelResult``, the base of linear and generalized results,
with the random effects' accessors (lme4 names) and lme4's fit warnings."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from ..design import Design, RandomEffectsTerm
from ..design.theta import ThetaLayout
from ..errors import ConvergenceWarning, DataError, SingularFitWarning, warn
from ..optimize import OptimizerRecord
from ..solver import PlsCriterion, PlsSolution
from .predict import simulate

__all__ = [
    "SINGULAR_TOL",
    "GeneralizedDeviance",
    "GeneralizedFit",
    "LinearDeviance",
    "LinearFit",
    "MixedModelResult",
    "fit_warnings",
]

FloatArray = NDArray[np.float64]

SINGULAR_TOL = 1e-4  # lme4's isSingular(tol = 1e-4)


class MixedModelResult:
    """What linear and generalized fits share: the design, the optimizer record, and the
    random effects' accessors (lme4 names). Subclasses supply β, the conditional modes and
    variances, θ by term, and the scale of the covariances (σ, or 1)."""

    design: Design
    record: OptimizerRecord
    messages: tuple[str, ...]

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

    @property
    def objective(self) -> float:
        """The criterion minimised: REML criterion, ML deviance or -2 logLik."""
        raise NotImplementedError

    @property
    def npar(self) -> int:
        """Parameters counted by ``logLik``'s df."""
        raise NotImplementedError

    if TYPE_CHECKING:  # a dataclass field of LmerResult: no class attribute here

        @property
        def reml(self) -> bool:
            """Whether the fit maximised the REML criterion (never for a generalized model)."""

    @property
    def vcov(self) -> pd.DataFrame:
        """Covariance of the fixed-effect estimates (lme4: ``vcov(m)``)."""
        raise NotImplementedError

    @property
    def deviance(self) -> float:
        """lme4's ``deviance(m)`` (for a REML fit, ``deviance(m, REML = FALSE)``)."""
        raise NotImplementedError

    @property
    def residuals(self) -> pd.Series:
        """lme4's ``residuals(m)``: response residuals (linear), deviance residuals
        (generalized)."""
        raise NotImplementedError

    @property
    def varcorr(self) -> pd.DataFrame:
        """``as.data.frame(VarCorr(m))``: group, var1, var2, vcov, sdcor."""
        raise NotImplementedError

    def coef_table(self, ddf: str | None = None) -> pd.DataFrame:
        """Estimates with their standard errors and tests (``summary(m)$coefficients``):
        ``ddf`` chooses the denominator df of a linear fit's t tests; a generalized fit's
        z tests are asymptotic."""
        raise NotImplementedError

    def refit_ml(self) -> MixedModelResult:
        """The same model fitted by maximum likelihood (lme4: ``refitML(m)``)."""
        raise NotImplementedError

    # ---- shared criteria (lme4's logLik, AIC, BIC, df.residual) ---------------------------------
    generalized: ClassVar[bool] = False
    """Whether this is a generalized model (lme4: ``isGLMM(m)``)."""

    @property
    def loglik(self) -> float:
        """``logLik(m)``: the REML log-likelihood for a REML fit."""
        return -self.objective / 2

    @property
    def aic(self) -> float:
        return self.objective + 2 * self.npar

    @property
    def bic(self) -> float:
        return self.objective + self.npar * math.log(self.nobs)

    @property
    def df_residual(self) -> int:
        return self.nobs - self.npar

    # ---- simulation (lme4's simulate) --------------------------------------------------------
    def simulate(
        self, nsim: int = 1, seed: int | np.random.Generator | None = None
    ) -> pd.DataFrame:
        """Responses simulated from the fitted model with new random effects each time
        (lme4: ``simulate(m, nsim, seed)``): columns ``sim_1`` ..., one row per data row."""
        self._require_rows("simulated responses")
        return simulate(self, nsim, seed)

    def simulate_once(self, rng: np.random.Generator, beta: ArrayLike | None = None) -> FloatArray:
        """One simulated response (the model kind draws it), at the fitted β or ``beta``."""
        raise NotImplementedError

    @property
    def refittable(self) -> bool:
        """Whether ``refit(response)`` can fit this model to a new response (the bootstrap
        and power simulation need it)."""
        return hasattr(self, "refit")

    def _require_rows(self, what: str) -> None:
        if self.design.streamed_rows is not None:
            how = (
                "predict(chunk) gives them chunk by chunk"
                if self.generalized
                else "lmerpy.write_fitted(fit, data, path) writes them to Parquet"
            )
            raise DataError(
                f"the {what} of a fit to data read in chunks are not kept in memory: {how}"
            )

    @property
    def extra_parameters(self) -> pd.DataFrame:
        """Coefficients beyond θ and β, by name, with ``estimate`` and ``se``: glmmTMB's
        zero-inflation (``zi~x``) and dispersion (``d~x``) models; none for lme4's models."""
        return pd.DataFrame({"estimate": [], "se": []}, dtype=np.float64)

    @cached_property
    def memo(self) -> dict[str, Any]:
        """Values computed once per fit by the layers above (e.g. the df's derivatives)."""
        return {}

    # ---- shared ----------------------------------------------------------------------------
    @property
    def fixef(self) -> pd.Series:
        return pd.Series(self._beta, index=_names_index(tuple(self.design.x_columns)), name="fixef")

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
        """A parameter within ``SINGULAR_TOL`` of a finite bound (lme4's ``isSingular``), in
        the units the optimizer searched (θ / ``theta_scale`` of the deviance function)."""
        scale = getattr(getattr(self, "devfun", None), "theta_scale", 1.0)
        record = self.record
        theta, lower, upper = (v / scale for v in (record.final, record.lower, record.upper))
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


@lru_cache(maxsize=256)
def _names_index(names: tuple[str, ...]) -> pd.Index:
    """An index of names, built once: a bootstrap asks for the same one at every refit."""
    return pd.Index(names)


def fit_warnings(result: MixedModelResult, hint: str) -> list[str]:
    """Warn of a singular fit and of non-convergence, as lme4 does; the messages, to keep
    with the result. ``hint`` says what may help convergence."""
    messages = []
    if result.is_singular:
        msg = (
            "boundary (singular) fit: a variance is estimated as 0 or a correlation as +-1 "
            "(lme4: ?isSingular)"
        )
        warn(msg, SingularFitWarning)
        messages.append(msg)
    if not result.record.converged:
        msg = (
            f"the optimizer ({result.record.optimizer}) did not report convergence: check the "
            f"estimates; {hint}"
        )
        warn(msg, ConvergenceWarning)
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


# ---- what inference reads of a fit of each kind ----------------------------------------------


class LinearDeviance(Protocol):
    """A linear fit's deviance function, as inference reads it (``lmerpy.DevianceFunction``)."""

    @property
    def design(self) -> Design: ...
    @property
    def reml(self) -> bool: ...
    @property
    def lower(self) -> FloatArray: ...
    @property
    def upper(self) -> FloatArray: ...
    def __call__(self, theta: ArrayLike) -> float: ...
    def lambdas(self, theta: ArrayLike) -> list[FloatArray]: ...
    def decompose(self, theta: ArrayLike, *, reml: bool | None = None) -> PlsCriterion | None: ...
    def term_thetas(self, theta: ArrayLike) -> Sequence[FloatArray]: ...


class LinearFit(Protocol):
    """A linear fit, as inference reads it (``lmerpy.LmerResult``)."""

    @property
    def design(self) -> Design: ...
    @property
    def devfun(self) -> LinearDeviance: ...
    @property
    def record(self) -> OptimizerRecord: ...
    @property
    def solution(self) -> PlsSolution: ...
    @property
    def reml(self) -> bool: ...
    @property
    def sigma(self) -> float: ...
    @property
    def nobs(self) -> int: ...
    @property
    def objective(self) -> float: ...
    @property
    def fixef(self) -> pd.Series: ...
    @property
    def vcov(self) -> pd.DataFrame: ...
    @property
    def memo(self) -> dict[str, Any]: ...
    def refit(self, response: ArrayLike | None = None) -> LinearFit: ...
    def refit_ml(self) -> LinearFit: ...
    def simulate_once(
        self, rng: np.random.Generator, beta: ArrayLike | None = None
    ) -> FloatArray: ...


class GeneralizedDeviance(Protocol):
    """A generalized fit's deviance function, as inference reads it (``lmerpy.GlmmDeviance``)."""

    @property
    def design(self) -> Design: ...
    @property
    def layout(self) -> ThetaLayout: ...
    def laplace(self, params: ArrayLike) -> float: ...


class GeneralizedFit(Protocol):
    """A generalized fit, as inference reads it (``lmerpy.GlmerResult``)."""

    @property
    def design(self) -> Design: ...
    @property
    def devfun(self) -> GeneralizedDeviance: ...
    @property
    def record(self) -> OptimizerRecord: ...
    @property
    def objective(self) -> float: ...
    @property
    def vcov_matrix(self) -> FloatArray: ...
    @property
    def extra_parameters(self) -> pd.DataFrame: ...
    def _term_thetas(self) -> list[FloatArray]: ...
