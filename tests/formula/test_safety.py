"""Untrusted formulas: nothing runs, nothing hangs, and only lmerpy's errors come out.

The payloads are those that formulaic and patsy execute (research/extensibility.md §5.2).
"""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmerpy import parse_formula
from lmerpy.errors import FormulaError, FormulaLimitError
from lmerpy.formula.limits import MAX_DEPTH, MAX_LENGTH

PAYLOADS = [
    "y ~ x + {__import__('os').system('touch PWNED')}",
    "y ~ I(__import__('os').system('touch PWNED') + x)",
    "y ~ exec('import os; os.system(\"touch PWNED\")')",
    "y ~ getattr(__import__('os'), 'system')('touch PWNED')",
    "y ~ {len(open('secrets.txt').read()) + x}",
    "y ~ {np.savetxt('PWNED', x) or x}",
    "y ~ np.savetxt('PWNED', x)",
    "y ~ np.loadtxt('secrets.txt')",
    "y ~ I(np.load('x.npy', allow_pickle=True))",
    "y ~ {().__class__.__base__.__subclasses__()}",
    "y ~ I(().__class__)",
    "y ~ x + eval('1')",
    "y ~ open('PWNED', 'w')",
    "y ~ {len(secret) + x}",
    "y ~ I(secret)",  # parses: 'secret' is a column name to look up in the data, never the caller's
    "y ~ os.system('touch PWNED')",
    "y ~ lambda: 1",
    "y ~ x if x else x",
    "y ~ [x for x in y]",
    "y ~ x; import os",
    "y ~ x\nimport os",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_runs_nothing(
    payload: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "secrets.txt").write_text("s3cret")
    try:
        spec = parse_formula(payload)
    except FormulaError:
        pass
    else:  # what parses is plain variables, to be looked up in the data (never the caller's)
        assert set(spec.variables) <= {"y", "x", "secret", "lambda"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secrets.txt"]


@pytest.mark.parametrize(
    "text",
    [
        "y ~ " + "x + " * 3000 + "x",  # too long
        "y ~ " + "(" * 5000 + "x" + ")" * 5000,  # too deep
        "y ~ " + "-" * 2000 + "x",
        "y ~ " + ":".join(["a"] * 1500),
        "y ~ I(" + "^".join(["x"] * 1500) + ")",
        "y ~ (" + " + ".join(f"v{i}" for i in range(40)) + ")^10",  # too many terms
        "y ~ (a + b)^1000",
        "y ~ poly(x, 100000)",
        "y ~ " + "*".join(f"v{i}" for i in range(30)),
    ],
)
@pytest.mark.timeout(30)  # a safety net against hanging, not a speed assertion
def test_resource_limits_fail_fast(text: str) -> None:
    with pytest.raises(FormulaLimitError if "^1000" not in text else FormulaError):
        parse_formula(text)


def test_long_sums_within_the_limits_are_fine() -> None:
    text = "y ~ " + " + ".join(f"x{i}" for i in range(500))
    assert len(text) < MAX_LENGTH
    assert len(parse_formula(text).fixed.terms) == 500


def test_depth_limit_is_exactly_the_documented_one() -> None:
    ok = "y ~ " + "(" * (MAX_DEPTH - 1) + "x" + ")" * (MAX_DEPTH - 1)
    assert str(parse_formula(ok)) == "y ~ 1 + x"


ALPHABET = string.ascii_letters[:8] + string.digits[:3] + " ~+-*/:^|()`'\",=.%_{}[]!<>$\n"
TOKENS = [
    "y", "x", "g", "a", "b", "1", "0", "2", "~", "+", "-", "*", "/", ":", "^", "|", "||",
    "(", ")", ",", "%in%", "log(", "I(", "poly(", "us(", "offset(", "cbind(", "C(",
    "contr.sum", "TRUE", "=", "raw", "`q q`", "'s'", ".", "==", ">", "**", "diag(", "{",
]  # fmt: skip


def _only_our_errors(text: str) -> None:
    try:
        spec = parse_formula(text)
    except FormulaError:
        return
    assert parse_formula(str(spec)) == spec


@settings(max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=ALPHABET, max_size=60))
def test_fuzz_random_strings(text: str) -> None:
    _only_our_errors(text)


@settings(max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), max_size=30))
def test_fuzz_random_token_streams(tokens: list[str]) -> None:
    _only_our_errors(" ".join(tokens))


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=30))
def test_fuzz_token_streams_after_a_valid_prefix(tokens: list[str]) -> None:
    _only_our_errors("y ~ x + " + "".join(tokens))


def test_a_formula_never_reaches_the_callers_variables() -> None:
    import pandas as pd

    import lmerpy

    secret = 42.0  # noqa: F841  (a local a formula could read through eval in other libraries)
    data = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "g": ["a", "a", "b", "b"]})
    with pytest.raises(
        lmerpy.errors.MissingColumnError, match="column 'secret' is not in the data"
    ):
        lmerpy.lmer("y ~ I(secret) + (1 | g)", data)
