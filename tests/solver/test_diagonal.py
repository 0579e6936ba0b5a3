"""The batched closed-form Cholesky factors of tiny level blocks (lmerpy.solver.diagonal)."""

from __future__ import annotations

import numpy as np
import pytest

from lmerpy.solver import diagonal


@pytest.mark.parametrize("p", [1, 2, 3])
def test_small_batched_cholesky_solve_matches_lapack(p: int) -> None:
    rng = np.random.default_rng(p)
    G = rng.normal(size=(50, p, p))
    A = G @ G.transpose(0, 2, 1) + 0.1 * np.eye(p)
    B = rng.normal(size=(50, p, 4))
    L, C = diagonal.small_cholesky_solve(A, B)
    np.testing.assert_allclose(L, np.linalg.cholesky(A), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(C, np.linalg.solve(np.linalg.cholesky(A), B), rtol=1e-10)
    A[7] = -np.eye(p)
    with pytest.raises(np.linalg.LinAlgError):
        diagonal.small_cholesky_solve(A, B)
