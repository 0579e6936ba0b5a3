"""Formula errors: the message says what is wrong, the caret says where."""

from __future__ import annotations

import pytest

from lmerpy import parse_formula
from lmerpy.errors import (
    FormulaError,
    FormulaLimitError,
    FormulaSemanticError,
    FormulaSyntaxError,
    LmerpyError,
)

# (formula, error class, words in the message, 0-based caret position)
CASES = [
    ("y ~ x + (1 | g", FormulaSyntaxError, "'(' is never closed", 8),
    ("y ~ log(x", FormulaSyntaxError, "'(' is never closed", 7),
    ("y ~ x)", FormulaSyntaxError, "')' has no matching '('", 5),
    ("y ~ x + (1 | g))", FormulaSyntaxError, "')' has no matching '('", 15),
    ("y ~ x + (1 | )", FormulaSyntaxError, "nothing after '|'", 13),
    ("y ~ (x |)", FormulaSyntaxError, "nothing after '|'", 8),
    ("y ~ x + ( | g)", FormulaSyntaxError, "nothing before '|'", 10),
    ("y ~ (x | | g)", FormulaSyntaxError, "'|' follows '|'", 9),
    ("y x", FormulaSyntaxError, "missing '~'", 3),
    ("y + x", FormulaSyntaxError, "missing '~'", 5),
    ("y ~ x +", FormulaSyntaxError, "ends after '+'", 6),
    ("y ~ x *  ", FormulaSyntaxError, "ends after '*'", 6),
    ("y ~", FormulaSyntaxError, "ends after '~'", 2),
    ("y ~ (x | g) +", FormulaSyntaxError, "ends after '+'", 12),
    ("y ~ x + * z", FormulaSyntaxError, "'*' follows '+'", 8),
    ("y ~ x ~ z", FormulaSyntaxError, "only one '~'", 6),
    ("y ~ x $ z", FormulaSyntaxError, "unexpected character '$'", 6),
    ("y ~ x + {z}", FormulaSyntaxError, "unexpected character '{'", 8),
    ("y ~ x[1]", FormulaSyntaxError, "unexpected character '['", 5),
    ("y ~ x y", FormulaSyntaxError, "unexpected 'y'", 6),
    ("y ~ x + foo(z)", FormulaSyntaxError, "unknown function 'foo'", 8),
    ("y ~ x + ar2(1 | g)", FormulaSyntaxError, "unknown random-effect term type 'ar2'", 8),
    ("y ~ x + ar2(1 | g)", FormulaSyntaxError, "registered term types: ar1, cs, diag, us", 8),
    ("y ~ x + (1 | g) | h", FormulaSemanticError, "on its own", 9),
    ("y ~ log(x | g)", FormulaSemanticError, "log() cannot hold a random-effect term", 4),
    ("y ~ x:(1 | g)", FormulaSemanticError, "on its own", 7),
    ("y ~ x - (1 | g)", FormulaSemanticError, "cannot be subtracted", 8),
    ("y ~ x + 2", FormulaSemanticError, "can only be 1 (intercept) or 0", 8),
    ("y ~ x + x * 2", FormulaSemanticError, "can only be 1 (intercept) or 0", 12),
    ("y ~ x > 2", FormulaSemanticError, "wrap it in I(...)", 4),
    ("y ~ (1 | log(g))", FormulaSemanticError, "grouping factor must be a variable", 9),
    ("y ~ (1 | 1)", FormulaSemanticError, "grouping factor must be a variable", 9),
    ("y ~ .", FormulaSemanticError, "'.' (all other columns) is not supported", 4),
    ("y ~ (a + b)^x", FormulaSemanticError, "power of a term must be a whole number", 12),
    ("y ~ (a + b)^1.5", FormulaSemanticError, "power of a term must be a whole number", 12),
    ("y ~ poly(x, 0)", FormulaSemanticError, "degree of poly()", 12),
    ("y ~ poly(x, 2, raw = 1)", FormulaSemanticError, "expected a TRUE/FALSE", 21),
    ("y ~ log(x, bass = 2)", FormulaSemanticError, "no option 'bass'", 18),
    ("y ~ C(f, sum)", FormulaSemanticError, "contrast must be one of", 9),
    ("y ~ sqrt(x, 2)", FormulaSemanticError, "takes one argument", 4),
    ("y ~ log()", FormulaSemanticError, "takes one argument", 4),
    ("y ~ offset(o):x", FormulaSemanticError, "only be used as a term of the fixed part", 4),
    ("y ~ x - offset(o)", FormulaSemanticError, "cannot be subtracted", 8),
    ("y ~ cbind(a, b)", FormulaSemanticError, "only be used as the response", 4),
    ("y ~ us(x || g)", FormulaSemanticError, "not '||'", 4),
    ("y ~ us(x | g, 2)", FormulaSemanticError, "a second positional argument", 4),
    ("y ~ us(x | g, hom = TRUE)", FormulaSemanticError, "bad options for us(...)", 4),
    ("y ~ x + I('a')", FormulaSemanticError, "a string cannot be used", 10),
    ("(y | g) ~ x", FormulaSemanticError, "on its own", 1),
    ("y ~ TRUE", FormulaSemanticError, "TRUE is a literal", 4),
    ("y ~ I(a:b)", FormulaSemanticError, "':' cannot be used in an arithmetic", 6),
    ("y ~ I(__import__('os'))", FormulaSyntaxError, "cannot start with '_'", 6),
    ("y ~ `x", FormulaSyntaxError, "must be closed", 4),
]


@pytest.mark.parametrize(("text", "cls", "words", "pos"), CASES)
def test_error_message_and_caret(text: str, cls: type, words: str, pos: int) -> None:
    with pytest.raises(cls) as info:
        parse_formula(text)
    err = info.value
    assert words in err.message
    assert err.pos == pos
    formula_line, caret_line = str(err).splitlines()[-2:]
    assert caret_line.index("^") == formula_line.index(text.splitlines()[err.line - 1]) + (
        err.column - 1
    )


def test_errors_share_one_root_and_are_value_errors() -> None:
    with pytest.raises(LmerpyError):
        parse_formula("y ~ (")
    with pytest.raises(ValueError):
        parse_formula("y ~ (")
    assert issubclass(FormulaSyntaxError, FormulaError)
    assert issubclass(FormulaLimitError, FormulaError)


def test_error_carries_line_and_column_on_multiline_formulas() -> None:
    with pytest.raises(FormulaSyntaxError) as info:
        parse_formula("y ~ x +\n  (1 | )")
    assert (info.value.line, info.value.column) == (2, 8)
    assert str(info.value).splitlines()[-2] == "    (1 | )"


def test_caret_spans_the_whole_offending_call() -> None:
    with pytest.raises(FormulaSyntaxError) as info:
        parse_formula("y ~ x + open('f')")
    assert str(info.value).splitlines()[-1].strip() == "^" * len("open('f')")


def test_unknown_function_lists_the_allowed_ones() -> None:
    with pytest.raises(FormulaSyntaxError) as info:
        parse_formula("y ~ exec('x')")
    assert "log" in info.value.message and "poly" in info.value.message


def test_non_string_formula_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="must be a string"):
        parse_formula(42)  # type: ignore[arg-type]


def test_long_formula_context_is_clipped() -> None:
    text = "y ~ " + " + ".join(f"x{i}" for i in range(100)) + " + $"
    with pytest.raises(FormulaSyntaxError) as info:
        parse_formula(text)
    shown = str(info.value).splitlines()[-2]
    assert shown.strip().startswith("...") and len(shown) < 140
