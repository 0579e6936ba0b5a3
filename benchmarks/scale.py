"""Fits from data that do not fit in memory: the issue's three measurements.

    # 10⁸ rows x 10⁶ groups, y ~ x + (1 | g), 50 Parquet files (about 2.4 GB)
    python benchmarks/scale.py generate single --dir /var/tmp/lmerpy-scale/single
    python benchmarks/scale.py run single --dir /var/tmp/lmerpy-scale/single

    # the same passes on a Dask LocalCluster of 2 worker processes, against serial
    python benchmarks/scale.py run dask --dir /var/tmp/lmerpy-scale/single

    # MovieLens-shaped: 2.5 x 10⁷ ratings, 1.6 x 10⁵ users x 1.3 x 10⁴ items (seeded)
    python benchmarks/scale.py generate movielens --dir /var/tmp/lmerpy-scale/movielens
    python benchmarks/scale.py run movielens --dir /var/tmp/lmerpy-scale/movielens

Each ``run`` measures in a fresh child process (so the peak memory is that run's alone) and
appends a JSON record to ``--out`` (default ``benchmarks/results-scale.json``). Pass time is
wall time of both passes over the files (schema, then cross-products); fit time is the
optimisation and the final solve from the cross-products; peak is the process's maximum RSS.
Nothing here is a test.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

SINGLE_FORMULA = "y ~ x + (1 | g)"
MOVIELENS_FORMULA = "rating ~ 1 + (1 | user) + (1 | item)"


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


def generate_single(folder: Path, rows: int, groups: int, files: int, seed: int) -> None:
    """y = 1 + 0.5 x + b_g + e, b ~ N(0, 0.5²), e ~ N(0, 1), g uniform over ``groups``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    effects = 0.5 * rng.standard_normal(groups)
    per_file = rows // files
    for k in range(files):
        g = rng.integers(0, groups, per_file)
        x = rng.standard_normal(per_file)
        y = 1.0 + 0.5 * x + effects[g] + rng.standard_normal(per_file)
        table = pa.table({"y": y, "x": x, "g": g})
        pq.write_table(table, folder / f"part-{k:03d}.parquet", row_group_size=1_000_000)
        print(f"file {k + 1}/{files}", flush=True)


