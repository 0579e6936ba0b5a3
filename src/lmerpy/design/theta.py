"""θ, the covariance parameters of a design: each term's slice, bounds, start and names, and
the map θ -> the terms' blocks of Λθ; and the solver's view of the random terms."""

from __future__ import annotations

import itertools

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..solver import ReBlock
from .design import Design, RandomEffectsTerm

__all__ = ["SCALE_RANGE", "ThetaLayout", "re_blocks"]


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
        scale = np.concatenate([_theta_scale(t) for t in design.terms])
        near_unit = np.all((scale >= 1 / SCALE_RANGE) & (scale <= SCALE_RANGE))
        self.scale = np.ones_like(scale) if near_unit else scale
        """Per θ, the scale of its row's column of the term's model matrix where some column
        lies far from unit scale (outside 1/SCALE_RANGE..SCALE_RANGE, root mean square),
        else 1: the optimizer searches θ / scale and the start is scale · lme4's."""
        self.start = self.start * self.scale

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


SCALE_RANGE = 100.0
"""Random-effect columns whose root mean square lies within 1/SCALE_RANGE..SCALE_RANGE
leave θ as lme4 searches it."""


def _theta_scale(term: RandomEffectsTerm) -> NDArray[np.float64]:
    """1 / RMS of the column of each θ's row of T (read off the term type's own map θ -> T,
    linear for ``us`` and heterogeneous ``diag``), 1 for the other types and without rows."""
    values, k = term.lhs.values, term.n_theta
    name, p = term.term_type.name, len(term.columns)
    if values.shape[0] == 0 or name not in ("us", "diag") or (name == "diag" and k != p):
        return np.ones(k)
    rms = np.sqrt(np.mean(values**2, axis=0))
    inverse = np.divide(1.0, rms, out=np.ones(p), where=rms > 0)
    rows = [int(np.argwhere(term.term_type.lambda_block(e, p))[0, 0]) for e in np.eye(k)]
    return np.asarray(inverse[rows], dtype=np.float64)


def re_blocks(design: Design) -> list[ReBlock]:
    """The solver's view of the random terms: grouping codes, levels, left-hand matrix."""
    return [ReBlock(t.factor.codes, t.factor.n_levels, t.lhs.values) for t in design.terms]
