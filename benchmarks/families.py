"""lmerpy beside glmmTMB (and mixedlm where it has the model) on the families corpus, in one run.

    python benchmarks/families.py [--repeats 5] [--out benchmarks/results-families.json]
                                  [--readme benchmarks/README.md]

Each model of ``tests/reference/families`` is fitted by lmerpy (``lmerpy.glmer`` with the
corpus contract's family, ``zi=`` and ``disp=``), by glmmTMB (the JSON's exact ``call``, through
``Rscript families_bench.R``, timed inside R with ``system.time``) and, for the negative binomial
and Gamma models, by mixedlm (``glmer_nb``, ``glmer(..., family=Gamma(log))``). Each tool fits
once to warm up, then at least ``--repeats`` times, more while the fits add up to under 2 s (at
most 50): the median wall time is reported, with -2 logLik. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parent / "tests" / "reference" / "families"
MIN_SECONDS, MAX_FITS = 2.0, 50
DEFAULT_LINK = {"gaussian": "identity", "gamma": "inverse", "inverse_gaussian": "1/mu^2"}


def corpus_data(name: str) -> pd.DataFrame:
    """A corpus CSV with its factors in R's level order."""
    import lmerpy

    return lmerpy.datasets.read_csv(CORPUS / "data" / f"{name}.csv")


def timed(fit: Callable[[], float], repeats: int) -> dict[str, Any]:
    """Warm-up, then the median of at least ``repeats`` fits; -2 logLik of the last."""
    fit()
    times: list[float] = []
    objective = float("nan")
    while len(times) < repeats or (sum(times) < MIN_SECONDS and len(times) < MAX_FITS):
        start = time.perf_counter()
        objective = fit()
        times.append(time.perf_counter() - start)
    return {"median_seconds": statistics.median(times), "fits": len(times), "objective": objective}


def lmerpy_fit(ref: dict[str, Any], data: pd.DataFrame) -> Callable[[], float]:
    import lmerpy

    family: Any = ref["family"]
    if ref["link"] != DEFAULT_LINK.get(ref["family"], ref["link"]):
        family = getattr(lmerpy, ref["family"])(link=ref["link"])
    options = {"zi": ref["zi"]} if ref.get("zi") else {}
    if ref.get("disp") and ref["disp"].replace(" ", "") != "~1":
        options["disp"] = ref["disp"]

    def fit() -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return -2 * lmerpy.glmer(ref["formula"], data, family, **options).loglik

    return fit


def mixedlm_fit(ref: dict[str, Any], data: pd.DataFrame) -> Callable[[], float] | None:
    """mixedlm's negative binomial (``glmer_nb``, nbinom2) and Gamma(log) fits."""
    try:
        import mixedlm
        import mixedlm.families as fam
    except ImportError:
        return None
    formula = ref["formula"].replace("scale(HEIGHT)", "HEIGHT_s")
    frame = data.assign(HEIGHT_s=(data.HEIGHT - data.HEIGHT.mean()) / data.HEIGHT.std()) \
        if "HEIGHT" in data else data  # fmt: skip
    if ref["family"] == "nbinom2" and not ref.get("zi"):
        return lambda: -2 * float(mixedlm.glmer_nb(formula, frame).logLik().value)
    if ref["family"] == "gamma" and ref["link"] == "log":
        family = fam.Gamma(link=fam.LogLink())
        return lambda: -2 * float(mixedlm.glmer(formula, frame, family=family).logLik().value)
    return None


def glmmtmb_fit(ref: dict[str, Any], repeats: int) -> dict[str, Any]:
    csv, schema = (
        CORPUS / "data" / f"{ref['data']}.csv",
        CORPUS / "data" / f"{ref['data']}.schema.json",
    )
    command = ["Rscript", str(HERE / "families_bench.R"), str(csv), str(schema), ref["data"],
               str(repeats), ref["call"]]  # fmt: skip
    try:
        run = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as exc:
        return {"status": "skip", "reason": str(exc).splitlines()[0][:200]}
    return {"status": "ok", **json.loads(run.stdout.strip().splitlines()[-1])}


def run(repeats: int) -> dict[str, Any]:
    rows = []
    for path in sorted((CORPUS / "models").glob("*.json")):
        ref = json.loads(path.read_text())
        data = corpus_data(ref["data"])
        row: dict[str, Any] = {
            "id": ref["id"],
            "call": ref["call"],
            "glmmTMB_objective": -2 * ref["logLik"],
        }
        row["lmerpy"] = timed(lmerpy_fit(ref, data), repeats)
        other = mixedlm_fit(ref, data)
        row["mixedlm"] = timed(other, repeats) if other else {"status": "skip"}
        no_family = {"status": "skip", "reason": "glmmTMB 1.1.5 has no inverse Gaussian family"}
        row["glmmTMB"] = glmmtmb_fit(ref, repeats) if ref["engine"] == "glmmTMB" else no_family
        rows.append(row)
        print(json.dumps(row), flush=True)
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}",
        "load": os.getloadavg(),
        "repeats": repeats,
        "models": rows,
    }


def _ms(seconds: float) -> str:
    return f"{1000 * seconds:.0f} ms" if seconds >= 0.1 else f"{1000 * seconds:.1f} ms"


def table(results: dict[str, Any]) -> str:
    lines = [
        f"Run of {results['date']}, {results['machine']} (load {results['load'][0]:.2f} at the "
        f"end); medians of at least {results['repeats']} fits after a warm-up.",
        "",
        "| Model | glmmTMB | lmerpy | × glmmTMB | mixedlm | lmerpy −2 logLik − glmmTMB's |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in results["models"]:
        tmb, ours, mx = row["glmmTMB"], row["lmerpy"], row["mixedlm"]
        ok = tmb.get("status") == "ok"
        tmb_t = _ms(tmb["median_seconds"]) if ok else "—"
        ratio = f"{ours['median_seconds'] / tmb['median_seconds']:.2f}×" if ok else "—"
        mx_t = _ms(mx["median_seconds"]) if "median_seconds" in mx else "—"
        diff = ours["objective"] - row["glmmTMB_objective"]
        cells = [row["id"], tmb_t, _ms(ours["median_seconds"]), ratio, mx_t, f"{diff:+.1e}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def update_readme(readme: Path, text: str) -> None:
    start, end = "<!-- families:start -->", "<!-- families:end -->"
    content = readme.read_text()
    head, rest = content.split(start, 1)
    readme.write_text(f"{head}{start}\n\n{text}\n\n{end}{rest.split(end, 1)[1]}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=HERE / "results-families.json")
    parser.add_argument("--readme", type=Path)
    args = parser.parse_args(argv)
    results = run(args.repeats)
    args.out.write_text(json.dumps(results, indent=1))
    print(table(results))
    if args.readme:
        update_readme(args.readme, table(results))


if __name__ == "__main__":
    sys.exit(main())
