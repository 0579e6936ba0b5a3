"""The structure of the factor, found once at construction: which blocks of L are non-zero,
which diagonal blocks fill in and become dense, which columns fill each block in, and
whether the dense blocks fit in memory.

``MAX_DENSE_BYTES`` is read at each construction: assign
``lmerpy.solver.structure.MAX_DENSE_BYTES`` to allow larger dense blocks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..errors import ModelTooLargeError
from .blocks import Pair

__all__ = [
    "MAX_DENSE_BYTES",
    "Structure",
    "analyse",
    "check_dense_size",
    "check_level_blocks",
]

MAX_DENSE_BYTES = 2**30
"""Largest total size of the dense diagonal blocks of L a workspace may allocate (a 1 GiB
block, 11,585 effects square, already takes tens of seconds per Cholesky factorisation)."""


@dataclass(frozen=True)
class Structure:
    """Symbolic blocked factorisation at the granularity of grouping-factor levels.

    Block indices: terms 0..K-1, then K for [X y].  `contributors[(j, i)]` (j >= i) lists the
    columns k < i whose L[j,k] L[i,k]' is structurally non-zero.
    """

    n_terms: int
    dense_diag: tuple[bool, ...]
    nonzero: frozenset[Pair]
    """Structurally non-zero off-diagonal term blocks (j, i), i < j < K."""
    contributors: dict[Pair, list[int]]

    def pristine(self, j: int, k: int) -> bool:
        """L[j,k] (j > k) is Λ-scaled data only: nothing to its left fills it in."""
        return not self.contributors[(j, k)]

    def rows_below(self, i: int) -> list[int]:
        K = self.n_terms
        rows = [j for j in range(i + 1, K) if (j, i) in self.nonzero]
        return [*rows, K] if i < K else rows


class _Full:
    """Level pattern marker for a block that is (treated as) fully dense."""


_FULL = _Full()
_Pattern = sp.csr_matrix | _Full


def analyse(n_levels: Sequence[int], pairs: Mapping[Pair, sp.csr_matrix]) -> Structure:
    """Symbolic factorisation: which blocks are non-zero, dense, and who fills them in.
    ``pairs[(j, i)]`` (j > i) has a non-zero where levels of terms j and i share a row."""
    K = len(n_levels)
    pat: dict[Pair, _Pattern] = {}
    for (j, i), counts in pairs.items():
        if counts.nnz:
            P = sp.csr_matrix(counts, copy=True)
            P.data[:] = 1.0
            pat[(j, i)] = P
    contributors: dict[Pair, list[int]] = {(j, i): [] for j in range(K + 1) for i in range(j + 1)}
    dense_diag = [False] * K
    for k in range(K):
        if dense_diag[k]:
            for j in range(k + 1, K):
                if (j, k) in pat:
                    pat[(j, k)] = _FULL
        for j in range(k + 1, K):
            if (j, k) not in pat:
                continue
            contributors[(K, j)].append(k)
            contributors[(j, j)].append(k)
            if _fills_off_diagonal(pat[(j, k)], n_levels[j]):
                dense_diag[j] = True
            for i in range(k + 1, j):
                if (i, k) not in pat:
                    continue
                prod = _pattern_product(pat[(j, k)], pat[(i, k)])
                if prod is not None:
                    contributors[(j, i)].append(k)
                    pat[(j, i)] = _pattern_union(pat.get((j, i)), prod)
        contributors[(K, K)].append(k)
    return Structure(K, tuple(dense_diag), frozenset(pat), contributors)


def _pattern_product(A: _Pattern, B: _Pattern) -> _Pattern | None:
    """Pattern of A B' (None when empty)."""
    if isinstance(A, _Full) or isinstance(B, _Full):
        return _FULL
    P = sp.csr_matrix(A @ B.T)
    P.eliminate_zeros()
    if P.nnz == 0:
        return None
    P.data[:] = 1.0
    return P


def _pattern_union(A: _Pattern | None, B: _Pattern) -> _Pattern:
    if A is None:
        return B
    if isinstance(A, _Full) or isinstance(B, _Full):
        return _FULL
    P = sp.csr_matrix(A + B)
    P.data[:] = 1.0
    return P


def _fills_off_diagonal(P: _Pattern, n_rows: int) -> bool:
    """Whether P P' has non-zeros off the diagonal (some column has two row levels)."""
    if isinstance(P, _Full):
        return n_rows > 1
    counts = np.diff(sp.csc_matrix(P).indptr)
    return bool(counts.size and counts.max() > 1)


SMALL_BLOCKS = 2**26
"""Dense blocks under 64 MiB are not checked against the memory available (reading it costs
more than a small model's whole factorisation)."""


def check_level_blocks(n_levels: Sequence[int], dims: Sequence[int]) -> None:
    """Refuse, before any cross-product is formed, random terms whose per-level blocks
    (levels × columns² of each term) exceed MAX_DENSE_BYTES."""
    stacked = sum(8 * m * p**2 for m, p in zip(n_levels, dims, strict=True))
    if stacked > MAX_DENSE_BYTES:
        raise ModelTooLargeError(
            f"the random effects need {stacked / 2**30:.1f} GiB for their per-level blocks "
            f"(levels x columns² of each term); the limit is {MAX_DENSE_BYTES / 2**30:.0f} GiB: "
            "use fewer columns in the random terms with many levels"
        )


def check_dense_size(n_levels: Sequence[int], dims: Sequence[int], st: Structure) -> None:
    """Refuse, before allocating, a factorisation whose dense blocks exceed MAX_DENSE_BYTES
    or the memory this machine has available."""
    check_level_blocks(n_levels, dims)
    sizes = [m * p for m, p in zip(n_levels, dims, strict=True)]
    dense = [(i, sizes[i]) for i in range(len(sizes)) if st.dense_diag[i]]
    total = sum(8 * q * q for _, q in dense)
    free = _available_memory() if total >= SMALL_BLOCKS else None
    short = free is not None and 2 * total > free  # the blocks and a working copy
    if total > MAX_DENSE_BYTES or short:
        limit = (
            f"this machine has {free / 2**30:.1f} GiB available, and factoring needs about "
            "twice the blocks"
            if short and free is not None
            else f"the limit is {MAX_DENSE_BYTES / 2**30:.1f} GiB"
        )
        raise ModelTooLargeError(_too_large(dense, total, limit))


def _too_large(dense: list[tuple[int, int]], total: int, limit: str) -> str:
    """Why dense diagonal blocks of ``total`` bytes are refused, and the ways out."""
    worst, q = max(dense, key=lambda item: item[1])
    return (
        f"the random effects need dense blocks of {total / 2**30:.1f} GiB (term {worst + 1} "
        f"in lme4's order alone is {q} x {q}: {8 * q * q / 2**30:.1f} GiB); {limit}. "
        "Crossed grouping factors fill in the diagonal block of the factor placed second: "
        "lme4's order puts the factor with the most levels first, so the block is as small "
        "as it can be; fewer levels for the other factor, or nesting it in the first, keeps "
        "the blocks sparse. With the memory (about "
        f"{2 * total / 2**30:.1f} GiB), raise lmerpy.solver.structure.MAX_DENSE_BYTES to "
        "fit anyway"
    )


def _available_memory() -> int | None:
    """Bytes of memory available to this process (None where the system does not say)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None
