"""The random effects of a generalized model as its deviances move them: u split by term,
b = Λu, ZΛu, and Λ and ZΛ as matrices for the dense paths."""

from __future__ import annotations

import itertools
from functools import cached_property

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from numpy.typing import NDArray

from ..design import Design
from ..design.theta import re_blocks
from ..solver import ReBlock

__all__ = ["RandomEffects", "spherical"]

FloatArray = NDArray[np.float64]


class RandomEffects:
    """The terms' blocks of a design and what the spherical modes u give through Λ."""

    def __init__(self, design: Design) -> None:
        self.blocks: list[ReBlock] = re_blocks(design)
        self.n = design.nobs
        edges = np.cumsum([0, *(b.n_levels * b.lhs.shape[1] for b in self.blocks)])
        self.slices = [slice(int(a), int(b)) for a, b in itertools.pairwise(edges)]
        self._design = design

    def split(self, u: FloatArray) -> list[FloatArray]:
        """u by term."""
        return [u[s] for s in self.slices]

    def b(self, lambdas: list[FloatArray], u: FloatArray) -> FloatArray:
        """b = Λu, term by term, each level-major."""
        parts = zip(self.split(u), lambdas, strict=True)
        return np.concatenate([(part.reshape(-1, T.shape[0]) @ T.T).ravel() for part, T in parts])

    def zb(self, lambdas: list[FloatArray], u: FloatArray) -> FloatArray:
        """Z Λ u."""
        out = np.zeros(self.n)
        for blk, part, T in zip(self.blocks, self.split(u), lambdas, strict=True):
            if T.shape[0] > 1:
                b = part.reshape(blk.n_levels, -1) @ T.T
                out += np.einsum("na,na->n", blk.lhs, b[blk.codes])
            elif blk.intercept:
                out += (T[0, 0] * part)[blk.codes]
            else:
                out += blk.lhs[:, 0] * (T[0, 0] * part)[blk.codes]
        return out

    def lambda_matrix(self, lambdas: list[FloatArray]) -> sp.csr_matrix:
        """Λ in the order of Z's columns (each term level-major: I ⊗ T)."""
        parts = [
            sp.kron(sp.identity(b.n_levels), T) for b, T in zip(self.blocks, lambdas, strict=True)
        ]
        return sp.csr_matrix(sp.block_diag(parts))

    def z_lambda(self, lambdas: list[FloatArray]) -> FloatArray:
        """ZΛ as a dense array, for models small enough to factor densely."""
        return np.asarray((self._z @ self.lambda_matrix(lambdas)).toarray())

    @cached_property
    def _z(self) -> sp.csr_matrix:
        """Z, formed once, when a dense path first needs it."""
        return sp.csr_matrix(self._design.Z)


def spherical(lambdas: list[FloatArray], b: FloatArray, levels: list[int]) -> FloatArray | None:
    """u with Λu = b, term by term (each level-major, ``levels[k]`` levels of term k); None
    where some Λ's diagonal has a zero, which b does not determine u through, or is so small
    that u overflows."""
    parts, start = [], 0
    for T, m in zip(lambdas, levels, strict=True):
        if not np.all(np.abs(np.diagonal(T)) > 0.0):
            return None
        p = T.shape[0]
        block = b[start : start + m * p].reshape(m, p)
        with np.errstate(over="ignore"):
            part = (
                block.ravel() / T[0, 0]
                if p == 1
                else sla.solve_triangular(T, block.T, lower=True).T.ravel()
            )
        if not np.all(np.isfinite(part)):
            return None
        parts.append(part)
        start += m * p
    return np.concatenate(parts)
