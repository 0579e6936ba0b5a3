"""What every fit shares: ``MixedModelResult``, the base of linear and generalized results,
with the random effects' accessors (lme4 names) and lme4's fit warnings."""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..design import Design, RandomEffectsTerm
from ..errors import ConvergenceWarning, SingularFitWarning, warn
from ..optimize import OptimizerRecord

__all__ = ["SINGULAR_TOL", "MixedModelResult", "fit_warnings"]

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
