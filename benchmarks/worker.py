"""One tool's fits of one model, in its own process (so its peak memory is its own).

``run.py`` starts it; it prints one ``BENCH {json}`` line per step (data loaded, each fit,
each deviance evaluation series), which ``run.py`` reads to time out a fit past the cap.

    python benchmarks/worker.py fit --tool lmerpy --model sleepstudy --csv D.csv --meta D.json
    python benchmarks/worker.py eval --csv D.csv --meta D.json --formula "y ~ x + (x | g)"
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import suite
import tools


def emit(event: str, **fields: object) -> None:
    """One progress line for run.py."""
    print("BENCH " + json.dumps({"event": event, **fields}), flush=True)


def load(csv: str, meta: str) -> pd.DataFrame:
    start = time.perf_counter()
    frame = suite.load_frame(Path(csv), Path(meta))
    emit("loaded", rows=len(frame), seconds=time.perf_counter() - start)
    return frame


def run_fits(args: argparse.Namespace) -> None:
    """The warm-up fits, then ``repeats`` timed fits, and more (up to ``MAX_FITS``) while
    the timed fits add up to less than ``min_seconds``, so that fast fits get a stable median."""
    model = suite.model(args.model)
    frame = load(args.csv, args.meta)
    for _ in range(args.warmup):
        fit_once(args.tool, model, frame, warmup=True)
    count, total = 0, 0.0
    while count < args.repeats or (total < args.min_seconds and count < suite.MAX_FITS):
        total += fit_once(args.tool, model, frame, warmup=False)
        count += 1


def fit_once(tool: str, model: suite.Model, frame: pd.DataFrame, *, warmup: bool) -> float:
    start, cpu = time.perf_counter(), time.process_time()
    outcome = tools.fit(tool, model, frame)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    emit("fit", warmup=warmup, seconds=seconds, cpu_seconds=cpu, **vars(outcome))
    return seconds


def run_evaluations(args: argparse.Namespace) -> None:
    """lmerpy's deviance function: setup once (design + make_deviance), then timed calls."""
    import lmerpy

    frame = load(args.csv, args.meta)
    start = time.perf_counter()
    devfun = lmerpy.make_deviance(lmerpy.lformula(args.formula, frame))
    setup = time.perf_counter() - start
    theta = np.array([float(v) for v in args.theta.split(",")])
    value = devfun(theta)  # warm-up
    times = []
    for _ in range(args.calls):
        start = time.perf_counter()
        devfun(theta)
        times.append(time.perf_counter() - start)
    emit("eval", setup_seconds=setup, median_seconds=statistics.median(times), objective=value)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="mode", required=True)
    fit = sub.add_parser("fit")
    fit.add_argument("--tool", choices=tools.PYTHON_TOOLS, required=True)
    fit.add_argument("--model", required=True)
    fit.add_argument("--repeats", type=int, default=5)
    fit.add_argument("--warmup", type=int, default=1)
    fit.add_argument("--min-seconds", type=float, default=0.0)
    ev = sub.add_parser("eval")
    ev.add_argument("--formula", required=True)
    ev.add_argument("--theta", required=True)
    ev.add_argument("--calls", type=int, default=20)
    for p in (fit, ev):
        p.add_argument("--csv", required=True)
        p.add_argument("--meta", required=True)
    args = parser.parse_args(argv)
    try:
        (run_fits if args.mode == "fit" else run_evaluations)(args)
    except Exception as exc:  # reported as a skip by run.py
        emit("error", message=f"{type(exc).__name__}: {exc}")
        sys.exit(1)


if __name__ == "__main__":
    main()
