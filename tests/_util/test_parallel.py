"""Replicates in processes: results in order, the same in one process or two, and n_jobs
checked."""

from __future__ import annotations

import os

import numpy as np
import pytest

from lmerpy._util.parallel import parallel_map, replicate_seeds, resolve_jobs
from lmerpy.errors import ArgumentError


def test_results_in_order_in_worker_processes() -> None:
    parent = os.getpid()
    out = parallel_map(lambda i: (i * i, os.getpid()), 20, n_jobs=2)
    assert [v for v, _ in out] == [i * i for i in range(20)]
    assert any(pid != parent for _, pid in out)


def test_seeded_replicates_do_not_depend_on_the_processes() -> None:
    seeds = replicate_seeds(5, 10)

    def draw(i: int) -> float:
        return float(np.random.default_rng(seeds[i]).normal())

    assert parallel_map(draw, 10, n_jobs=1) == parallel_map(draw, 10, n_jobs=2)
    assert len(set(parallel_map(draw, 10))) == 10


@pytest.mark.parametrize("bad", [0, -2, 1.5, "2"])
def test_bad_n_jobs(bad: object) -> None:
    with pytest.raises(ArgumentError, match="n_jobs"):
        resolve_jobs(bad)  # type: ignore[arg-type]


def test_all_cores() -> None:
    assert resolve_jobs(-1) == (os.cpu_count() or 1)
    assert resolve_jobs(None) == 1
