"""The parametric bootstrap of sleepstudy (``Reaction ~ Days + (Days | Subject)``): lmerpy in one
process and in two, beside lme4's ``bootMer`` (serial and ``parallel = "multicore"``, through
``Rscript bootstrap.R``) and mixedlm's bootstrap where installed, in one run.

    python benchmarks/bootstrap.py [--nsim 400] [--out benchmarks/results-bootstrap.json]

Reports each tool's seconds, its cost per refit and the speed-up of two processes over one.
Nothing here is a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FORMULA = "Reaction ~ Days + (Days | Subject)"


def lmerpy_times(nsim: int) -> dict[str, float]:
    import lmerpy

    fit = lmerpy.lmer(FORMULA, lmerpy.datasets.load("sleepstudy"))
    fit.bootstrap(5, seed=0)  # warm-up
    out = {}
    for jobs in (1, 2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            fit.bootstrap(nsim, seed=1, n_jobs=jobs, statistic=lambda f: f.fixef)
            out["serial" if jobs == 1 else "two"] = time.perf_counter() - start
    return out


def lme4_times(nsim: int) -> dict[str, float] | None:
    try:
        run = subprocess.run(["Rscript", str(HERE / "bootstrap.R"), str(nsim)], capture_output=True,
                             text=True, check=True, timeout=3600)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return dict(json.loads(run.stdout.strip().splitlines()[-1]))


def mixedlm_times(nsim: int) -> dict[str, float] | None:
    try:
        import mixedlm
    except ImportError:
        return None
    import lmerpy

    model = mixedlm.lmer(FORMULA, lmerpy.datasets.load("sleepstudy").astype({"Subject": str}))
    mixedlm.bootMer(model, nsim=5, seed=0)
    out = {}
    for jobs in (1, 2):
        start = time.perf_counter()
        mixedlm.bootMer(model, nsim=nsim, seed=1, n_jobs=jobs)
        out["serial" if jobs == 1 else "two"] = time.perf_counter() - start
    return out


def report(results: dict[str, Any], nsim: int) -> str:
    header = "| tool | 1 process (s) | 2 processes (s) | ms per refit | speed-up | vs lmerpy |"
    lines = [header, "|---|---|---|---|---|---|"]
    base = results["lmerpy"]["serial"]
    for tool, t in results.items():
        if t is None:
            lines.append(f"| {tool} | not run | | | | |")
            continue
        lines.append(
            f"| {tool} | {t['serial']:.2f} | {t['two']:.2f} | {1000 * t['serial'] / nsim:.2f} | "
            f"{t['serial'] / t['two']:.2f}× | {t['serial'] / base:.1f}× |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nsim", type=int, default=400)
    parser.add_argument("--out", type=Path, default=HERE / "results-bootstrap.json")
    args = parser.parse_args()
    results = {"lmerpy": lmerpy_times(args.nsim), "lme4": lme4_times(args.nsim),
               "mixedlm": mixedlm_times(args.nsim)}  # fmt: skip
    table = report(results, args.nsim)
    print(table)
    machine = {"cpus": os.cpu_count(), "python": platform.python_version()}
    args.out.write_text(
        json.dumps({"nsim": args.nsim, "machine": machine, "results": results}, indent=2)
    )


if __name__ == "__main__":
    main()
