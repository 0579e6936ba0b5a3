"""Replicates in parallel: ``task(i)`` for i < n in worker processes with one BLAS thread
each, results in order, the same for any number of processes (each replicate draws from its
own seed, ``replicate_seeds``).

Workers are forked, so the task (a fit and what it needs) is inherited rather than pickled;
only the replicate numbers and their results cross between processes. Where processes cannot
be forked (Windows), replicates run in this process.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from ..errors import ArgumentError
from .progress import progress_bar
from .threads import one_blas_thread, pin_blas_threads

__all__ = ["parallel_map", "replicate_seeds", "resolve_jobs"]

T = TypeVar("T")
_TASK: list[Callable[[int], Any]] = []  # the task of the running map, inherited by forked workers


def resolve_jobs(n_jobs: int | None) -> int:
    """Processes for ``n_jobs`` (None or 1: this process; -1: one per core)."""
    if n_jobs is None:
        return 1
    if not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1:
        raise ArgumentError(f"n_jobs must be a positive number of processes or -1; got {n_jobs!r}")
    return os.cpu_count() or 1 if n_jobs == -1 else n_jobs


def replicate_seeds(
    seed: int | np.random.SeedSequence | None, n: int
) -> list[np.random.SeedSequence]:
    """One independent seed per replicate (NumPy's ``SeedSequence.spawn``)."""
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return list(root.spawn(n))


def parallel_map(
    task: Callable[[int], T],
    n: int,
    *,
    n_jobs: int | None = 1,
    progress: bool | None = False,
    desc: str = "replicates",
) -> list[T]:
    """``[task(i) for i in range(n)]``, in ``n_jobs`` forked processes with a progress bar."""
    jobs = min(resolve_jobs(n_jobs), max(n, 1))
    with progress_bar(progress, desc=desc, total=n) as bar:
        if jobs == 1 or "fork" not in multiprocessing.get_all_start_methods():
            out = []
            with one_blas_thread():
                for i in range(n):
                    out.append(task(i))
                    bar.update()
            return out
        _TASK[:] = [task]
        try:
            context = multiprocessing.get_context("fork")
            with context.Pool(jobs, initializer=_one_thread) as pool:
                results: list[T] = []
                chunk = max(1, n // (jobs * 8))
                for value in pool.imap(_run, range(n), chunksize=chunk):
                    results.append(value)
                    bar.update()
            return results
        finally:
            _TASK.clear()


def _one_thread() -> None:
    pin_blas_threads(1)


def _run(i: int) -> Any:
    return _TASK[0](i)
