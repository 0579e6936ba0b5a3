"""Turn a results JSON written by ``run.py`` into the README's tables, with ratios to lme4.

    .venv/bin/python benchmarks/report.py benchmarks/results.json [--readme benchmarks/README.md]

With ``--readme`` the text between ``<!-- results:start -->`` and ``<!-- results:end -->`` is
replaced (``--section NAME``: between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``);
otherwise the tables are printed.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

TOOL_ORDER = ("lme4", "lmerpy", "glmmTMB", "mixedlm", "statsmodels")
Record = dict[str, Any]


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def table(header: Sequence[str], rows: Iterable[Sequence[object]], align: str = "") -> str:
    """A markdown table; ``align`` has one of l/r per column (default: first left, rest right)."""
    align = align or "l" + "r" * (len(header) - 1)
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = [header, rule, *([str(c) for c in row] for row in rows)]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


def seconds(value: float | None) -> str:
    if value is None:
        return "–"
    if value < 1:
        return f"{value * 1000:.1f} ms" if value < 0.1 else f"{value * 1000:.0f} ms"
    return f"{value:.2f} s" if value < 100 else f"{value:.0f} s"


def ratio(value: float | None, base: float | None) -> str:
    if value is None or not base:
        return "–"
    return f"{value / base:.2f}×"


def delta(value: float | None, base: float | None) -> str:
    if value is None or base is None:
        return "–"
    diff = value - base
    return "0" if diff == 0 else f"{diff:+.1e}"


def _ok(fits: list[Record]) -> dict[tuple[str, str], Record]:
    return {(r["model"], r["tool"]): r for r in fits if r["status"] == "ok"}


def _tools(fits: list[Record]) -> list[str]:
    present = {r["tool"] for r in fits}
    return [t for t in TOOL_ORDER if t in present]


def summary_table(results: Record) -> str:
    """Median fit time per model and tool, with the ratio to lme4."""
    fits, models = results["fits"], results["models"]
    ok, tools = _ok(fits), _tools(fits)
    rows = []
    for m in models:
        lme4 = ok.get((m["key"], "lme4"), {})
        base = lme4.get("median_seconds")
        cells = [_rows(fits, m["key"]), _groups(lme4.get("groups"))]
        for tool in tools:
            r = ok.get((m["key"], tool))
            t = r["median_seconds"] if r else None
            shown = "skipped" if r is None else seconds(t)
            cells.append(shown if tool == "lme4" or r is None else f"{shown} ({ratio(t, base)})")
        rows.append([m["title"], *cells])
    return table(["Model", "Rows", "Groups (lme4 ngrps)", *tools], rows, "lrl" + "r" * len(tools))


def _rows(fits: list[Record], key: str) -> str:
    return next((f"{r['rows']:,}" for r in fits if r["model"] == key), "–")


def _groups(groups: dict[str, int] | None) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in groups.items()) if groups else "–"


def detail_table(results: Record) -> str:
    """Every fit: time, evaluations, memory and the criterion reached, against lme4."""
    ok = _ok(results["fits"])
    header = ["Model", "Rows", "Tool", "Median", "Range", "× lme4", "Evals", "Peak RSS", "× lme4"]
    header += ["REML criterion (GLMM: −2 logLik)", "− lme4"]
    rows = []
    for m in results["models"]:
        base = ok.get((m["key"], "lme4"), {})
        for tool in _tools(results["fits"]):
            r = ok.get((m["key"], tool))
            if r is None:
                continue
            rows.append(_detail_row(m, r, base))
    return table(header, rows, "lrl" + "r" * 8)


def _detail_row(m: Record, r: Record, base: Record) -> list[object]:
    t, rss, obj = r["median_seconds"], r.get("peak_rss_mb"), r.get("objective")
    evals = r.get("evaluations")
    return [
        m["title"],
        f"{r['rows']:,}",
        r["tool"] + ("" if r.get("converged", True) else " (not converged)"),
        seconds(t) + f" ×{len(r['seconds'])}",
        f"{seconds(min(r['seconds']))} – {seconds(max(r['seconds']))}",
        ratio(t, base.get("median_seconds")),
        "–" if evals is None else evals,
        "–" if rss is None else f"{rss:,.0f} MB",
        ratio(rss, base.get("peak_rss_mb")),
        "–" if obj is None else f"{obj:.4f}",
        delta(obj, base.get("objective")) if r["tool"] != "lme4" else "",
    ]


def skips_table(results: Record) -> str:
    titles = {m["key"]: m["title"] for m in results["models"]}
    rows = [[titles[r["model"]], r["tool"], r["reason"]] for r in results["fits"] if _skip(r)]
    rows += [
        [f"scaling, {r['rows']:,} rows", r["tool"], r["reason"]]
        for r in results["scaling"]
        if _skip(r)
    ]
    return table(["Model", "Tool", "Reason"], rows, "lll") if rows else "None."


def _skip(r: Record) -> bool:
    return bool(r["status"] == "skip")


def notes_list(results: Record) -> str:
    titles = {m["key"]: m["title"] for m in results["models"]}
    lines = [
        f"- {titles[r['model']]}, {r['tool']}: {note}"
        for r in results["fits"]
        if r["status"] == "ok"
        for note in r.get("notes", [])
    ]
    return "\n".join(lines) if lines else "None."


def scaling_table(results: Record) -> str:
    """Time per deviance evaluation against n, with the setup (design + deviance function)."""
    by = {(r["rows"], r["tool"]): r for r in results["scaling"] if r["status"] == "ok"}
    tools = [t for t in TOOL_ORDER if any(k[1] == t for k in by)]
    header = ["Rows", "Groups"]
    for tool in tools:
        header += [f"{tool} per evaluation", f"{tool} setup", f"{tool} peak RSS"]
    rows = []
    for n in sorted({r["rows"] for r in results["scaling"]}):
        row: list[object] = [f"{n:,}", f"{results['scaling_settings']['groups']:,}"]
        for tool in tools:
            r = by.get((n, tool))
            row += _scaling_cells(r)
        rows.append(row)
    return table(header, rows, "l" + "r" * (len(header) - 1))


def _scaling_cells(r: Record | None) -> list[str]:
    if r is None:
        return ["skipped", "–", "–"]
    return [
        seconds(r["median_seconds"]),
        seconds(r["setup_seconds"]),
        f"{r['peak_rss_mb']:,.0f} MB",
    ]


def scaling_agreement(results: Record) -> str:
    """Whether lmerpy and lme4 agree on the deviance at the scaling θ."""
    by = {(r["rows"], r["tool"]): r for r in results["scaling"] if r["status"] == "ok"}
    diffs = [
        abs(by[(n, "lmerpy")]["objective"] - by[(n, "lme4")]["objective"])
        for n, tool in by
        if tool == "lme4" and (n, "lmerpy") in by
    ]
    if not diffs:
        return ""
    return f"lmerpy's and lme4's criterion at that θ differ by at most {max(diffs):.1e}."


def machine_text(results: Record) -> str:
    m = results["machine"]
    load = f"load average {m['load_average_start']} at the start, {m.get('load_average_end')}"
    return (
        f"{m['nproc']} CPUs (nproc), {m['cpu']}, {m['memory_gib']} GiB memory, "
        f"{m['platform']}; {load} at the end."
    )


def versions_text(results: Record) -> str:
    return ", ".join(f"{k} {v}" for k, v in results["versions"].items())


def render(results: Record) -> str:
    """The README's result section."""
    s = results["settings"]
    parts = [
        f"### Run of {results['date']}",
        f"`{results['command']}` ({results.get('wall_minutes', '?')} minutes). After one "
        f"warm-up, at least {s['repeats']} timed fit(s) per tool and model, more (at most "
        f"{s['max_fits']}) until they add up to {s['min_seconds']:g} s; the median is shown, "
        f"with the number of timed fits. Cap: {s['cap_seconds'] / 60:g} minutes per fit.",
        f"**Machine:** {machine_text(results)}",
        f"**Versions:** {versions_text(results)}",
        *([f"**Note:** {results['note']}"] if results.get("note") else []),
    ]
    if results["fits"]:
        parts += [
            "#### Median fit time (ratio to lme4)",
            summary_table(results),
            "#### Every fit",
            detail_table(results),
            "#### Warnings and messages",
            notes_list(results),
        ]
    if results["scaling"]:
        parts += [
            f"#### Time per deviance evaluation against n: {_scaling_formula(results)}",
            scaling_table(results) + "\n\n" + scaling_agreement(results),
        ]
    parts += ["#### Skipped", skips_table(results)]
    return "\n\n".join(parts) + "\n"


def _scaling_formula(results: Record) -> str:
    spec = results["scaling_settings"]
    theta = ", ".join(f"{v:g}" for v in spec["theta"])
    return f"`{spec['formula']}`, {spec['groups']:,} groups, θ = ({theta})"


def update_readme(readme: Path, text: str, section: str = "results") -> None:
    """Replace the README's text between ``<!-- {section}:start -->`` and ``:end -->``."""
    start, end = f"<!-- {section}:start -->", f"<!-- {section}:end -->"
    head, found_start, rest = readme.read_text().partition(start)
    _, found_end, tail = rest.partition(end)
    if not found_start or not found_end:
        raise SystemExit(f"{readme} has no {start} ... {end} section")
    readme.write_text(f"{head}{start}\n\n{text}\n{end}{tail}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--readme", type=Path)
    parser.add_argument("--section", default="results", help="the README section to replace")
    args = parser.parse_args(argv)
    text = render(json.loads(args.results.read_text()))
    if args.readme:
        update_readme(args.readme, text, args.section)
    else:
        print(text)


if __name__ == "__main__":
    main()
