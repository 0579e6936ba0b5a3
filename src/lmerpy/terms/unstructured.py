"""``us``: the unstructured (general positive semi-definite) covariance, lme4's default."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
from numpy.typing import NDArray

from .registry import register_term_type

__all__ = ["Unstructured"]


class Unstructured:
    """``(x | g)``: Tᵢ is any lower-triangular matrix with a non-negative diagonal.

    θᵢ holds Tᵢ's lower triangle column by column, as lme4 lays it out, so the
    first parameter of ``(1 + x | g)`` is T[0,0], then T[1,0], then T[1,1].
    """

    name = "us"

    def n_theta(self, n_cols: int) -> int:
        return n_cols * (n_cols + 1) // 2

    def theta_start(self, n_cols: int) -> NDArray[np.float64]:
        return np.where(self._diagonal(n_cols), 1.0, 0.0)

    def lower_bounds(self, n_cols: int) -> NDArray[np.float64]:
        return np.where(self._diagonal(n_cols), 0.0, -np.inf)

    def upper_bounds(self, n_cols: int) -> NDArray[np.float64]:
        return np.full(self.n_theta(n_cols), np.inf)

    def lambda_block(self, theta: NDArray[np.float64], n_cols: int) -> NDArray[np.float64]:
        block = np.zeros((n_cols, n_cols))
        if n_cols == 1:
            block[0, 0] = theta[0]
            return block
        cols, rows = _triangle(n_cols)  # column-major lower triangle
        block[rows, cols] = theta
        return block

    def theta_names(self, columns: Sequence[str], group: str) -> list[str]:
        cols, rows = (idx.tolist() for idx in np.triu_indices(len(columns)))
        return [
            f"{group}.{columns[r]}" if r == c else f"{group}.{columns[r]}.{columns[c]}"
            for r, c in zip(rows, cols, strict=True)
        ]

    @staticmethod
    def _diagonal(n_cols: int) -> NDArray[np.bool_]:
        cols, rows = _triangle(n_cols)
        return np.asarray(rows == cols)


@cache
def _triangle(n_cols: int) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    cols, rows = np.triu_indices(n_cols)
    return cols, rows


register_term_type("us", Unstructured)
