"""``PostFitMethods``: the analysis after the fit, as methods of every result (emmeans,
performance, car, clubSandwich and lme4's influence measures by their R names)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..fitted.base import MixedModelResult
from .emmeans import EMMeans, emmeans
from .leverage import cooks_distance, hatvalues
from .resample import Statistic, bootstrap, influence
from .residuals import SimulatedResiduals, simulated_residuals
from .sandwich import vcov_robust
from .variance import icc, r2

__all__ = ["PostFitMethods"]


class PostFitMethods(MixedModelResult):
    """Methods shared by linear and generalized results; each calls its own module."""

    def emmeans(
        self,
        specs: str | Sequence[str],
        *,
        by: str | Sequence[str] | None = None,
        at: Mapping[str, Any] | None = None,
        ddf: str | None = None,
        type: str = "link",
        level: float = 0.95,
    ) -> EMMeans:
        """Estimated marginal means (emmeans: ``emmeans(m, specs, by, at, lmer.df, type,
        level)``); ``.table``, ``.pairs()`` and ``.contrast()`` give the rest. ``ddf``
        defaults to Kenward-Roger for REML fits and is asymptotic for generalized ones."""
        return emmeans(self, specs, by=by, at=at, ddf=ddf, type=type, level=level)

    def r2(self) -> dict[str, float]:
        """Nakagawa's conditional and marginal R² (performance: ``r2_nakagawa(m)``)."""
        return r2(self)

    def icc(self) -> dict[str, float]:
        """Adjusted and unadjusted intraclass correlation (performance: ``icc(m)``)."""
        return icc(self)

    def vcov_robust(self, type: str = "CR2", cluster: str | None = None) -> pd.DataFrame:
        """Cluster-robust covariance of the fixed effects (clubSandwich: ``vcovCR(m, type,
        cluster)``); the cluster defaults to the grouping factor with the fewest levels."""
        return vcov_robust(self, type, cluster)

    def hatvalues(self) -> pd.Series:
        """Hat values of the penalised least-squares fit (lme4: ``hatvalues(m)``)."""
        return hatvalues(self)

    def cooks_distance(self) -> pd.Series:
        """Cook's distances (lme4: ``cooks.distance(m)``)."""
        return cooks_distance(self)

    def influence(
        self, groups: str | None = None, *, n_jobs: int | None = 1, progress: bool | None = False
    ) -> pd.DataFrame:
        """Case deletion by group: the fixed effects without each level, and Cook's distance
        (lme4: ``influence(m, groups)``, ``cooks.distance()``); refits in ``n_jobs``
        processes."""
        return influence(self, groups, n_jobs=n_jobs, progress=progress)

    def bootstrap(
        self,
        nsim: int = 500,
        *,
        statistic: Statistic | None = None,
        type: str = "parametric",
        seed: int | np.random.SeedSequence | None = None,
        n_jobs: int | None = 1,
        progress: bool | None = False,
    ) -> pd.DataFrame:
        """Parametric or case bootstrap replicates of a statistic (lme4: ``bootMer``), in
        ``n_jobs`` processes, the same for a seed whatever ``n_jobs``."""
        return bootstrap(
            self, nsim, statistic=statistic, type=type, seed=seed, n_jobs=n_jobs,
            progress=progress,
        )  # fmt: skip

    def simulated_residuals(
        self, nsim: int = 250, seed: int | np.random.Generator | None = None
    ) -> SimulatedResiduals:
        """Scaled residuals from simulations, with DHARMa's tests and plot (DHARMa:
        ``simulateResiduals(m, n = nsim)``)."""
        return simulated_residuals(self, nsim, seed)
