"""Property-based tests draw the same examples on every run and machine: a test asserts what
holds everywhere, so the fuzzing that finds new cases is run by hand
(``HYPOTHESIS_PROFILE=explore``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import settings

settings.register_profile("deterministic", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """A Dask client on a LocalCluster of 2 worker processes on 127.0.0.1, one per module
    that asks for it (distributed is imported only then)."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as c,
    ):  # fmt: skip
        yield c
