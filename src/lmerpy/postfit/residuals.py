"""Simulation-based scaled residuals and their tests (DHARMa's ``simulateResiduals``,
``testUniformity``, ``testDispersion``, ``testZeroInflation``, ``testOutliers`` and its
two-panel plot; Dunn & Smyth 1996 for the randomised quantile residual).

Responses are simulated from the fit with new random effects each time (lme4's
``simulate(m, use.u = FALSE)``, DHARMa's default); an observation's residual is where it falls
among its simulations: #{sᵢ < yᵢ} + U·#{sᵢ = yᵢ}, over nsim, U uniform on (0, 1) breaking ties
of discrete responses. Under the fitted model the residuals are uniform on (0, 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from ..errors import ArgumentError, MatplotlibMissingError
from ..fitted.base import MixedModelResult
from ..fitted.predict import predict

__all__ = ["SimulatedResiduals", "scaled_residuals", "simulated_residuals"]

FloatArray = NDArray[np.float64]


def simulated_residuals(
    fit: MixedModelResult, nsim: int = 250, seed: int | np.random.Generator | None = None
) -> SimulatedResiduals:
    """Scaled residuals from ``nsim`` simulations (DHARMa: ``simulateResiduals(m, n = nsim,
    seed = seed)``)."""
    if not isinstance(nsim, int) or nsim < 2:
        raise ArgumentError(f"nsim must be an integer of at least 2, not {nsim!r}")
    fit._require_rows("simulated residuals")
    rng = np.random.default_rng(seed)
    sims = np.column_stack([fit.simulate_once(rng) for _ in range(nsim)])
    y = np.asarray(fit.design.y, dtype=np.float64)
    scaled = scaled_residuals(y, sims, rng)
    fitted = np.asarray(predict(fit, re_form="~0"), dtype=np.float64)  # population level
    if fit.generalized:
        fitted = fit.family.link.linkinv(fitted)  # type: ignore[attr-defined]
        pearson = np.asarray(fit.pearson_residuals, dtype=np.float64)  # type: ignore[attr-defined]
    else:
        w = 1.0 if fit.design.weights is None else np.sqrt(fit.design.weights)
        pearson = np.asarray(fit.residuals, dtype=np.float64) * w / fit.sigma
    residuals = pd.Series(scaled, index=fit.design.rows, name="scaled")
    chisq = float(np.sum(pearson**2))
    return SimulatedResiduals(residuals, y, sims, fitted, chisq, fit.df_residual)


def scaled_residuals(
    observed: FloatArray, simulated: FloatArray, rng: np.random.Generator
) -> FloatArray:
    """Where each observation falls among its simulations (rows × nsim):
    (#{s < y} + U·#{s = y}) / nsim, U uniform on (0, 1) (the randomised quantile residual)."""
    below = np.sum(simulated < observed[:, None], axis=1)
    ties = np.sum(simulated == observed[:, None], axis=1)
    return np.asarray((below + rng.uniform(size=len(observed)) * ties) / simulated.shape[1])


@dataclass(frozen=True)
class SimulatedResiduals:
    """Scaled residuals with the simulations behind them (DHARMa's ``DHARMa`` object).

    Attributes:
        residuals: the scaled residuals, one per row fitted, uniform under the model.
        observed: the response; ``simulated`` (rows, nsim) its simulations; ``fitted`` the
            fitted means (conditional on the random effects' modes), for the plot.
        pearson_chisq, df_residual: the sum of squared Pearson residuals and the residual
            df (n minus every parameter), for the Pearson dispersion test.

    With parameters estimated from the same data the residuals are a little more uniform
    than uniform, so the tests are conservative (DHARMa's documentation says as much); with
    the parameters that made the data they are exactly uniform.
    """

    residuals: pd.Series
    observed: FloatArray
    simulated: FloatArray
    fitted: FloatArray
    pearson_chisq: float
    df_residual: int

    def test_uniformity(self) -> dict[str, float]:
        """Kolmogorov–Smirnov test of the residuals against U(0, 1) (DHARMa:
        ``testUniformity``): ``statistic`` D and ``p_value``."""
        result = stats.kstest(self.residuals.to_numpy(), "uniform")
        return {"statistic": float(result.statistic), "p_value": float(result.pvalue)}

    def test_dispersion(self, method: str = "pearson") -> dict[str, float]:
        """Test of the spread; ``ratio`` > 1 is overdispersion.

        ``"pearson"`` (the default; performance: ``check_overdispersion(m)``, DHARMa's
        ``testDispersion(type = "PearsonChisq")``): ratio Σ r²/df of the Pearson residuals,
        ``p_value`` P(χ²_df > Σ r²), one-sided. ``"simulation"`` (DHARMa's default): the
        variance of the observations about the simulations' mean over the same for the
        simulations, two-sided; with random effects simulated afresh it has little power
        (DHARMa's documentation says so), hence not the default here."""
        if method == "pearson":
            df = max(self.df_residual, 1)
            p = float(stats.chi2.sf(self.pearson_chisq, df))
            return {"ratio": self.pearson_chisq / df, "p_value": p}
        if method != "simulation":
            raise ArgumentError(f"method must be 'pearson' or 'simulation'; got {method!r}")
        centre = self.simulated.mean(axis=1)
        observed = float(np.var(self.observed - centre))
        simulated = np.var(self.simulated - centre[:, None], axis=0)
        return {
            "ratio": observed / float(np.mean(simulated)),
            "p_value": _two_sided(observed, simulated),
        }

    def test_zero_inflation(self) -> dict[str, float]:
        """Observed against simulated zeros (DHARMa: ``testZeroInflation``): ``ratio`` of the
        observed count to the simulations' mean, two-sided ``p_value``."""
        observed = float(np.sum(self.observed == 0))
        simulated = np.sum(self.simulated == 0, axis=0).astype(np.float64)
        mean = float(np.mean(simulated))
        ratio = observed / mean if mean > 0 else (np.inf if observed > 0 else 1.0)
        return {"ratio": ratio, "p_value": _two_sided(observed, simulated)}

    @property
    def counts(self) -> bool:
        """Whether the response takes whole numbers only (zero inflation is then a question)."""
        return bool(np.all(self.observed == np.round(self.observed)))

    def test_outliers(self) -> dict[str, float]:
        """Observations outside every simulation (residual 0 or 1) against their binomial
        expectation, 2/(nsim + 1) per observation (DHARMa: ``testOutliers``, type
        "binomial"): ``outliers``, ``expected`` and two-sided ``p_value``."""
        n, nsim = self.simulated.shape
        low, high = self.simulated.min(axis=1), self.simulated.max(axis=1)
        outside = int(np.sum((self.observed < low) | (self.observed > high)))
        prob = 2 / (nsim + 1)
        p = stats.binomtest(outside, n, prob).pvalue
        return {"outliers": float(outside), "expected": n * prob, "p_value": float(p)}

    def tests(self) -> pd.DataFrame:
        """The tests in one table, ``statistic`` and ``p_value`` per test: uniformity (KS D),
        dispersion (Pearson ratio), zero inflation (ratio, for count responses) and outliers
        (their number)."""
        results = {
            "uniformity (KS)": (self.test_uniformity(), "statistic"),
            "dispersion": (self.test_dispersion(), "ratio"),
            "outliers": (self.test_outliers(), "outliers"),
        }
        if self.counts:
            results["zero inflation"] = (self.test_zero_inflation(), "ratio")
        return pd.DataFrame(
            {"statistic": [r[k] for r, k in results.values()],
             "p_value": [r["p_value"] for r, _ in results.values()]},
            index=list(results),
        )  # fmt: skip

    def plot(self, axes: Any = None) -> Any:
        """DHARMa's ``plot(simulateResiduals(m))``: a uniform QQ plot with the KS, dispersion
        and outlier tests, and the residuals against the rank of the fitted values with
        their 0.25, 0.5 and 0.75 quantiles. Returns the figure."""
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            raise MatplotlibMissingError("plots need matplotlib: pip install matplotlib") from None
        if axes is None:
            figure, axes = plt.subplots(1, 2, figsize=(10, 4.5))
        else:
            figure = axes[0].figure
        r = np.sort(self.residuals.to_numpy())
        expected = (np.arange(1, len(r) + 1) - 0.5) / len(r)
        qq, spread = axes
        qq.plot(expected, r, ".", markersize=3, color="C0")
        qq.plot([0, 1], [0, 1], color="C3", linewidth=1)
        qq.set(xlabel="expected", ylabel="observed", title="QQ plot of scaled residuals")
        u, d, o = self.test_uniformity(), self.test_dispersion(), self.test_outliers()
        label = (
            f"KS p = {u['p_value']:.3g}\ndispersion p = {d['p_value']:.3g}\n"
            f"outlier p = {o['p_value']:.3g}"
        )
        qq.text(0.03, 0.97, label, transform=qq.transAxes, va="top", fontsize=8)
        rank = stats.rankdata(self.fitted) / len(self.fitted)
        spread.plot(rank, self.residuals.to_numpy(), ".", markersize=3, color="C0", alpha=0.6)
        order = np.argsort(rank)
        for q in (0.25, 0.5, 0.75):
            spread.axhline(q, color="grey", linestyle="--", linewidth=0.8)
            spread.plot(
                rank[order], _running_quantile(self.residuals.to_numpy()[order], q), color="C3"
            )
        spread.set(
            xlabel="population-level prediction (rank transformed)",
            ylabel="scaled residual",
            ylim=(0, 1),
            title="Residuals against fitted",
        )
        return figure


def _two_sided(observed: float, simulated: FloatArray) -> float:
    """DHARMa's two-sided simulation p-value: twice the smaller tail, at most 1."""
    lower = float(np.mean(simulated <= observed))
    upper = float(np.mean(simulated >= observed))
    return min(1.0, 2 * min(lower, upper))


def _running_quantile(values: FloatArray, q: float, window: float = 0.2) -> FloatArray:
    """The q-quantile of the residuals in a window of ``window`` of the points around each."""
    n = len(values)
    half = max(1, int(window * n / 2))
    return np.array([np.quantile(values[max(0, i - half) : i + half + 1], q) for i in range(n)])
