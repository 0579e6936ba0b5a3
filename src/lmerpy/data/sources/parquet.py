"""A Parquet dataset, streamed in record batches with pyarrow (``pip install 'lmerpy[parquet]'``).

Memory is bounded by one batch and the accumulated cross-products, not by the rows: each
batch becomes a small pandas DataFrame holding only the columns the model uses.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import pandas as pd

from ..._util.progress import progress_bar
from ...errors import DataSourceError, MissingDependencyError
from .base import fold

__all__ = ["ParquetSource", "parquet_dataset"]

T = TypeVar("T")


def _pyarrow_dataset() -> Any:
    try:
        import pyarrow.dataset as ds
    except ImportError:
        raise MissingDependencyError(
            "reading Parquet needs pyarrow: pip install 'lmerpy[parquet]'"
        ) from None
    return ds


def _files(path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[str] | str:
    """A directory or file as is; a glob expanded (sorted); a list of paths as a list."""
    if isinstance(path, str | os.PathLike):
        text = os.fspath(path)
        if any(ch in text for ch in "*?["):
            matched = sorted(glob.glob(text, recursive=True))
            if not matched:
                raise DataSourceError(f"no Parquet file matches {text!r}")
            return matched
        if not os.path.exists(text):
            raise DataSourceError(f"no such Parquet file or directory: {text!r}")
        return text
    paths = [os.fspath(p) for p in path]
    absent = [p for p in paths if not os.path.exists(p)]
    if absent:
        raise DataSourceError(f"no such Parquet file: {absent[0]!r}")
    return paths


def parquet_dataset(path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> Any:
    """A ``pyarrow.dataset.Dataset`` over a Parquet file, directory, glob or list of files."""
    ds = _pyarrow_dataset()
    try:
        return ds.dataset(_files(path), format="parquet")
    except DataSourceError:
        raise
    except Exception as exc:  # pyarrow: not Parquet, unreadable, inconsistent schemas
        raise DataSourceError(f"cannot read the data as Parquet: {exc}") from None


class ParquetSource:
    """Record batches of a Parquet dataset."""

    def __init__(
        self,
        path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        batch_size: int,
        progress: bool | None,
    ) -> None:
        self.path = path
        self.dataset = parquet_dataset(path)
        self.batch_size = max(1, int(batch_size))
        self.progress = progress

    @property
    def columns(self) -> list[str]:
        return [str(name) for name in self.dataset.schema.names]

    def reduce(
        self,
        fn: Callable[[pd.DataFrame], T],
        combine: Callable[[T, T], T],
        *,
        columns: Sequence[str],
        label: str,
    ) -> T:
        result = fold(self.chunks(columns=columns, label=label), fn, combine)
        if result is None:  # no batches at all: an empty dataset
            result = fn(self.dataset.schema.empty_table().select(list(columns)).to_pandas())
        return result

    def chunks(self, *, columns: Sequence[str], label: str) -> Iterator[pd.DataFrame]:
        """Batches file by file, row group by row group, without read-ahead: memory is a
        batch or so, however large the files."""
        with progress_bar(self.progress, desc=label, total=self._rows(), unit="rows") as bar:
            for path in self.dataset.files:
                batches = self._batches(path, columns)
                while True:
                    try:
                        batch = next(batches)
                    except StopIteration:
                        break
                    except (OSError, ValueError) as exc:  # pyarrow's errors derive from these
                        raise DataSourceError(f"reading {path!r} failed: {exc}") from None
                    yield batch.to_pandas()
                    bar.update(batch.num_rows)

    def _rows(self) -> int | None:
        try:
            return int(self.dataset.count_rows())
        except (OSError, ValueError):
            return None

    def _batches(self, path: str, columns: Sequence[str]) -> Iterator[Any]:
        import pyarrow.parquet as pq

        try:
            file = pq.ParquetFile(path, pre_buffer=False)
            return iter(
                file.iter_batches(
                    batch_size=self.batch_size, columns=list(columns), use_threads=False
                )
            )
        except (OSError, ValueError) as exc:
            raise DataSourceError(f"reading {path!r} failed: {exc}") from None
