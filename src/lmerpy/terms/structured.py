"""Structured covariances: ``diag``, ``cs`` and ``ar1`` (lme4 ≥ 2.0, glmmTMB).

Each is a vector of standard deviations (relative to σ; one shared when homogeneous)
times a correlation matrix with a fixed shape; Tᵢ = D · chol(R). Parameter counts
agree with glmmTMB's table: diag p (hom 1), cs p + 1 (hom 2), ar1 2 (het p + 1).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from .registry import Option, flag, register_term_type

__all__ = ["AR1", "CompoundSymmetry", "Diagonal"]


class _Scaled:
    """Standard deviations (one per column, or one shared) times a correlation shape."""

    name = ""
    n_corr = 0  # correlation parameters after the standard deviations

    def __init__(self, homogeneous: bool) -> None:
        self.homogeneous = homogeneous

    def n_sd(self, n_cols: int) -> int:
        return 1 if self.homogeneous else n_cols

    def n_theta(self, n_cols: int) -> int:
        return self.n_sd(n_cols) + self.n_corr

    def theta_start(self, n_cols: int) -> NDArray[np.float64]:
        return np.concatenate([np.ones(self.n_sd(n_cols)), np.zeros(self.n_corr)])

    def lower_bounds(self, n_cols: int) -> NDArray[np.float64]:
        sd = np.zeros(self.n_sd(n_cols))
        return np.concatenate([sd, np.full(self.n_corr, self.rho_min(n_cols))])

    def upper_bounds(self, n_cols: int) -> NDArray[np.float64]:
        return np.concatenate([np.full(self.n_sd(n_cols), np.inf), np.ones(self.n_corr)])

    def rho_min(self, n_cols: int) -> float:
        return -1.0

    def lambda_block(self, theta: NDArray[np.float64], n_cols: int) -> NDArray[np.float64]:
        sd = np.broadcast_to(theta[: self.n_sd(n_cols)], (n_cols,))
        return sd[:, None] * self.correlation_factor(theta[self.n_sd(n_cols) :], n_cols)

    def correlation_factor(self, rho: NDArray[np.float64], n_cols: int) -> NDArray[np.float64]:
        return np.eye(n_cols)

    def theta_names(self, columns: Sequence[str], group: str) -> list[str]:
        sds = [f"{group}.sd"] if self.homogeneous else [f"{group}.{c}" for c in columns]
        return sds + [f"{group}.rho"] * self.n_corr


class Diagonal(_Scaled):
    """``diag(x | g)``: independent effects, each its own variance (``hom = TRUE``: one)."""

    name = "diag"

    def __init__(self, hom: Option = False) -> None:
        super().__init__(flag(hom, "hom"))


class CompoundSymmetry(_Scaled):
    """``cs(x | g)``: one correlation ρ between every pair, heterogeneous variances by
    default (``hom = TRUE``: one). ρ ranges over [-1/(p-1), 1]."""

    name = "cs"
    n_corr = 1

    def __init__(self, hom: Option = False) -> None:
        super().__init__(flag(hom, "hom"))

    def rho_min(self, n_cols: int) -> float:
        return -1.0 / max(n_cols - 1, 1)

    def correlation_factor(self, rho: NDArray[np.float64], n_cols: int) -> NDArray[np.float64]:
        """Cholesky factor of (1-ρ)I + ρ11ᵀ in closed form (every row below column j
        shares that column's value), exact on the boundary too."""
        r = float(rho[0])
        out = np.zeros((n_cols, n_cols))
        below = 0.0  # Σ over earlier columns of the shared below-diagonal value squared
        for j in range(n_cols):
            diag = np.sqrt(max(1.0 - below, 0.0))
            shared = (r - below) / diag if diag > 0 else 0.0
            out[j, j] = diag
            out[j + 1 :, j] = shared
            below += shared * shared
        return out


class AR1(_Scaled):
    """``ar1(0 + f | g)``: correlation ρ^|i-j| between the levels of an ordered factor,
    one variance by default (``het = TRUE``: one per level). ρ ranges over [-1, 1]."""

    name = "ar1"
    n_corr = 1

    def __init__(self, het: Option = False) -> None:
        super().__init__(not flag(het, "het"))

    def correlation_factor(self, rho: NDArray[np.float64], n_cols: int) -> NDArray[np.float64]:
        """Cholesky factor of [ρ^|i-j|]: first column ρ^i, the rest ρ^(i-j)·sqrt(1-ρ²)."""
        r = float(rho[0])
        i, j = np.indices((n_cols, n_cols))
        powers = np.where(i >= j, r ** np.maximum(i - j, 0), 0.0)
        scale = np.where(j == 0, 1.0, np.sqrt(max(1.0 - r * r, 0.0)))
        return np.asarray(powers * scale, dtype=np.float64)


register_term_type("diag", Diagonal)
register_term_type("cs", CompoundSymmetry)
register_term_type("ar1", AR1)
