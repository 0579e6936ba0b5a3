"""BLAS threads inside lmerpy's loops (lmerpy._util.threads)."""

from __future__ import annotations

import pytest
from threadpoolctl import threadpool_info

from lmerpy._util.threads import one_blas_thread


def blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_one_thread_inside_and_restored_after(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LMERPY_BLAS_THREADS", raising=False)  # the default behaviour
    before = blas_threads()
    with one_blas_thread():
        assert all(n == 1 for n in blas_threads())
    assert blas_threads() == before


def test_the_environment_variable_can_leave_blas_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    before = blas_threads()
    monkeypatch.setenv("LMERPY_BLAS_THREADS", "0")
    with one_blas_thread():
        assert blas_threads() == before


def test_a_large_dense_operation_takes_every_core_when_the_machine_is_idle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """wide_blas widens lmerpy's one-thread limit for one large operation, only inside that
    limit, on an idle machine with several cores, and restores it after."""
    from lmerpy._util import threads

    monkeypatch.delenv("LMERPY_BLAS_THREADS", raising=False)
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (0.9, 0.9, 0.9))
    with one_blas_thread():
        with threads.wide_blas(threads.WIDE_BLAS_ORDER):
            assert all(n == 2 for n in blas_threads())
        assert all(n == 1 for n in blas_threads())
        with threads.wide_blas(threads.WIDE_BLAS_ORDER - 1):  # too small to pay
            assert all(n == 1 for n in blas_threads())


@pytest.mark.parametrize("why", ["busy", "setting", "pinned", "outside"])
def test_a_large_dense_operation_stays_on_one_thread_otherwise(
    monkeypatch: pytest.MonkeyPatch, why: str
) -> None:
    from lmerpy._util import threads

    monkeypatch.delenv("LMERPY_BLAS_THREADS", raising=False)
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (0.9, 0.9, 0.9))
    if why == "busy":  # another process keeps a core busy
        monkeypatch.setattr(threads.os, "getloadavg", lambda: (1.8, 1.8, 1.8))
    if why == "setting":
        monkeypatch.setenv("LMERPY_BLAS_THREADS", "1")
    if why == "pinned":  # a worker process
        monkeypatch.setattr(threads, "_pinned", [object()])
    if why == "outside":
        before = blas_threads()
        with threads.wide_blas(threads.WIDE_BLAS_ORDER):
            assert blas_threads() == before
        return
    with one_blas_thread(), threads.wide_blas(threads.WIDE_BLAS_ORDER):
        assert all(n == 1 for n in blas_threads())
