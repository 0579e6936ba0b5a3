"""Where chunks of data come from: a pandas DataFrame in slices, a Parquet dataset in record
batches (pyarrow), or a Dask DataFrame's partitions on its workers.

Each source runs a map-reduce: a function of one chunk (a pandas DataFrame holding only the
columns asked for), and an associative combine of the results. The same numpy kernel runs
on every source, so they agree by construction.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import pandas as pd

from ...errors import DataError
from .base import DEFAULT_BATCH_SIZE, Source
from .frame import FrameSource

__all__ = ["DEFAULT_BATCH_SIZE", "Source", "is_chunked", "open_source"]

DataLike = Any
"""A pandas DataFrame, a Parquet path, directory, glob or list of paths, or a Dask DataFrame."""


def is_dask(data: object) -> bool:
    """Whether ``data`` is a Dask DataFrame (without importing Dask)."""
    return type(data).__module__.startswith("dask") and hasattr(data, "to_delayed")


def is_path(data: object) -> bool:
    if isinstance(data, str | os.PathLike):
        return True
    return (
        isinstance(data, Sequence)
        and bool(data)
        and all(isinstance(p, str | os.PathLike) for p in data)
    )


def is_chunked(data: object) -> bool:
    """Data that are read in chunks rather than held in memory."""
    return is_path(data) or is_dask(data)


def open_source(
    data: DataLike, *, batch_size: int | None = None, progress: bool | None = None
) -> Source:
    """The source of chunks for ``data``."""
    size = batch_size or DEFAULT_BATCH_SIZE
    if isinstance(data, pd.DataFrame):
        return FrameSource(data, size, progress)
    if is_path(data):
        from .parquet import ParquetSource

        return ParquetSource(data, size, progress)
    if is_dask(data):
        from .dask import DaskSource

        return DaskSource(data, progress)
    raise DataError(
        "data must be a pandas DataFrame, a Parquet path (file, directory, glob or list of "
        f"files) or a Dask DataFrame, not {type(data).__name__}"
    )