def generate_movielens(folder: Path, rows: int, users: int, items: int, seed: int) -> None:
    """Ratings shaped like MovieLens: heavy-tailed ratings per user (at least 20, log-normal),
    Zipf-like item popularity, each (user, item) pair at most once, half-star ratings 0.5-5."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    counts = 20 + rng.lognormal(mean=3.6, sigma=1.2, size=users)
    counts = np.minimum(np.round(counts * (rows / counts.sum())), items // 2).astype(np.int64)
    popularity = 1.0 / np.arange(1, items + 1) ** 0.9
    popularity /= popularity.sum()
    user_effect = 0.45 * rng.standard_normal(users)
    item_effect = 0.5 * rng.standard_normal(items)
    order = rng.permutation(items)  # popularity unrelated to the item's code
    chunk, written, part = 2_000_000, 0, 0
    starts = np.concatenate([[0], np.cumsum(counts)])
    cuts = np.searchsorted(starts, np.arange(0, starts[-1], chunk))
    user_edges = np.unique(np.append(np.minimum(cuts, users), [0, users]))
    for a, b in itertools.pairwise(user_edges):
        user = np.repeat(np.arange(a, b), counts[a:b])
        item = order[rng.choice(items, size=user.size, p=popularity)]
        key = np.unique(user * items + item)  # one rating per pair, as in MovieLens
        user, item = key // items, key % items
        mean = 3.5 + user_effect[user] + item_effect[item]
        rating = np.clip(np.round(2 * (mean + 0.9 * rng.standard_normal(key.size))) / 2, 0.5, 5)
        table = pa.table({"rating": rating, "user": user, "item": item})
        pq.write_table(table, folder / f"part-{part:03d}.parquet", row_group_size=1_000_000)
        written, part = written + key.size, part + 1
        print(f"{written:,} ratings", flush=True)


# ---------------------------------------------------------------------------------------------
# Runs (each in a child process)
# ---------------------------------------------------------------------------------------------


def _peak_bytes() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def child_fit(folder: Path, formula: str, reml: bool, dense_gib: float) -> dict[str, Any]:
    """Both passes over the Parquet files, then the fit: the optimisation (lme4's steps, so
    that it is timed apart and written to ``partial.json`` beside the data before the final
    solve, which also computes every conditional variance), then the fitted model."""
    import lmerpy
    import lmerpy.solver.structure
    from lmerpy.data.streamed import streamed_design

    lmerpy.solver.structure.MAX_DENSE_BYTES = int(dense_gib * 2**30)
    files = str(folder / "*.parquet")
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    schema = lmerpy.scan(formula, files)
    t1 = time.perf_counter()
    cp = lmerpy.cross_products(schema, files)
    t2 = time.perf_counter()
    design, blocks = streamed_design(cp)
    devfun = lmerpy.DevianceFunction(design, reml=reml, cross_products=blocks)
    record = lmerpy.optimize_deviance(
        devfun, lower=devfun.lower, upper=devfun.upper, start=devfun.start
    )
    t3 = time.perf_counter()
    out = {
        "rows": cp.n,
        "levels": {t.group: t.factor.n_levels for t in design.terms},
        "scan_s": t1 - t0,
        "blocks_s": t2 - t1,
        "pass_s": t2 - t0,
        "optimize_s": t3 - t2,
        "evaluations": record.evaluations,
        "per_evaluation_s": (t3 - t2) / max(record.evaluations, 1),
        "objective": record.f_final,
        "theta": record.final.tolist(),
        "cross_products_mb": cp.nbytes / 1e6,
        "peak_rss_gb_optimize": _peak_bytes() / 1e9,
    }
    (folder / "partial.json").write_text(json.dumps(out, indent=1))
    fit = lmerpy.make_result(devfun, record)
    t4 = time.perf_counter()
    return {
        **out,
        "final_solve_s": t4 - t3,
        "fit_s": t4 - t2,
        "fixef": fit.fixef.tolist(),
        "sigma": fit.sigma,
        "peak_rss_gb": _peak_bytes() / 1e9,
    }


def child_dask(folder: Path, formula: str, workers: int) -> dict[str, Any]:
    """Both passes serially, then on a LocalCluster of ``workers`` processes."""
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    import lmerpy

    files = str(folder / "*.parquet")
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    serial = lmerpy.cross_products(formula, files)
    t1 = time.perf_counter()
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None, memory_limit=0,
        ) as cluster,
        Client(cluster),
    ):  # fmt: skip
        t2 = time.perf_counter()
        frame = dd.read_parquet(files, split_row_groups=False)
        distributed = lmerpy.cross_products(formula, frame)
        t3 = time.perf_counter()
    gap = float(np.max(np.abs(distributed.xy - serial.xy) / np.abs(serial.xy)))
    return {
        "rows": serial.n,
        "serial_pass_s": t1 - t0,
        "cluster_start_s": t2 - t1,
        "dask_pass_s": t3 - t2,
        "ratio": (t3 - t2) / (t1 - t0),
        "partitions": int(frame.npartitions),
        "workers": workers,
        "max_relative_difference_xy": gap,
        "client_peak_rss_gb": _peak_bytes() / 1e9,
    }


def _in_child(args: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "child", *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _machine() -> dict[str, Any]:
    from importlib import metadata

    versions = {}
    for name in ["lmerpy", "numpy", "scipy", "pandas", "pyarrow", "dask", "distributed"]:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        total = int(meminfo.readline().split()[1]) * 1024
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "commit": commit or None,
        "python": platform.python_version(),
        "cpus": __import__("os").cpu_count(),
        "memory_gb": round(total / 1e9, 1),
        "load_average": __import__("os").getloadavg(),
        "versions": versions,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["generate", "run", "child"])
    parser.add_argument("what", choices=["single", "movielens", "dask", "fit"])
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--rows", type=float, default=None)
    parser.add_argument("--groups", type=float, default=1e6)
    parser.add_argument("--users", type=int, default=160_000)
    parser.add_argument("--items", type=int, default=13_000)
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--seed", type=int, default=20260)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--formula", default=SINGLE_FORMULA)
    parser.add_argument("--ml", action="store_true")
    parser.add_argument("--dense-gib", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results-scale.json"))
    a = parser.parse_args()
    if a.action == "generate" and a.what == "single":
        generate_single(a.dir, int(a.rows or 1e8), int(a.groups), a.files, a.seed)
    elif a.action == "generate":
        generate_movielens(a.dir, int(a.rows or 2.5e7), a.users, a.items, a.seed)
    elif a.action == "child" and a.what == "fit":
        print(json.dumps(child_fit(a.dir, a.formula, not a.ml, a.dense_gib)))
    elif a.action == "child":
        print(json.dumps(child_dask(a.dir, a.formula, a.workers)))
    else:
        args = ["fit", "--dir", str(a.dir)]
        if a.what == "dask":
            args = ["dask", "--dir", str(a.dir), "--workers", str(a.workers)]
        elif a.what == "movielens":
            args += ["--formula", MOVIELENS_FORMULA, "--ml", "--dense-gib", "4"]
        else:
            args += ["--formula", a.formula]
        record = {"measurement": a.what, "machine": _machine(), **_in_child(args)}
        print(json.dumps(record, indent=1))
        records = json.loads(a.out.read_text()) if a.out.exists() else []
        a.out.write_text(json.dumps([*records, record], indent=1) + "\n")


if __name__ == "__main__":
    main()
