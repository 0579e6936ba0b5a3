"""One BLAS thread while lmerpy iterates.

A fit calls LAPACK many times on small and medium matrices. With OpenBLAS's default of a
thread per core, each call wakes every thread, and when another process keeps the cores busy
the threads spin and wait for each other: measured here on 2 cores under such a load,
Penicillin's fit went from 20 ms to 382 ms and InstEval's from 2.6 s to 55 s, against 21 ms
and 2.9 s with one thread (which costs 5-15% on InstEval on an idle machine).

Set the environment variable ``LMERPY_BLAS_THREADS`` to another number of threads, or to 0 to
leave the BLAS as it is configured.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache, wraps
from typing import Any, ParamSpec, TypeVar

from threadpoolctl import ThreadpoolController

__all__ = ["blas_thread_limit", "one_blas_thread", "single_blas_thread"]

P = ParamSpec("P")
R = TypeVar("R")
_depth = [0]  # blocks entered and not left: an inner block leaves the limit as it is


@cache
def _controller() -> ThreadpoolController:
    """The loaded BLAS and OpenMP libraries, found once (finding them takes ~3 ms)."""
    return ThreadpoolController()


def blas_thread_limit(threads: int) -> Any:
    """Limit the BLAS and OpenMP pools to ``threads`` until the returned limiter is undone
    (a worker process keeps it for its life)."""
    return _controller().limit(limits=threads)


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Limit BLAS and OpenMP pools to one thread (``LMERPY_BLAS_THREADS``) inside the block."""
    threads = int(os.environ.get("LMERPY_BLAS_THREADS", "1"))
    if threads <= 0 or _depth[0]:
        yield
        return
    _depth[0] += 1
    try:
        with _controller().limit(limits=threads):
            yield
    finally:
        _depth[0] -= 1


def single_blas_thread(function: Callable[P, R]) -> Callable[P, R]:
    """Run ``function`` with one BLAS thread (see the module's docstring for why)."""

    @wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with one_blas_thread():
            return function(*args, **kwargs)

    return wrapper
