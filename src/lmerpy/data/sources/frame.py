"""A pandas DataFrame, read in slices of rows (bounds the temporaries of each pass)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import pandas as pd

from ..._util.progress import progress_bar
from .base import fold

__all__ = ["FrameSource"]

T = TypeVar("T")


class FrameSource:
    """Slices of ``batch_size`` rows of a DataFrame."""

    def __init__(self, frame: pd.DataFrame, batch_size: int, progress: bool | None) -> None:
        self.frame = frame
        self.batch_size = max(1, int(batch_size))
        self.progress = progress

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self.frame.columns]

    def reduce(
        self,
        fn: Callable[[pd.DataFrame], T],
        combine: Callable[[T, T], T],
        *,
        columns: Sequence[str],
        label: str,
    ) -> T:
        result = fold(self.chunks(columns=columns, label=label), fn, combine)
        assert result is not None
        return result

    def chunks(self, *, columns: Sequence[str], label: str) -> Iterator[pd.DataFrame]:
        frame = self.frame[list(columns)]
        total = len(frame)
        with progress_bar(self.progress, desc=label, total=total, unit="rows") as bar:
            for start in range(0, max(total, 1), self.batch_size):
                yield frame.iloc[start : start + self.batch_size]
                bar.update(min(self.batch_size, total - start))
