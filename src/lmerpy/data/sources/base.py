"""The interface every source of chunks offers."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Protocol, TypeVar

import pandas as pd

__all__ = ["DEFAULT_BATCH_SIZE", "Source", "fold"]

T = TypeVar("T")

DEFAULT_BATCH_SIZE = 1_000_000
"""Rows per chunk read from a Parquet dataset or sliced from a DataFrame."""


class Source(Protocol):
    """Chunks of one data set, and a map-reduce over them."""

    @property
    def columns(self) -> list[str]:
        """The columns of the data."""
        ...

    def reduce(
        self,
        fn: Callable[[pd.DataFrame], T],
        combine: Callable[[T, T], T],
        *,
        columns: Sequence[str],
        label: str,
    ) -> T:
        """combine(fn(chunk₁), fn(chunk₂), ...) over all chunks, reading only ``columns``;
        ``label`` names the pass on a progress bar."""
        ...

    def chunks(self, *, columns: Sequence[str], label: str) -> Iterator[pd.DataFrame]:
        """The chunks one after another, in the order of the data, in this process."""
        ...


def fold(
    chunks: Iterator[pd.DataFrame], fn: Callable[[pd.DataFrame], T], combine: Callable[[T, T], T]
) -> T | None:
    """combine(fn(chunk₁), fn(chunk₂), ...) in this process; None when there is no chunk."""
    result: T | None = None
    for chunk in chunks:
        part = fn(chunk)
        result = part if result is None else combine(result, part)
    return result
