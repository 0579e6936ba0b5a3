"""Problems and a dense reference shared by the solver's tests."""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from lmerpy.solver import ReBlock


def z_dense(block: ReBlock) -> np.ndarray:
    """The term's model matrix Z, dense."""
    n, p = block.lhs.shape
    Z = np.zeros((n, block.n_levels * p))
    for a in range(p):
        Z[np.arange(n), block.codes * p + a] = block.lhs[:, a]
    return Z


def dense_reference(
    blocks: list[ReBlock],
    X: np.ndarray,
    y: np.ndarray,
    lambdas: list[np.ndarray],
    reml: bool,
    weights: np.ndarray | None = None,
    offset: np.ndarray | None = None,
) -> dict[str, object]:
    """The PLS quantities computed directly from dense Z, Λ and W (no blocking)."""
    n, p = X.shape
    w = np.ones(n) if weights is None else weights
    off = np.zeros(n) if offset is None else offset
    Lam = sla.block_diag(
        *[np.kron(np.eye(b.n_levels), T) for b, T in zip(blocks, lambdas, strict=True)]
    )
    ZL = np.hstack([z_dense(b) for b in blocks]) @ Lam
    q = ZL.shape[1]
    A = ZL.T @ (w[:, None] * ZL) + np.eye(q)
    ldL2 = 2.0 * np.sum(np.log(np.diag(np.linalg.cholesky(A))))
    sw = np.sqrt(w)[:, None]
    M = np.block([[sw * ZL, sw * X], [np.eye(q), np.zeros((q, p))]])
    rhs = np.concatenate([np.sqrt(w) * (y - off), np.zeros(q)])
    coef = np.linalg.lstsq(M, rhs, rcond=None)[0]
    u, beta = coef[:q], coef[q:]
    pwrss = float(np.sum((rhs - M @ coef) ** 2))
    ZWX = ZL.T @ (w[:, None] * X)
    schur = X.T @ (w[:, None] * X) - ZWX.T @ np.linalg.solve(A, ZWX)
    RX = np.linalg.cholesky(schur).T
    ldRX2 = float(np.linalg.slogdet(schur)[1])
    slw = float(np.sum(np.log(w)))
    if reml:
        obj = ldL2 - slw + ldRX2 + (n - p) * (1 + np.log(2 * np.pi * pwrss / (n - p)))
    else:
        obj = ldL2 - slw + n * (1 + np.log(2 * np.pi * pwrss / n))
    sigma = np.sqrt(pwrss / (n - p if reml else n))
    V = sigma**2 * Lam @ np.linalg.solve(A, Lam.T)
    condvar, start = [], 0
    for b in blocks:
        pk = b.lhs.shape[1]
        idx = start + np.arange(b.n_levels * pk).reshape(b.n_levels, pk)
        condvar.append(V[idx[:, :, None], idx[:, None, :]])
        start += b.n_levels * pk
    return {
        "objective": obj,
        "beta": beta,
        "u": u,
        "b": Lam @ u,
        "pwrss": pwrss,
        "ldL2": ldL2,
        "ldRX2": ldRX2,
        "sigma": sigma,
        "RX": RX,
        "condvar": condvar,
        "fitted": X @ beta + ZL @ u + off,
    }


def random_lower(rng: np.random.Generator, p: int) -> np.ndarray:
    """A lower-triangular template with a positive diagonal."""
    T = np.tril(rng.normal(size=(p, p)))
    T[np.diag_indices(p)] = rng.uniform(0.3, 1.5, size=p)
    return T


def random_problem(
    rng: np.random.Generator, n: int, terms: list[tuple[np.ndarray, int, int]]
) -> tuple[list[ReBlock], np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
    """terms: (codes, n_levels, p); lhs columns are [1, x, ...]."""
    x = rng.normal(size=(n, 3))
    blocks = [
        ReBlock(codes, n_levels, np.column_stack([np.ones(n), x[:, : p - 1]]))
        for codes, n_levels, p in terms
    ]
    X = np.column_stack([np.ones(n), x[:, 0], rng.integers(0, 2, n)])
    y = X @ [1.0, -0.5, 0.3] + rng.normal(size=n)
    for blk in blocks:
        effects = rng.normal(size=(blk.n_levels, blk.lhs.shape[1]))
        y += np.einsum("na,na->n", blk.lhs, effects[blk.codes])
    weights = rng.uniform(0.5, 2.0, size=n)
    offset = rng.normal(scale=0.1, size=n)
    lambdas = [random_lower(rng, b.lhs.shape[1]) for b in blocks]
    return blocks, X, y, weights, offset, lambdas


def three_crossed(rng: np.random.Generator) -> tuple:
    """Three crossed terms, two of them vector-valued, on 400 rows."""
    n = 400  # sparse crossing (a block more than DENSE_FILL filled is stored dense)
    g1 = rng.integers(0, 150, n)  # 152 levels declared: two are unused
    g2 = rng.integers(0, 30, n)
    g3 = rng.integers(0, 6, n)
    return random_problem(rng, n, [(g1, 152, 2), (g2, 30, 1), (g3, 6, 2)])
