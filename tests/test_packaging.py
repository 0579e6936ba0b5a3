"""The grammar ships inside the wheel, byte for byte, and builds without conflicts."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from lark import Lark

from lmerpy.formula.grammar import grammar_text

ROOT = Path(__file__).resolve().parents[1]
GRAMMAR = ROOT / "grammar" / "lme4.lark"


def test_loader_finds_the_checkout_grammar() -> None:
    assert grammar_text() == GRAMMAR.read_text(encoding="utf-8")


def test_grammar_has_no_conflicts_under_strict_lalr() -> None:
    pytest.importorskip("interegular")  # strict=True needs it; it is in the test extra
    Lark(GRAMMAR.read_text(encoding="utf-8"), parser="lalr", strict=True)


@pytest.mark.timeout(300)
def test_wheel_contains_the_grammar(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("lmerpy-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        packaged = zf.read("lmerpy/_grammar/lme4.lark")
    assert packaged == GRAMMAR.read_bytes()
