"""A small model's criterion with its exact gradient and Hessian in θ, from one dense factor:
what Newton's method needs to refit a small model in a few steps (a refit starts at the
previous optimum, where Newton converges fast; BOBYQA needs some fifty evaluations).

With A = [Z X y]'W[Z X y] (order N = q + p + 1) and Λ̃ = diag(Λ, I), linear in θ
(Λ̃ = Λ̃₀ + Σᵢ θᵢ Eᵢ, as for lme4's ``us`` and ``diag`` terms), the matrix factored is
M = Λ̃'AΛ̃ + diag(I_q, 0). Let G_s be the log-determinant of M's leading s × s block (the
leading block of M's Cholesky factor L factors it). Then log|L_Z|² = G_q,
log|R_X|² = G_{q+p} - G_q and log pwrss = G_N - G_{q+p}, so that (Bates et al. 2015, eqs. 34
and 41, up to constants)

    ML:   f = G_q + n log pwrss
    REML: f = G_{q+p} + (n - p) log pwrss

For the log-determinant, with M_s⁻¹ = (L⁻¹)_s'(L⁻¹)_s (each matrix restricted to its
leading s × s block),

    ∂ᵢG_s  = tr(M_s⁻¹ ∂ᵢM),                        ∂ᵢM  = Eᵢ'AΛ̃ + Λ̃'AEᵢ
    ∂ᵢⱼG_s = tr(M_s⁻¹ ∂ᵢⱼM) - tr(M_s⁻¹ ∂ᵢM M_s⁻¹ ∂ⱼM),  ∂ᵢⱼM = Eᵢ'AEⱼ + Eⱼ'AEᵢ

and pwrss = 1 / (M⁻¹)_NN, whose derivatives are quadratic forms in M⁻¹e_N.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg.lapack import dpotrf, dtrtri

from .blocks import FloatArray
from .dense import dense_cross_products
from .diagonal import NotPositiveDefinite
from .plan import Plan

__all__ = ["criterion_derivatives", "second_derivatives"]


def criterion_derivatives(
    plan: Plan,
    lam: FloatArray,
    basis: FloatArray,
    second: FloatArray,
    reml: bool,
    n: int,
    sum_log_w: float,
) -> tuple[float, FloatArray, FloatArray]:
    """(f, ∇f, ∇²f) at Λ̃ = ``lam`` (N × N), with ``basis`` the stacked Eᵢ = ∂Λ̃/∂θᵢ
    (k, N, N) and ``second`` what `second_derivatives` gives for them; f is lme4's REML
    criterion or ML deviance. Raises NotPositiveDefinite where M is not."""
    A = dense_cross_products(plan)
    size, q, p = A.shape[0], plan.q, plan.p
    B = A @ lam
    M = lam.T @ B
    M.flat[: q * (size + 1) : size + 1] += 1.0
    L, info = dpotrf(M, lower=1, clean=1, overwrite_a=1)
    if info != 0:
        raise NotPositiveDefinite
    Linv, _ = dtrtri(L, lower=1)
    logs = 2.0 * np.log(L.diagonal())
    block, dof = (q + p, n - p) if reml else (q, n)
    value = float(logs[:block].sum()) + dof * (1 + math.log(2 * math.pi / dof)) - sum_log_w
    value += dof * float(logs[-1])  # log pwrss
    half = np.matmul(basis.transpose(0, 2, 1), B)  # Eᵢ'AΛ̃
    dM = half + half.transpose(0, 2, 1)
    g, H = _log_det_derivatives(Linv[:block, :block], dM[:, :block, :block], second, q)
    pg, pH = _log_pwrss_derivatives(Linv, dM, second, q)
    return value, g + dof * pg, H + dof * pH


def _log_det_derivatives(
    Linv: FloatArray, dM: FloatArray, second: FloatArray, q: int
) -> tuple[FloatArray, FloatArray]:
    """Gradient and Hessian of log det M_s (Linv = (L⁻¹)_s, dM = the ∂ᵢM_s)."""
    k, s = dM.shape[:2]
    Minv = Linv.T @ Linv
    P = np.matmul(Minv, dM)
    curvature = 2.0 * (second @ Minv[:q, :q].ravel()).reshape(k, k)  # tr(M⁻¹ ∂ᵢⱼM)
    PP = P.reshape(k, s * s) @ P.transpose(0, 2, 1).reshape(k, s * s).T  # tr(PᵢPⱼ)
    H = curvature - PP
    return P.trace(axis1=1, axis2=2), (H + H.T) / 2


def _log_pwrss_derivatives(
    Linv: FloatArray, dM: FloatArray, second: FloatArray, q: int
) -> tuple[FloatArray, FloatArray]:
    """Gradient and Hessian of log pwrss = -log φ, φ = (M⁻¹)_NN: with v = M⁻¹e_N and
    wᵢ = ∂ᵢM v, ∂ᵢφ = -v'wᵢ and ∂ᵢⱼφ = 2 wᵢ'M⁻¹wⱼ - v'∂ᵢⱼM v."""
    k = dM.shape[0]
    phi = float(Linv[-1, -1]) ** 2
    v = Linv[-1, -1] * Linv[-1, :]
    W = np.matmul(dM, v)  # (k, N)
    a = W @ v
    Y = Linv @ W.T
    quadratic = 2.0 * (second @ np.outer(v[:q], v[:q]).ravel()).reshape(k, k)  # v'∂ᵢⱼM v
    H = (quadratic - 2.0 * (Y.T @ Y)) / phi + np.outer(a, a) / phi**2
    return a / phi, (H + H.T) / 2


def second_derivatives(plan: Plan, basis: FloatArray) -> FloatArray:
    """Eᵢ'AEⱼ, (k², q²): half of ∂ᵢⱼM, the same at every θ. It lies in the q × q block
    (θ moves Λ alone), inside every leading block the criterion reads."""
    q, k = plan.q, len(basis)
    A, Eq = dense_cross_products(plan)[:q, :q], basis[:, :q, :q]
    products = np.matmul(Eq.transpose(0, 2, 1)[:, None], np.matmul(A, Eq)[None, :])
    return np.asarray(products.reshape(k * k, q * q))
