"""Comparing a fit from data read in chunks with the fit of the same rows in memory."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmerpy

CRITERION_RTOL = 1e-9
"""The issue's bar: the criterion of a chunked fit equals the in-memory one to 1e-9."""


def assert_same_fit(chunked: lmerpy.LmerResult, memory: lmerpy.LmerResult) -> None:
    assert chunked.objective == pytest.approx(memory.objective, rel=CRITERION_RTOL)
    assert chunked.nobs == memory.nobs
    assert chunked.dropped_rows == memory.dropped_rows
    assert chunked.design.x_columns == memory.design.x_columns
    assert chunked.design.dropped_columns == memory.design.dropped_columns
    assert chunked.ngroups == memory.ngroups
    np.testing.assert_allclose(chunked.fixef, memory.fixef, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(chunked.theta, memory.theta, rtol=1e-4, atol=1e-6)
    assert chunked.sigma == pytest.approx(memory.sigma, rel=1e-6)
    for group, modes in memory.ranef.items():
        pd.testing.assert_index_equal(chunked.ranef[group].index, modes.index)
        np.testing.assert_allclose(chunked.ranef[group], modes, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(chunked.vcov, memory.vcov, rtol=1e-4, atol=1e-10)  # as theta


_PROBE = """
import json, resource, sys, warnings
import lmerpy
mode, path = sys.argv[1], sys.argv[2]
warnings.simplefilter("ignore")
{fit}
try:  # this process's own peak: Linux's ru_maxrss also counts the parent's at the fork
    with open("/proc/self/status") as status:
        line = next(x for x in status if x.startswith("VmHWM:"))
    peak = int(line.split()[1]) * 1024
except OSError:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({{"peak": peak, **out}}))
"""


def memory_probe(fit: str, mode: str, path: Path) -> dict[str, float]:
    """Run ``fit`` (code that reads ``mode`` and ``path`` and sets the dict ``out``) in a
    fresh interpreter; ``out`` with ``"peak"``, that process's peak resident memory."""
    script = _PROBE.format(fit=textwrap.dedent(fit).strip())
    done = subprocess.run(
        [sys.executable, "-c", script, mode, str(path)],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
