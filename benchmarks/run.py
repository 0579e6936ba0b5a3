"""Fit the benchmark suite in lmerpy, lme4, mixedlm and statsmodels in one run.

    .venv/bin/python benchmarks/run.py --suite small --repeats 5 --out benchmarks/results.json

Each (tool, model) runs in its own process: the Python tools through ``worker.py``, lme4
through ``Rscript lme4_bench.R``. Each process reads the same CSV, fits once to warm up, then
``--repeats`` timed fits; its peak RSS is read with ``os.wait4``. A fit running past ``--cap``
seconds is killed and recorded as a skip, as is a tool that cannot express a model or fails
on it. ``--scaling`` adds the time per deviance evaluation at 10⁴ ... 10⁷ rows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import report
import suite
import tools

HERE = Path(__file__).resolve().parent
TOOLS = ("lmerpy", "lme4", "glmmTMB", "mixedlm", "statsmodels")
R_TOOLS = ("lme4", "glmmTMB")
LOAD_CAP_SECONDS = 600.0  # reading the data, before the first fit
Event = dict[str, Any]


@dataclass(frozen=True)
class ProcessRun:
    """A finished worker process: its progress events, peak RSS, and how it ended."""

    events: list[Event]
    peak_rss_mb: float
    timed_out: bool
    returncode: int
    stderr_tail: str


def run_process(cmd: list[str], cap: float) -> ProcessRun:
    """Run ``cmd``, killing it when a step (data load, then each fit) overruns ``cap``."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, start_new_session=True)
        assert proc.stdout is not None
        events, timed_out = _read_events(proc.stdout.fileno(), cap)
        if timed_out:
            os.killpg(proc.pid, signal.SIGKILL)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        proc.stdout.close()
        err.seek(0)
        tail = err.read().decode(errors="replace")[-1500:]
    return ProcessRun(events, usage.ru_maxrss / 1024, timed_out, proc.returncode, tail)


def _read_events(fd: int, cap: float) -> tuple[list[Event], bool]:
    events: list[Event] = []
    buffer = b""
    deadline = time.monotonic() + LOAD_CAP_SECONDS
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return events, True
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return events, False
        *lines, buffer = (buffer + chunk).split(b"\n")
        for line in lines:
            if line.startswith(b"BENCH "):
                events.append(json.loads(line[6:]))
                deadline = time.monotonic() + cap


def fit_command(tool: str, model: suite.Model, files: tuple[Path, Path], repeats: int) -> list[str]:
    """The worker command of one tool on one model."""
    once = tool in model.once
    warmup, repeats, least = (0, 1, 0.0) if once else (1, repeats, suite.MIN_SECONDS)
    csv, meta = (str(p) for p in files)
    if tool in R_TOOLS:
        return [
            "Rscript",
            str(HERE / "lme4_bench.R"),
            "--mode=fit",
            f"--tool={tool}",
            f"--family={model.family or 'gaussian'}",
            f"--nagq={model.nagq}",
            f"--csv={csv}",
            f"--meta={meta}",
            f"--formula={model.formula}",
            f"--warmup={warmup}",
            f"--repeats={repeats}",
            f"--min-seconds={least}",
            f"--max-fits={suite.MAX_FITS}",
        ]
    return [
        sys.executable,
        str(HERE / "worker.py"),
        "fit",
        f"--tool={tool}",
        f"--model={model.key}",
        f"--csv={csv}",
        f"--meta={meta}",
        f"--warmup={warmup}",
        f"--repeats={repeats}",
        f"--min-seconds={least}",
    ]


def summarize_fits(run: ProcessRun, cap: float) -> dict[str, Any]:
    """The result record of one tool on one model, from its worker's events."""
    fits = [e for e in run.events if e["event"] == "fit"]
    timed = [e for e in fits if not e["warmup"]]
    if not timed:
        return {"status": "skip", "reason": failure_reason(run, cap, len(fits)), **_rss(run)}
    seconds = [float(e["seconds"]) for e in timed]
    cpu = [float(e["cpu_seconds"]) for e in timed if e.get("cpu_seconds") is not None]
    last = timed[-1]
    notes = sorted({n for e in fits for n in e.get("notes", [])})
    if run.timed_out:
        notes.append(f"stopped after {len(timed)} timed fit(s): a later fit exceeded the cap")
    return {
        "status": "ok",
        "seconds": seconds,
        "median_seconds": report.median(seconds),
        "cpu_seconds": cpu,
        "evaluations": last.get("evaluations"),
        "objective": last.get("objective"),
        "converged": last.get("converged"),
        "groups": last.get("groups"),
        "notes": notes,
        **_rss(run),
    }


