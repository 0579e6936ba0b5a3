"""One BLAS thread while lmerpy iterates.

A fit calls LAPACK many times on small and medium matrices. With OpenBLAS's default of a
thread per core, each call wakes every thread, and when another process keeps the cores busy
the threads spin and wait for each other: measured here on 2 cores under such a load,
Penicillin's fit went from 20 ms to 382 ms and InstEval's from 2.6 s to 55 s, against 21 ms
and 2.9 s with one thread (which costs 5-15% on InstEval on an idle machine).

Set the environment variable ``LMERPY_BLAS_THREADS`` to another number of threads, or to 0 to
leave the BLAS as it is configured.

One exception (`wide_blas`): a dense factorisation or inverse of order WIDE_BLAS_ORDER or more
(InstEval's 1,142 × 1,142 block), or a dense product of as much work (the fill-in gram of a
crossed model), takes every core's thread when the machine is otherwise idle, outside worker
processes, and with ``LMERPY_BLAS_THREADS`` unset. Measured here on 2 cores: the inverse
(``dpotri``) of that block 31 -> 20 ms, its Cholesky factor 18 -> 15 ms.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache, wraps
from typing import Any, ParamSpec, TypeVar

from threadpoolctl import ThreadpoolController

__all__ = ["blas_thread_limit", "one_blas_thread", "pin_blas_threads", "single_blas_thread",
           "wide_blas"]  # fmt: skip

WIDE_BLAS_ORDER = 600
"""Dense operations on matrices of at least this order may take every core (`wide_blas`)."""

P = ParamSpec("P")
R = TypeVar("R")
_depth = [0]  # blocks entered and not left: an inner block leaves the limit as it is
_pinned: list[Any] = []  # a worker process's limit, kept for its life


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


def pin_blas_threads(threads: int) -> None:
    """Limit the BLAS and OpenMP pools for the rest of this process (a worker's), and never
    widen them (`wide_blas`)."""
    _pinned[:] = [blas_thread_limit(threads)]


@contextmanager
def wide_blas(order: int) -> Iterator[None]:
    """Every core's BLAS thread for one dense operation of the given order (for a product,
    the cube root of its work), inside lmerpy's one-thread block, when it pays and is safe:
    the order at least WIDE_BLAS_ORDER, more than one core, no ``LMERPY_BLAS_THREADS``
    setting, not in a worker process, and the machine otherwise idle (1-minute load average
    below cores - 0.5; threads that wait for busy cores cost far more than they gain, see
    above). Elsewhere it does nothing."""
    if order < WIDE_BLAS_ORDER:  # the common case, decided before asking the system
        yield
        return
    cores = os.cpu_count() or 1
    if (
        cores < 2
        or _depth[0] == 0
        or _pinned
        or "LMERPY_BLAS_THREADS" in os.environ
        or not _idle(cores)
    ):
        yield
        return
    with _controller().limit(limits=cores, user_api="blas"):
        yield


def _idle(cores: int) -> bool:
    """No other process keeps a core busy: the 1-minute load average (this process's share
    included) below cores - 0.5; False where the system does not say."""
    loadavg = getattr(os, "getloadavg", None)
    return loadavg is not None and float(loadavg()[0]) < cores - 0.5


def single_blas_thread(function: Callable[P, R]) -> Callable[P, R]:
    """Run ``function`` with one BLAS thread (see the module's docstring for why)."""

    @wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with one_blas_thread():
            return function(*args, **kwargs)

    return wrapper
