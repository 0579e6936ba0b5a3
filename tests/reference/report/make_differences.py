"""Write differences.json: the report's printed cells that lme4 1.1-31 does not round to.

Run from the repository root after report_lme4.R:
    .venv/bin/python tests/reference/report/make_differences.py
It prints the Markdown table used in docs/report.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
OUT = Path(__file__).parent / "differences.json"
if not OUT.exists():
    OUT.write_text('{"cells": []}\n')

from tests.test_report import CELLS  # noqa: E402

TRUNCATED = "printed truncated, not rounded (R's lm gives 0.5950568 in every version)"
VERSION = "the lme4 of 2010 estimated slightly different values"


def reason(key: str) -> str:
    return TRUNCATED if key.startswith("Table 4.1: standLRT") and key.endswith("OLS") else VERSION


cells = [
    {"cell": c.key, "printed": c.printed, "lme4_1_1_31": c.lme4, "reason": reason(c.key)}
    for c in CELLS
    if not c.rounds_to_printed(c.lme4)
]
note = (
    "Cells of tables.json whose lme4 1.1-31 value (report_lme4.json) does not round to the "
    "printed value; written by make_differences.py. tests/test_report.py holds lmerpy to "
    "lme4 1.1-31 on these cells and to the printed value on all others."
)
OUT.write_text(json.dumps({"note": note, "cells": cells}, indent=1) + "\n")

print("| Cell | Printed | lme4 1.1-31 | lmerpy | Difference |")
print("|---|---:|---:|---:|---:|")
for c in CELLS:
    if not c.rounds_to_printed(c.lme4):
        ours = float(c.lmerpy())
        print(
            f"| {c.key} | {c.printed} | {c.lme4:.{c.decimals + 2}f} | {ours:.{c.decimals + 2}f} "
            f"| {c.lme4 - float(c.printed):+.2g} |"
        )
print(len(cells), "cells", file=sys.stderr)