def _rss(run: ProcessRun) -> dict[str, float]:
    return {"peak_rss_mb": round(run.peak_rss_mb, 1)}


def failure_reason(run: ProcessRun, cap: float, fits_done: int) -> str:
    """Why a worker produced no timed fit."""
    errors = [e["message"] for e in run.events if e["event"] == "error"]
    if errors:
        return f"failed: {errors[0]}"
    if run.timed_out:
        stage = "reading the data" if not run.events else f"fit {fits_done + 1}"
        return f"exceeded the {cap / 60:g}-minute cap ({stage})"
    lines = [line for line in run.stderr_tail.strip().splitlines() if line.strip()]
    return f"failed (exit {run.returncode}): {lines[-1] if lines else 'no message'}"


def fit_all(args: argparse.Namespace, data_dir: Path) -> list[dict[str, Any]]:
    """Every (model, tool) of the suite, in order."""
    results = []
    for model in selected_models(args):
        files = suite.write_dataset(model.data, data_dir)
        sidecar = json.loads(files[1].read_text())
        for tool in args.tools:
            record = {"model": model.key, "tool": tool, "rows": sidecar["rows"]}
            reason = tools.skip_reason(tool, model, sidecar["rows"], sidecar["levels"])
            if reason is None:
                run = run_process(fit_command(tool, model, files, args.repeats), args.cap)
                record |= summarize_fits(run, args.cap)
            else:
                record |= {"status": "skip", "reason": reason}
            log(record)
            results.append(record)
    return results


def selected_models(args: argparse.Namespace) -> list[suite.Model]:
    """The suite's models, or those named by ``--models``."""
    chosen = suite.models_in(args.suite)
    return [m for m in chosen if m.key in args.models] if args.models else chosen


def eval_command(tool: str, files: tuple[Path, Path], calls: int) -> list[str]:
    """The deviance-evaluation command of lmerpy or lme4 on one scaling data set."""
    csv, meta = (str(p) for p in files)
    theta = ",".join(str(v) for v in suite.SCALING_THETA)
    options = [
        f"--csv={csv}",
        f"--meta={meta}",
        f"--formula={suite.SCALING_FORMULA}",
        f"--theta={theta}",
        f"--calls={calls}",
    ]
    if tool == "lme4":
        return ["Rscript", str(HERE / "lme4_bench.R"), "--mode=eval", *options]
    return [sys.executable, str(HERE / "worker.py"), "eval", *options]


def scaling(args: argparse.Namespace, data_dir: Path) -> list[dict[str, Any]]:
    """Time per deviance evaluation of the same model at growing n (fixed groups)."""
    results = []
    for rows in args.scaling_rows:
        files = suite.write_dataset(suite.scaling_name(rows), data_dir)
        for tool in [t for t in ("lmerpy", "lme4") if t in args.tools]:
            run = run_process(eval_command(tool, files, args.calls), args.cap)
            found = [e for e in run.events if e["event"] == "eval"]
            record = {"rows": rows, "groups": suite.SCALING_GROUPS, "tool": tool, **_rss(run)}
            if found:
                record |= {"status": "ok", **{k: v for k, v in found[0].items() if k != "event"}}
            else:
                record |= {"status": "skip", "reason": failure_reason(run, args.cap, 0)}
            log(record)
            results.append(record)
    return results


def log(record: dict[str, Any]) -> None:
    shown = {k: v for k, v in record.items() if k not in ("seconds", "notes")}
    print(json.dumps(shown), file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    """nproc, CPU model, memory, kernel, and the load average (the machine may be shared)."""
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")), "")
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    mem_kb = int(next(ln.split()[1] for ln in meminfo if ln.startswith("MemTotal")))
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "memory_gib": round(mem_kb / 2**20, 1),
        "platform": platform.platform(),
        "load_average_start": [round(v, 2) for v in os.getloadavg()],
    }


