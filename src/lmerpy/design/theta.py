"""θ, the covariance parameters of a design: each term's slice, bounds, start and names, and
the map θ -> the terms' blocks of Λθ; and the solver's view of the random terms."""

from __future__ import annotations

import itertools

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..solver import ReBlock
from .design import Design

__all__ = ["ThetaLayout", "re_blocks"]


class ThetaLayout:
    """The θ vector of a design: each term's slice of it, its bounds, lme4's default start
    and names, and the map θ -> the terms' relative covariance factors Tᵢ."""

    def __init__(self, design: Design) -> None:
        self.terms = design.terms
        edges = np.cumsum([0, *[t.n_theta for t in design.terms]])
        self.slices = [slice(int(a), int(b)) for a, b in itertools.pairwise(edges)]
        typed = [(t.term_type, len(t.columns)) for t in design.terms]
        self.lower = np.concatenate([tt.lower_bounds(p) for tt, p in typed])
        self.upper = np.concatenate([tt.upper_bounds(p) for tt, p in typed])
        self.start = np.concatenate([tt.theta_start(p) for tt, p in typed])
        self.names = [n for t in design.terms for n in t.term_type.theta_names(t.columns, t.group)]

    def lambdas(self, theta: ArrayLike) -> list[NDArray[np.float64]]:
        """Each term's relative covariance factor Tᵢ at θ."""
        return [
            t.term_type.lambda_block(part, len(t.columns))
            for t, part in zip(self.terms, self.split(theta), strict=True)
        ]

    def split(self, theta: ArrayLike) -> list[NDArray[np.float64]]:
        """θ split by term."""
        values = np.asarray(theta, dtype=np.float64)
        return [values[s] for s in self.slices]


def re_blocks(design: Design) -> list[ReBlock]:
    """The solver's view of the random terms: grouping codes, levels, left-hand matrix."""
    return [ReBlock(t.factor.codes, t.factor.n_levels, t.lhs.values) for t in design.terms]
