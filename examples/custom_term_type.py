"""Define a random-effect term type outside lmerpy, register it, and fit with it.

``iid(0 + f | g)`` gives every column of the term the same variance and no correlation:
Tᵢ = θ·I, one parameter. lmerpy's built-in ``diag(0 + f | g, hom = TRUE)`` and lme4's
``(1 | g:f)`` describe the same model, so all three fits must agree. Exits non-zero if not.

    python examples/custom_term_type.py
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

import lmerpy


class IID:
    """Independent, identically distributed effects for every column of the term."""

    name = "iid"

    def n_theta(self, n_cols: int) -> int:
        return 1

    def theta_start(self, n_cols: int) -> NDArray[np.float64]:
        return np.ones(1)

    def lower_bounds(self, n_cols: int) -> NDArray[np.float64]:
        return np.zeros(1)  # a standard deviation: singular at 0

    def upper_bounds(self, n_cols: int) -> NDArray[np.float64]:
        return np.full(1, np.inf)

    def lambda_block(self, theta: NDArray[np.float64], n_cols: int) -> NDArray[np.float64]:
        return float(theta[0]) * np.eye(n_cols)

    def theta_names(self, columns: Sequence[str], group: str) -> list[str]:
        return [f"{group}.iid"]


def main() -> int:
    lmerpy.register_term_type("iid", IID)  # iid(lhs | g) now parses, fits and prints
    pastes = lmerpy.datasets.load("pastes")  # 2 samples from each of 3 casks in 10 batches
    fits = {
        formula: lmerpy.lmer(formula, pastes)
        for formula in [
            "strength ~ 1 + (1 | batch) + iid(0 + cask | batch)",
            "strength ~ 1 + (1 | batch) + diag(0 + cask | batch, hom = TRUE)",
            "strength ~ 1 + (1 | batch) + (1 | batch:cask)",
        ]
    }
    for formula, fit in fits.items():
        print(f"{fit.reml_criterion:.6f}  {formula}")
    criteria = [fit.reml_criterion for fit in fits.values()]
    agree = max(criteria) - min(criteria) < 1e-6  # type: ignore[operator]
    print("agree" if agree else "DISAGREE")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
