"""Cluster-robust covariance of the fixed effects (clubSandwich's ``vcovCR`` and
``coef_test``; Pustejovsky & Tipton 2018, *J. Bus. Econ. Stat.* 36(4)).

With the working model the fitted one, per cluster j: Vⱼ = I + ZⱼΛΛᵀZⱼᵀ (the marginal
covariance over σ²), Wⱼ = Vⱼ⁻¹, B = (Σⱼ XⱼᵀWⱼXⱼ)⁻¹ and e = y − Xβ̂:
CR0 = B Σⱼ XⱼᵀWⱼ eⱼeⱼᵀ WⱼXⱼ B, CR1 = CR0 · J/(J − 1), and CR2 puts Aⱼeⱼ for eⱼ with
Aⱼ = Uⱼᵀ Gⱼ^{-1/2} Uⱼ, UⱼᵀUⱼ = Vⱼ, Gⱼ = Uⱼ (I − XⱼBXⱼᵀWⱼ) Vⱼ Uⱼᵀ (Bell & McCaffrey 2002).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy import stats

from ..errors import ArgumentError
from ..fitted.base import MixedModelResult
from .leverage import relative_factor

__all__ = ["ROBUST_TYPES", "robust_coef_table", "vcov_robust"]

FloatArray = NDArray[np.float64]

ROBUST_TYPES = ("CR0", "CR1", "CR2")


@dataclass(frozen=True)
class _Cluster:
    rows: NDArray[np.int64]
    X: FloatArray
    V: FloatArray
    W: FloatArray


def vcov_robust(
    fit: MixedModelResult, type: str = "CR2", cluster: str | None = None
) -> pd.DataFrame:
    """Cluster-robust covariance of β̂ (clubSandwich: ``vcovCR(m, type, cluster)``).

    Args:
        fit: a linear fit without prior weights, whose random effects nest within clusters.
        type: ``"CR0"``, ``"CR1"`` or ``"CR2"`` (bias-reduced linearisation).
        cluster: a grouping factor of the model; by default the one with the fewest levels
            (clubSandwich's choice).
    """
    kind = _check(fit, type)
    clusters, B, e = _clusters(fit, cluster)
    V = _covariance(clusters, B, e, _adjustments(clusters, B, kind), kind)
    names = fit.design.x_columns
    return pd.DataFrame(V, index=names, columns=names)


def robust_coef_table(
    fit: MixedModelResult, type: str = "CR2", cluster: str | None = None
) -> pd.DataFrame:
    """Coefficients with cluster-robust standard errors and Satterthwaite df
    (clubSandwich: ``coef_test(m, vcov = type, test = "Satterthwaite")``): columns
    ``Estimate``, ``Std. Error``, ``df``, ``t value``, ``Pr(>|t|)``.

    The df are Bell & McCaffrey's under the working model: for coefficient k,
    ν = (Σⱼ pⱼᵀΦpⱼ)² / Σᵢⱼ (pᵢᵀΦpⱼ)², pⱼ the n-vector (I − H)ⱼᵀ Aⱼᵀ WⱼXⱼB eₖ and Φ = V."""
    kind = _check(fit, type)
    clusters, B, e = _clusters(fit, cluster)
    adjustments = _adjustments(clusters, B, kind)  # once, for the covariance and the df
    V = _covariance(clusters, B, e, adjustments, kind)
    beta = fit.fixef.to_numpy()
    se = np.sqrt(np.diag(V))
    df = _satterthwaite_df(fit, clusters, B, adjustments)
    t = beta / se
    p = 2 * stats.t.sf(np.abs(t), df)
    return pd.DataFrame(
        {"Estimate": beta, "Std. Error": se, "df": df, "t value": t, "Pr(>|t|)": p},
        index=fit.design.x_columns,
    )


def _check(fit: MixedModelResult, type: str) -> str:
    kind = str(type).upper()
    if kind not in ROBUST_TYPES:
        raise ArgumentError(f"type must be one of {', '.join(ROBUST_TYPES)}; got {type!r}")
    if fit.generalized:
        raise ArgumentError("cluster-robust covariances are for linear fits (as clubSandwich)")
    if fit.design.weights is not None:
        raise ArgumentError(
            "cluster-robust covariances of fits with prior weights are not supported"
        )
    fit._require_rows("cluster-robust covariances")
    return kind


def _clusters(
    fit: MixedModelResult, cluster: str | None
) -> tuple[list[_Cluster], FloatArray, FloatArray]:
    design = fit.design
    groups = {t.group: t.factor for t in design.terms}
    if cluster is None:
        cluster = min(groups, key=lambda g: groups[g].n_levels)
    if cluster not in groups:
        raise ArgumentError(
            f"cluster must be a grouping factor of the model ({', '.join(groups)}); got {cluster!r}"
        )
    codes = groups[cluster].codes
    ZL = sp.csr_matrix(design.Z @ relative_factor(fit))  # type: ignore[arg-type]
    coo = ZL.tocoo()
    low = np.full(ZL.shape[1], np.iinfo(np.int64).max)
    high = np.full(ZL.shape[1], -1)
    np.minimum.at(low, coo.col, codes[coo.row])
    np.maximum.at(high, coo.col, codes[coo.row])
    used = high >= 0
    if np.any(low[used] != high[used]):
        raise ArgumentError(
            f"the random effects do not nest within {cluster}: clustering needs every "
            "random effect to belong to one cluster"
        )
    owner = np.where(used, high, -1)
    e = (
        design.y
        - design.X @ fit.fixef.to_numpy()
        - (0.0 if design.offset is None else design.offset)
    )
    clusters = []
    information = np.zeros((design.X.shape[1],) * 2)
    order = np.argsort(codes, kind="stable")
    bounds = np.cumsum(np.bincount(codes, minlength=groups[cluster].n_levels))
    columns = np.argsort(owner, kind="stable")
    column_bounds = np.searchsorted(owner[columns], np.arange(groups[cluster].n_levels + 1))
    for j in range(groups[cluster].n_levels):
        rows = order[(bounds[j - 1] if j else 0) : bounds[j]]
        block = ZL[rows][:, columns[column_bounds[j] : column_bounds[j + 1]]].toarray()
        V = np.eye(len(rows)) + block @ block.T
        W = np.linalg.inv(V)
        X = design.X[rows]
        information += X.T @ W @ X
        clusters.append(_Cluster(rows, X, V, W))
    return clusters, np.asarray(np.linalg.inv(information), np.float64), np.asarray(e, np.float64)


def _covariance(
    clusters: list[_Cluster], B: FloatArray, e: FloatArray, adjustments: list[FloatArray],
    kind: str,
) -> FloatArray:  # fmt: skip
    """B Σⱼ XⱼᵀWⱼ Aⱼeⱼ eⱼᵀAⱼᵀ WⱼXⱼ B, times J/(J − 1) for CR1."""
    meat = np.zeros_like(B)
    for c, A in zip(clusters, adjustments, strict=True):
        u = c.X.T @ c.W @ (A @ e[c.rows])
        meat += np.outer(u, u)
    V = B @ meat @ B
    if kind == "CR1":
        V *= len(clusters) / (len(clusters) - 1)
    return np.asarray((V + V.T) / 2, dtype=np.float64)


def _adjustments(clusters: list[_Cluster], B: FloatArray, kind: str) -> list[FloatArray]:
    """Aⱼ per cluster: CR2's adjustment, the identity for CR0 and CR1."""
    if kind == "CR2":
        return [_adjustment(c, B) for c in clusters]
    return [np.eye(len(c.rows)) for c in clusters]


def _adjustment(c: _Cluster, B: FloatArray) -> FloatArray:
    """Aⱼ = Uⱼᵀ Gⱼ^{-1/2} Uⱼ (the symmetric inverse square root of Gⱼ, a pseudo-inverse on
    its null space)."""
    U = np.linalg.cholesky(c.V).T
    G = U @ (np.eye(len(c.rows)) - c.X @ B @ c.X.T @ c.W) @ c.V @ U.T
    values, vectors = np.linalg.eigh((G + G.T) / 2)
    keep = values > 1e-12 * values.max()
    root = (vectors[:, keep] / np.sqrt(values[keep])) @ vectors[:, keep].T
    return np.asarray(U.T @ root @ U, dtype=np.float64)


def _satterthwaite_df(
    fit: MixedModelResult, clusters: list[_Cluster], B: FloatArray, adjustments: list[FloatArray]
) -> FloatArray:
    order = np.concatenate([c.rows for c in clusters])
    WX = sp.block_diag([c.W for c in clusters]).tocsr() @ fit.design.X[order]  # cluster order
    V: sp.csr_matrix[Any] = sp.csr_matrix(sp.block_diag([c.V for c in clusters]))
    starts = np.cumsum([0] + [len(c.rows) for c in clusters])
    parts = []
    for c, start, A in zip(clusters, starts[:-1], adjustments, strict=True):
        u = A.T @ c.W @ c.X @ B  # (m_j, p)
        part = -WX @ (B @ (c.X.T @ u))  # (I − H)ⱼᵀ u = embedded u − WXB Xⱼᵀu
        part[start : start + len(c.rows)] += u
        parts.append(part)
    P = np.stack(parts)  # (J, n, p): pⱼ for every coefficient
    VP = np.stack([V @ part for part in P])
    cross = np.einsum("iak,jak->ijk", P, VP)  # (J, J, p)
    return np.asarray(np.einsum("jjk->k", cross) ** 2 / np.einsum("ijk->k", cross**2))