def versions() -> dict[str, str]:
    """Versions of Python, the Python packages, lmerpy's commit, R and lme4."""
    found = {"python": platform.python_version()}
    for name in ("lmerpy", "numpy", "scipy", "pandas", "formulaic", "nlopt", *tools.PYTHON_TOOLS):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    found["lmerpy commit"] = _git_commit()
    found["numpy BLAS"] = _numpy_blas()
    if shutil.which("Rscript"):
        run = run_process(["Rscript", str(HERE / "lme4_bench.R"), "--mode=versions"], 120.0)
        found |= {k: v for e in run.events if e["event"] == "versions" for k, v in e.items()}
        found.pop("event", None)
    return found


def _git_commit() -> str:
    def git(*cmd: str) -> str:
        return subprocess.run(
            ["git", "-C", str(HERE), *cmd], capture_output=True, text=True, check=False
        ).stdout.strip()

    dirty = " (work tree has uncommitted changes)" if git("status", "--porcelain") else ""
    return git("rev-parse", "--short", "HEAD") + dirty


def _numpy_blas() -> str:
    import numpy as np

    config: Any = np.show_config(mode="dicts")
    blas = config.get("Build Dependencies", {}).get("blas", {})
    return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", choices=("small", "large", "glmm", "all"), default="small")
    parser.add_argument("--repeats", type=int, default=5, help="timed fits after the warm-up")
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    parser.add_argument("--models", nargs="+", metavar="KEY", help="only these models")
    parser.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS))
    parser.add_argument("--cap", type=float, default=suite.CAP_SECONDS, help="seconds per fit")
    parser.add_argument("--scaling", action="store_true", help="time per deviance evaluation")
    parser.add_argument(
        "--scaling-rows", type=int, nargs="+", default=list(suite.SCALING_ROWS), metavar="N"
    )
    parser.add_argument("--calls", type=int, default=20, help="timed deviance calls per n")
    parser.add_argument("--no-fits", action="store_true", help="only the scaling measurement")
    parser.add_argument("--data-dir", type=Path, help="keep (and reuse) the data files here")
    parser.add_argument("--note", default="", help="a remark on the run, shown in the report")
    parser.add_argument("--readme", type=Path, help="write the result tables into this README")
    parser.add_argument("--section", default="results", help="the README section to replace")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = dt.datetime.now(dt.UTC)
    results: dict[str, Any] = {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "command": shlex.join(["python", "benchmarks/run.py", *sys.argv[1:]]),
        "settings": {
            "suite": args.suite,
            "repeats": args.repeats,
            "min_seconds": suite.MIN_SECONDS,
            "max_fits": suite.MAX_FITS,
            "cap_seconds": args.cap,
        },
        "note": args.note,
        "machine": machine(),
        "versions": versions(),
        "models": [vars(m) | {"once": sorted(m.once)} for m in selected_models(args)],
    }
    with tempfile.TemporaryDirectory(prefix="lmerpy-bench-") as tmp:
        data_dir = args.data_dir or Path(tmp)
        data_dir.mkdir(parents=True, exist_ok=True)
        results["fits"] = [] if args.no_fits else fit_all(args, data_dir)
        results["scaling"] = scaling(args, data_dir) if args.scaling else []
    results["scaling_settings"] = {
        "formula": suite.SCALING_FORMULA,
        "groups": suite.SCALING_GROUPS,
        "theta": suite.SCALING_THETA,
        "calls": args.calls,
    }
    results["machine"]["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    results["wall_minutes"] = round((dt.datetime.now(dt.UTC) - started).seconds / 60, 1)
    args.out.write_text(json.dumps(results, indent=1, default=_jsonable) + "\n")
    text = report.render(results)
    print(text)
    if args.readme:
        report.update_readme(args.readme, text, args.section)


def _jsonable(value: object) -> object:
    if hasattr(value, "__dataclass_fields__"):
        return vars(value)
    return str(value)


if __name__ == "__main__":
    main()
