"""Data as users load it: ``y ~ x + (x | g)`` on 10⁶ rows and 10⁴ groups with the group labels
as ``pd.read_csv`` gives them (text), as pyarrow-backed strings, as a Categorical and as
integers, in lmerpy; beside mixedlm (text labels) and lme4 (``read.csv``'s character column,
through ``Rscript dtypes.R``), in one run.

    python benchmarks/dtypes.py [--rows 1000000] [--repeats 3] [--out FILE.json]

Reports the median wall time of the whole call (formula and data frame to result) and the ratios.
Nothing here is a test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
FORMULA = "y ~ x + (x | g)"


def simulated(rows: int, groups: int = 10_000, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, rows)
    x = rng.normal(size=rows)
    y = 1 + 0.5 * x + rng.normal(size=groups)[g] + 0.3 * rng.normal(size=groups)[g] * x
    y += rng.normal(size=rows)
    return pd.DataFrame({"y": y, "x": x, "g": np.char.add("g", g.astype(str))})


def median_time(fit: Callable[[], Any], repeats: int) -> float:
    fit()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fit()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results-dtypes.json")
    args = parser.parse_args()
    import lmerpy

    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "data.csv"
        simulated(args.rows).to_csv(csv, index=False)
        loaded = pd.read_csv(csv)  # the labels as pandas reads text
        variants = {
            f"lmerpy, read_csv text ({loaded['g'].dtype})": loaded,
            "lmerpy, object": loaded.assign(g=loaded["g"].astype(object)),
            "lmerpy, Categorical": loaded.assign(g=loaded["g"].astype("category")),
            "lmerpy, integers": loaded.assign(g=loaded["g"].str[1:].astype(int)),
        }
        results: dict[str, float | None] = {}
        for name, data in variants.items():
            results[name] = median_time(lambda d=data: lmerpy.lmer(FORMULA, d), args.repeats)
        try:
            import mixedlm

            results["mixedlm, read_csv text"] = median_time(
                lambda: mixedlm.lmer(FORMULA, loaded), args.repeats
            )
        except ImportError:
            results["mixedlm, read_csv text"] = None
        try:
            run = subprocess.run(["Rscript", str(HERE / "dtypes.R"), str(csv)], capture_output=True,
                                 text=True, check=True, timeout=3600)  # fmt: skip
            results["lme4, read.csv text"] = json.loads(run.stdout.strip().splitlines()[-1])[
                "seconds"
            ]
        except (OSError, subprocess.SubprocessError):
            results["lme4, read.csv text"] = None
    base = next(iter(results.values()))
    print("| fit | seconds | vs lmerpy on read_csv text |\n|---|---|---|")
    for name, seconds in results.items():
        cell = "not run" if seconds is None else f"{seconds:.2f} | {seconds / base:.1f}×"
        print(f"| {name} | {cell} |")
    args.out.write_text(json.dumps({"rows": args.rows, "results": results}, indent=2))


if __name__ == "__main__":
    main()
