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
