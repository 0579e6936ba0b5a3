"""A crossed logistic model from Parquet, streamed against in memory: the issue's benchmark
for generalized models beyond memory.

    python benchmarks/glmm_stream.py generate --dir /var/tmp/lmerpy-glmm --rows 1e7
    python benchmarks/glmm_stream.py run --dir /var/tmp/lmerpy-glmm [--nagq 0]

The data: y ~ Bernoulli(logit⁻¹(-0.5 + 0.8 x + a_user + b_item)), users and items uniform,
a ~ N(0, 0.6²), b ~ N(0, 0.4²). Each fit runs in a fresh child process, so its peak memory
(maximum RSS) is its own; a bare interpreter that imports lmerpy is measured the same way.
The in-memory fit reads the files with ``pd.read_parquet`` first. Records are appended to
``--out`` (default ``benchmarks/results-glmm-stream.json``). Nothing here is a test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

FORMULA = "y ~ x + (1 | user) + (1 | item)"


def generate(folder: Path, rows: int, users: int, items: int, seed: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    a, b = 0.6 * rng.standard_normal(users), 0.4 * rng.standard_normal(items)
    per_file = 1_000_000
    for k, start in enumerate(range(0, rows, per_file)):
        n = min(per_file, rows - start)
        user, item = rng.integers(0, users, n), rng.integers(0, items, n)
        x = rng.standard_normal(n)
        eta = -0.5 + 0.8 * x + a[user] + b[item]
        y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(np.float64)
        table = pa.table({"y": y, "x": x, "user": user, "item": item})
        pq.write_table(table, folder / f"part-{k:03d}.parquet", row_group_size=250_000)


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def child(mode: str, folder: Path, nagq: int) -> dict[str, Any]:
    import lmerpy

    warnings.simplefilter("ignore")
    files = str(folder / "*.parquet")
    if mode == "bare":
        return {"peak_rss_gb": _peak_gb()}
    start = time.perf_counter()
    if mode == "streamed":
        fit = lmerpy.glmer(FORMULA, files, family="binomial", nagq=nagq, batch_size=250_000)
        passes = fit.devfun.passes
    else:
        import pandas as pd

        fit = lmerpy.glmer(FORMULA, pd.read_parquet(folder), family="binomial", nagq=nagq)
        passes = None
    return {
        "seconds": time.perf_counter() - start,
        "passes": passes,
        "loglik": fit.loglik,
        "fixef": fit.fixef.tolist(),
        "theta": fit.theta.tolist(),
        "rows": fit.nobs,
        "peak_rss_gb": _peak_gb(),
    }


def _in_child(mode: str, folder: Path, nagq: int) -> dict[str, Any]:
    args = [sys.executable, __file__, "child", "--mode", mode, "--dir", str(folder)]
    done = subprocess.run([*args, "--nagq", str(nagq)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["generate", "run", "child"])
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--rows", type=float, default=1e7)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--items", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--nagq", type=int, default=0)
    parser.add_argument("--mode", choices=["bare", "streamed", "memory"], default="streamed")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).with_name("results-glmm-stream.json")
    )
    a = parser.parse_args()
    if a.action == "generate":
        generate(a.dir, int(a.rows), a.users, a.items, a.seed)
        return
    if a.action == "child":
        print(json.dumps(child(a.mode, a.dir, a.nagq)))
        return
    results = {mode: _in_child(mode, a.dir, a.nagq) for mode in ("bare", "streamed", "memory")}
    bare = results["bare"]["peak_rss_gb"]
    s, m = results["streamed"], results["memory"]
    record = {
        "formula": FORMULA, "nagq": a.nagq, "rows": s["rows"], "results": results,
        "streamed_over_memory_peak": (s["peak_rss_gb"] - bare) / (m["peak_rss_gb"] - bare),
        "loglik_relative_gap": abs(s["loglik"] - m["loglik"]) / abs(m["loglik"]),
        "fixef_max_gap": float(np.max(np.abs(np.subtract(s["fixef"], m["fixef"])))),
        "cpus": os.cpu_count(), "load_average": os.getloadavg(),
    }  # fmt: skip
    print(json.dumps(record, indent=1))
    records = json.loads(a.out.read_text()) if a.out.exists() else []
    a.out.write_text(json.dumps([*records, record], indent=1) + "\n")


if __name__ == "__main__":
    main()
