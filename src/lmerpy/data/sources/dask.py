"""A Dask DataFrame: each partition's result is computed on the workers that hold it, and the
results are combined in a binary tree there too (``pip install 'lmerpy[dask]'``).

The computation uses the active ``distributed.Client`` if there is one (so it runs unchanged
on a cluster), else Dask's default scheduler. Only the combined result comes back.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import pandas as pd

from ..._util.progress import progress_bar
from ...errors import DataSourceError, LmerpyError, MissingDependencyError

__all__ = ["DaskSource"]

T = TypeVar("T")


def _dask() -> Any:
    try:
        import dask
    except ImportError:
        raise MissingDependencyError(
            "Dask DataFrames need dask: pip install 'lmerpy[dask]'"
        ) from None
    return dask


class DaskSource:
    """The partitions of a Dask DataFrame."""

    def __init__(self, frame: Any, progress: bool | None) -> None:
        self.frame = frame
        self.progress = progress
        self.dask = _dask()

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
        delayed = self.dask.delayed
        # fn travels to each worker once, as a task of its own, not once per partition.
        shared = delayed(_Held(fn), name=f"lmerpy-fn-{uuid.uuid4().hex}", traverse=False)
        parts = [delayed(_apply)(shared, p) for p in self.frame[list(columns)].to_delayed()]
        while len(parts) > 1:  # a binary tree of combines, run where the parts are
            pairs = [delayed(combine)(a, b) for a, b in zip(parts[::2], parts[1::2], strict=False)]
            parts = pairs + ([parts[-1]] if len(parts) % 2 else [])
        with progress_bar(self.progress, desc=label, total=1, unit="pass") as bar:
            try:
                (result,) = self.dask.compute(parts[0])
            except LmerpyError:
                raise
            except Exception as exc:  # a worker failed, or the data could not be read
                raise DataSourceError(f"the Dask computation failed: {exc}") from None
            bar.update(1)
        return result  # type: ignore[no-any-return]

    def chunks(self, *, columns: Sequence[str], label: str) -> Iterator[pd.DataFrame]:
        frame = self.frame[list(columns)]
        n = int(frame.npartitions)
        with progress_bar(self.progress, desc=label, total=n, unit="partitions") as bar:
            for k in range(n):
                try:
                    part = frame.get_partition(k).compute()
                except Exception as exc:  # a worker failed, or the data could not be read
                    raise DataSourceError(f"the Dask computation failed: {exc}") from None
                yield part
                bar.update(1)


class _Held:
    """A function held as data, so Dask ships it as a value."""

    def __init__(self, fn: Callable[[pd.DataFrame], Any]) -> None:
        self.fn = fn


def _apply(held: _Held, part: pd.DataFrame) -> Any:
    return held.fn(part)
