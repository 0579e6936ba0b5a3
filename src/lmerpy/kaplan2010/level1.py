"""Bryk & Raudenbush's intervals for the level-1 coefficients of a two-level model
(Kaplan 2010, ch. 3; Bryk & Raudenbush 1992, pp. 37-44). R has no function for them:
the report's ``ci.mer.ak`` computed them for the model without level-2 predictors.

The two-level model: within group j, ``Y_j = X_j β_j + r_j`` with ``r_j ~ N(0, σ² I)``
(3.1), and ``β_j = W_j γ + u_j`` with ``u_j ~ N(0, T)`` (3.5). From the lmer fit come
σ² and T; the level-1 coefficients are the columns of the group's random-effect terms,
plus, with zero variance, any fixed effect that no such column carries. ``W_j`` is read
off the fixed-effects matrix: a fixed column equal, within every group, to a level-1
column times a group constant (1 for the column itself, ``schavg_j`` for the cross-level
interaction ``standLRT:schavg``) puts that constant in W_j's row of the coefficient, so
group j's rows of the fixed-effects matrix are ``X_j W_j`` and the block-diagonal W_j of
(3.5) follows from the model.

Every quantity is computed in precision form, from ``P_j = X_jᵀX_j / σ²`` and
``b_j = X_jᵀY_j / σ²`` with ``A_j = (I + P_j T)⁻¹``:

    Δ_j⁻¹ = (T + V_j)⁻¹ = A_j P_j                 Δ_j⁻¹ β̂_j = A_j b_j
    Λ_j   = T Δ_j⁻¹     = T A_j P_j               (V_j⁻¹ + T⁻¹)⁻¹ = T A_j
    γ̂     = (Σ W_jᵀ Δ_j⁻¹ W_j)⁻¹ Σ W_jᵀ Δ_j⁻¹ β̂_j   (3.11), Var(γ̂) the inverse (3.12)
    β*_j  = Λ_j β̂_j + (I − Λ_j) W_j γ̂               (3.13)
    V*_j  = (V_j⁻¹ + T⁻¹)⁻¹ + (I − Λ_j) W_j Var(γ̂) W_jᵀ (I − Λ_j)ᵀ   (3.16)

so a group whose ``X_jᵀX_j`` is singular (fewer observations than coefficients, or no
spread in a predictor) has no OLS estimate β̂_j or V_j, yet still gets β*_j and V*_j;
and a singular T (a coefficient without random variation) needs no T⁻¹. At lmer's
estimates of σ² and T, γ̂ is lmer's ``fixef`` and β*_j − W_j γ̂ its ``ranef``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
import scipy.linalg
from numpy.typing import NDArray
from scipy import stats

from ..design import RandomEffectsTerm
from ..errors import DataError, FormulaSemanticError
from ..lmm.result import LmerResult

__all__ = ["Level1Intervals", "level1_intervals"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_SAME = 1e-9  # relative tolerance for "this fixed column is that level-1 column times c_j"
_SINGULAR = 1e-10  # smallest eigenvalue of the scaled X_jᵀX_j of a group with an OLS fit


@dataclass(frozen=True, repr=False)
class Level1Intervals:
    """Intervals for each group's level-1 coefficients, and the pieces they come from.

    Arrays over groups have the groups first, in ``levels`` order; matrices over
    coefficients follow ``terms``; those over γ follow ``gamma``'s index.

    Attributes:
        group: the grouping factor's name.
        level: the confidence level.
        table: one row per group and coefficient: group, term, estimate (β*_j), lower, upper.
        terms: the level-1 coefficients; ``random_terms`` those with random variation.
        levels: the group labels.
        ols: β̂_j = (X_jᵀX_j)⁻¹X_jᵀY_j (3.2), a row per group, NaN where there is none.
        V: V_j = σ²(X_jᵀX_j)⁻¹ (3.3), NaN where X_jᵀX_j is singular.
        T: the random-effects covariance, zero for coefficients without random variation.
        Lambda: Λ_j = T Δ_j⁻¹ (3.14), defined for every group.
        W: W_j (3.5), (groups, coefficients, fixed effects).
        gamma, gamma_vcov: the GLS γ̂ (3.11) and Var(γ̂) (3.12).
        beta_star: β*_j (3.13), a row per group.
        V_star: V*_j (3.16).
        conditional_cov: (V_j⁻¹ + T⁻¹)⁻¹, the first term of V*_j (lme4's ``condVar``).
        no_ols: groups whose X_jᵀX_j is singular, so without β̂_j, V_j and Δ_j.
        sigma: the residual standard deviation σ.
    """

    group: str
    level: float
    table: pd.DataFrame
    terms: list[str]
    random_terms: list[str]
    levels: pd.Index
    ols: pd.DataFrame
    V: FloatArray
    T: pd.DataFrame
    Lambda: FloatArray
    W: FloatArray
    gamma: pd.Series
    gamma_vcov: pd.DataFrame
    beta_star: pd.DataFrame
    V_star: FloatArray
    conditional_cov: FloatArray
    no_ols: list[str]
    sigma: float

    def __repr__(self) -> str:
        return (
            f"<Level1Intervals {self.level:.0%} for {', '.join(self.terms)} by {self.group}: "
            f"{len(self.levels)} groups, {len(self.no_ols)} without an OLS fit>"
        )

    @property
    def Delta(self) -> FloatArray:
        """Δ_j = T + V_j = Var(β̂_j) (3.10), NaN where V_j is."""
        result: FloatArray = self.T.to_numpy()[None, :, :] + self.V
        return result


@dataclass(frozen=True)
class _Level1Model:
    """The two-level model read off an lmer fit, before any estimation."""

    group: str
    codes: IntArray
    levels: pd.Index
    Z: FloatArray  # n x q level-1 matrix, columns in the order of the fixed effects they carry
    terms: list[str]
    random: list[str]
    T: FloatArray
    W: FloatArray  # N x q x p
    y: FloatArray
    weights: FloatArray
    sigma: float
    fixed: list[str]


def level1_intervals(fit: LmerResult, level: float = 0.95) -> Level1Intervals:
    """Bryk & Raudenbush's intervals for the level-1 coefficients of each group
    (no R function; the report's ``ci.mer.ak(obj, grp, conf)``, with eq. (3.16) as printed).

    ``β*_qj ± z (V*_qqj)^½`` (3.15), z the normal quantile of ``level``, at lmer's σ² and T.
    The model must have one grouping factor. Level-2 predictors may enter as main effects
    and through cross-level interactions (``y ~ x * w + (x | g)``).

    Example:
        >>> import lmerpy
        >>> from lmerpy import level1_intervals
        >>> fit = lmerpy.lmer("normexam ~ standLRT + (standLRT | school)",
        ...                   lmerpy.datasets.load("exam"))
        >>> ci = level1_intervals(fit)
        >>> ci.table.query("group == '28'").round(3).to_dict("list")["lower"]
        [-0.876, 0.212]
    """
    if not 0 < level < 1:
        raise DataError(f"level must be strictly between 0 and 1, not {level!r}")
    model = _read_model(fit)
    P, b = _cross_products(model)
    est = _estimate(model, P, b)
    ols, V, no_ols = _ols(P, b)
    terms, levels, fixed = model.terms, model.levels, model.fixed
    return Level1Intervals(
        group=model.group,
        level=level,
        table=_table(model, est.beta_star, est.V_star, level),
        terms=terms,
        random_terms=model.random,
        levels=levels,
        ols=pd.DataFrame(ols, index=levels, columns=terms),
        V=V,
        T=pd.DataFrame(model.T, index=terms, columns=terms),
        Lambda=est.Lambda,
        W=model.W,
        gamma=pd.Series(est.gamma, index=fixed, name="gamma"),
        gamma_vcov=pd.DataFrame(est.gamma_vcov, index=fixed, columns=fixed),
        beta_star=pd.DataFrame(est.beta_star, index=levels, columns=terms),
        V_star=est.V_star,
        conditional_cov=est.conditional,
        no_ols=[str(levels[j]) for j in no_ols],
        sigma=model.sigma,
    )


class _Estimates(NamedTuple):
    gamma: FloatArray
    gamma_vcov: FloatArray
    Lambda: FloatArray
    beta_star: FloatArray
    V_star: FloatArray
    conditional: FloatArray


def _estimate(model: _Level1Model, P: FloatArray, b: FloatArray) -> _Estimates:
    """Eqs. (3.11)-(3.16) in precision form (see the module docstring)."""
    eye = np.eye(len(model.terms))[None]
    A = np.linalg.inv(eye + P @ model.T)
    G = A @ P  # Δ_j⁻¹
    h = np.einsum("jab,jb->ja", A, b)  # Δ_j⁻¹ β̂_j
    W, Wt = model.W, np.transpose(model.W, (0, 2, 1))
    gamma_vcov = _symmetric(np.linalg.inv(np.sum(Wt @ G @ W, axis=0)))
    gamma = gamma_vcov @ np.einsum("jfa,ja->f", Wt, h)
    Lambda = model.T[None] @ G
    shrink = eye - Lambda
    beta_star = h @ model.T + np.einsum("jab,jb->ja", shrink, W @ gamma)
    conditional = _symmetric(model.T[None] @ A)
    V_star = conditional + shrink @ W @ gamma_vcov @ Wt @ np.transpose(shrink, (0, 2, 1))
    return _Estimates(gamma, gamma_vcov, Lambda, beta_star, V_star, conditional)


# ---- reading the two-level model off the fit -------------------------------------------------
def _read_model(fit: LmerResult) -> _Level1Model:
    design = fit.design
    terms = _single_group_terms(fit)  # all of the design's terms
    thetas = fit.devfun.term_thetas(fit.record.final)
    blocks = [
        t.term_type.lambda_block(th, len(t.columns)) for t, th in zip(terms, thetas, strict=True)
    ]
    T = fit.sigma**2 * scipy.linalg.block_diag(*[f @ f.T for f in blocks])
    random = [c for t in terms for c in t.columns]
    factor = terms[0].factor
    Z, names, W = _level2_structure(
        np.hstack([t.lhs.values for t in terms]), random, design.X, design.x_columns,
        factor.codes, factor.n_levels,
    )  # fmt: skip
    T = np.pad(T, (0, len(names) - T.shape[0]))
    order = _fixed_order(W)
    y = design.y - (design.offset if design.offset is not None else 0.0)
    weights = design.weights if design.weights is not None else np.ones(len(y))
    return _Level1Model(
        factor.name, factor.codes, factor.levels, Z[:, order], [names[r] for r in order],
        random, T[np.ix_(order, order)], W[:, order, :], y, weights, fit.sigma,
        list(design.x_columns),
    )  # fmt: skip


def _fixed_order(W: FloatArray) -> list[int]:
    """Level-1 coefficients in the order of the first fixed effect each carries."""
    q, p = W.shape[1:]
    carries = np.any(W != 0, axis=0)  # q x p
    first = [int(np.argmax(row)) if row.any() else p + r for r, row in enumerate(carries)]
    return sorted(range(q), key=lambda r: first[r])


def _single_group_terms(fit: LmerResult) -> list[RandomEffectsTerm]:
    terms = list(fit.design.terms)
    first = terms[0].group
    others = [t for t in terms if t.group != first]
    if others:
        groups = ", ".join(dict.fromkeys(t.group for t in terms))
        raise FormulaSemanticError(
            f"level-1 intervals need a two-level model with one grouping factor; this one has "
            f"{groups}",
            fit.design.spec.formula,
            others[0].spec.start,
            others[0].spec.end,
        )
    return terms


def _level2_structure(
    Z: FloatArray, names: list[str], X: FloatArray, x_columns: list[str], codes: IntArray, N: int
) -> tuple[FloatArray, list[str], FloatArray]:
    """Level-1 columns and W_j: each fixed column is a level-1 column times a group
    constant, or else becomes a level-1 column of its own (without random variation)."""
    columns, names = [Z[:, i] for i in range(Z.shape[1])], list(names)
    owners: list[tuple[int, FloatArray]] = []
    for k, name in enumerate(x_columns):
        owner = _find_owner(X[:, k], name, columns, names, codes, N)
        if owner is None:
            columns.append(X[:, k])
            names.append(name)
            owner = (len(columns) - 1, np.ones(N))
        owners.append(owner)
    W = np.zeros((N, len(columns), len(x_columns)))
    for k, (r, multiplier) in enumerate(owners):
        W[:, r, k] = multiplier
    return np.column_stack(columns), names, W


def _find_owner(
    x: FloatArray, name: str, columns: list[FloatArray], names: list[str], codes: IntArray, N: int
) -> tuple[int, FloatArray] | None:
    """The first level-1 column (one of the same name first) that ``x`` is a multiple of
    within every group, with the multipliers."""
    order = sorted(range(len(columns)), key=lambda r: names[r] != name)
    for r in order:
        multiplier = _group_multiplier(x, columns[r], codes, N)
        if multiplier is None:
            continue
        known = np.bincount(codes, columns[r] ** 2, N) > 0
        if not known.all():
            multiplier = _fill_unknown(multiplier, known, f"{name} ({names[r]})")
        return r, multiplier
    return None


def _group_multiplier(x: FloatArray, z: FloatArray, codes: IntArray, N: int) -> FloatArray | None:
    """c with x = c[g] z on every row, or None."""
    szz = np.bincount(codes, z * z, N)
    sxz = np.bincount(codes, x * z, N)
    c = np.divide(sxz, szz, out=np.zeros(N), where=szz > 0)
    if np.max(np.abs(x - c[codes] * z)) > _SAME * np.max(np.abs(x)):
        return None
    return c


def _fill_unknown(c: FloatArray, known: NDArray[np.bool_], what: str) -> FloatArray:
    """Groups where the level-1 column is all 0 do not show the multiplier; it can be
    filled in only when it is the same in every other group."""
    seen = c[known]
    if seen.size == 0 or np.ptp(seen) > _SAME * max(1.0, float(np.max(np.abs(seen)))):
        raise DataError(
            f"cannot tell the level-2 multiplier of {what} in a group where that level-1 "
            "column is 0 on every row"
        )
    return np.where(known, c, seen[0])


# ---- per-group pieces ----------------------------------------------------------------------
def _cross_products(model: _Level1Model) -> tuple[FloatArray, FloatArray]:
    """P_j = X_jᵀX_j / σ² and b_j = X_jᵀY_j / σ² (prior weights included)."""
    N, q = len(model.levels), len(model.terms)
    wz = model.Z * (model.weights / model.sigma**2)[:, None]
    P = np.empty((N, q, q))
    for a in range(q):
        for c in range(q):
            P[:, a, c] = np.bincount(model.codes, wz[:, a] * model.Z[:, c], N)
    b = np.empty((N, q))
    for a in range(q):
        b[:, a] = np.bincount(model.codes, wz[:, a] * model.y, N)
    return P, b


def _ols(P: FloatArray, b: FloatArray) -> tuple[FloatArray, FloatArray, list[int]]:
    """β̂_j and V_j = P_j⁻¹ where P_j is non-singular (NaN elsewhere), and the singular j."""
    scale = np.sqrt(np.einsum("jaa->ja", P))
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = P / (scale[:, :, None] * scale[:, None, :])
    ok = np.all(scale > 0, axis=1)
    ok[ok] = np.linalg.eigvalsh(scaled[ok])[:, 0] > _SINGULAR
    beta = np.full(b.shape, np.nan)
    V = np.full(P.shape, np.nan)
    if ok.any():
        V[ok] = _symmetric(np.asarray(np.linalg.inv(P[ok]), dtype=np.float64))
        beta[ok] = np.einsum("jab,jb->ja", V[ok], b[ok])
    return beta, V, [int(j) for j in np.flatnonzero(~ok)]


def _table(
    model: _Level1Model, beta_star: FloatArray, V_star: FloatArray, level: float
) -> pd.DataFrame:
    z = float(stats.norm.ppf(1 - (1 - level) / 2))
    se = np.sqrt(np.maximum(np.einsum("jaa->ja", V_star), 0.0))
    N, q = beta_star.shape
    return pd.DataFrame(
        {
            "group": np.repeat(np.asarray(model.levels, dtype=object), q),
            "term": np.tile(np.asarray(model.terms, dtype=object), N),
            "estimate": beta_star.ravel(),
            "lower": (beta_star - z * se).ravel(),
            "upper": (beta_star + z * se).ravel(),
        }
    )


def _symmetric(M: FloatArray) -> FloatArray:
    result: FloatArray = (M + np.swapaxes(M, -1, -2)) / 2
    return result
