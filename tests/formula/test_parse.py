"""parse_formula: every construct of the lme4 formula language, table-driven.

Each expected value is the canonical formula of the spec, written by hand from R's
``terms()`` rules and lme4 1.1-31's ``findbars`` / ``expandDoubleVerts`` / ``expandSlash``
(research notes: ../shared/research/lme4.md §2, extensibility.md §2.3).
"""

from __future__ import annotations

import pytest

from lmerpy import parse_formula
from lmerpy.formula import LinearTerms, ModelSpec, RandomTerm

# The formulas of lme4's reference fits (../shared/reference/models/*.json).
REFERENCE = {
    "angle ~ recipe * temp + (1 | recipe:replicate)": "angle ~ 1 + recipe + temp + recipe:temp + (1 | recipe:replicate)",
    "cbind(incidence, size - incidence) ~ period + (1 | herd)": "cbind(incidence, size - incidence) ~ 1 + period + (1 | herd)",
    "prop ~ period + (1 | herd)": "prop ~ 1 + period + (1 | herd)",
    "Yield ~ 1 + (1 | Batch)": "Yield ~ 1 + (1 | Batch)",
    "normexam ~ standLRT + sex + schgend + (standLRT | school)": "normexam ~ 1 + standLRT + sex + schgend + (1 + standLRT | school)",
    "normexam ~ standLRT + (standLRT | school)": "normexam ~ 1 + standLRT + (1 + standLRT | school)",
    "normexam ~ standLRT + (1 | school)": "normexam ~ 1 + standLRT + (1 | school)",
    "normexam ~ standLRT * schavg + (standLRT | school)": "normexam ~ 1 + standLRT + schavg + standLRT:schavg + (1 + standLRT | school)",
    "normexam ~ standLRT": "normexam ~ 1 + standLRT",
    "normexam ~ standLRT + (standLRT - 1 | school)": "normexam ~ 1 + standLRT + (0 + standLRT | school)",
    "TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)": "TICKS ~ 1 + YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)",
    "y ~ service + (1 | s) + (1 | d) + (1 | dept)": "y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept)",
    "distance ~ age + Sex + (age | Subject)": "distance ~ 1 + age + Sex + (1 + age | Subject)",
    "strength ~ 1 + (1 | batch/cask)": "strength ~ 1 + (1 | cask:batch) + (1 | batch)",
    "diameter ~ 1 + (1 | plate) + (1 | sample)": "diameter ~ 1 + (1 | plate) + (1 | sample)",
    "Reaction ~ Days + (Days | Subject)": "Reaction ~ 1 + Days + (1 + Days | Subject)",
    "Reaction ~ Days + (1 | Subject)": "Reaction ~ 1 + Days + (1 | Subject)",
    "Reaction ~ Days + (Days || Subject)": "Reaction ~ 1 + Days + (1 | Subject) + (0 + Days | Subject)",
}

CONSTRUCTS = {
    # intercept control
    "y ~ x": "y ~ 1 + x",
    "y ~ 1": "y ~ 1",
    "y ~ 0": "y ~ 0",
    "y ~ 0 + x": "y ~ 0 + x",
    "y ~ x + 0": "y ~ 0 + x",
    "y ~ x - 1": "y ~ 0 + x",
    "y ~ -1 + x": "y ~ 0 + x",
    "y ~ x + -1": "y ~ 0 + x",
    "y ~ 0 + x + 1": "y ~ 1 + x",
    "y ~ 1 + x": "y ~ 1 + x",
    "y ~ x - 0": "y ~ 1 + x",
    # + - * / : ^ %in%
    "y ~ a + b": "y ~ 1 + a + b",
    "y ~ a + a": "y ~ 1 + a",
    "y ~ a * b": "y ~ 1 + a + b + a:b",
    "y ~ a:b": "y ~ 1 + a:b",
    "y ~ b:a + a": "y ~ 1 + a + b:a",
    "y ~ a * b - a": "y ~ 1 + b + a:b",
    "y ~ a * b - a:b": "y ~ 1 + a + b",
    "y ~ a * b * c": "y ~ 1 + a + b + c + a:b + a:c + b:c + a:b:c",
    "y ~ a / b": "y ~ 1 + a + a:b",
    "y ~ (a + b) / c": "y ~ 1 + a + b + a:b:c",
    "y ~ a / b / c": "y ~ 1 + a + a:b + a:b:c",
    "y ~ b %in% a": "y ~ 1 + b:a",
    "y ~ (a + b + c)^2": "y ~ 1 + a + b + c + a:b + a:c + b:c",
    "y ~ (a + b + c)^3": "y ~ 1 + a + b + c + a:b + a:c + b:c + a:b:c",
    "y ~ (a + b + c)**2": "y ~ 1 + a + b + c + a:b + a:c + b:c",
    "y ~ (a + b)^2 - a:b": "y ~ 1 + a + b",
    "y ~ a^2": "y ~ 1 + a",
    "y ~ (a * b) : c": "y ~ 1 + a:c + b:c + a:b:c",
    "y ~ a : (b + c)": "y ~ 1 + a:b + a:c",
    "y ~ ((a))": "y ~ 1 + a",
    # functions
    "y ~ log(x)": "y ~ 1 + log(x)",
    "y ~ log(x + 1)": "y ~ 1 + log(x + 1)",
    "y ~ log(x, base = 2)": "y ~ 1 + log(x, base = 2)",
    "y ~ exp(x) + sqrt(x) + abs(x)": "y ~ 1 + exp(x) + sqrt(x) + abs(x)",
    "y ~ log10(x) + log2(x) + log1p(x) + expm1(x)": "y ~ 1 + log10(x) + log2(x) + log1p(x) + expm1(x)",
    "y ~ I(x^2)": "y ~ 1 + I(x^2)",
    "y ~ I(x**2)": "y ~ 1 + I(x^2)",
    "y ~ x + I(x^2) + I(x^3)": "y ~ 1 + x + I(x^2) + I(x^3)",
    "y ~ I(x * z)": "y ~ 1 + I(x * z)",
    "y ~ I((x + z) / 2)": "y ~ 1 + I((x + z)/2)",
    "y ~ I(-x)": "y ~ 1 + I(-x)",
    "y ~ I(x^-1)": "y ~ 1 + I(x^-1)",
    "y ~ I(x > 3)": "y ~ 1 + I(x > 3)",
    "y ~ I(x == 2)": "y ~ 1 + I(x == 2)",
    "y ~ scale(x)": "y ~ 1 + scale(x)",
    "y ~ scale(x, center = TRUE, scale = FALSE)": "y ~ 1 + scale(x, center = TRUE, scale = FALSE)",
    "y ~ poly(x, 2)": "y ~ 1 + poly(x, 2)",
    "y ~ poly(x, 3, raw = TRUE)": "y ~ 1 + poly(x, 3, raw = TRUE)",
    "y ~ factor(x)": "y ~ 1 + factor(x)",
    "y ~ as.factor(x)": "y ~ 1 + as.factor(x)",
    "y ~ C(f)": "y ~ 1 + C(f)",
    "y ~ C(f, contr.sum)": "y ~ 1 + C(f, contr.sum)",
    "y ~ factor(x) * z": "y ~ 1 + factor(x) + z + factor(x):z",
    "y ~ x + offset(o)": "y ~ 1 + x + offset(o)",
    "y ~ x + offset(log(exposure))": "y ~ 1 + x + offset(log(exposure))",
    "log(y) ~ x": "log(y) ~ 1 + x",
    "I(y / 100) ~ x": "I(y/100) ~ 1 + x",
    "cbind(s, f) ~ x": "cbind(s, f) ~ 1 + x",
    # names
    "`days of sleep` ~ `my var` + x": "`days of sleep` ~ 1 + `my var` + x",
    "y ~ log.dose + x.1 + .hidden": "y ~ 1 + log.dose + x.1 + .hidden",
    "y ~ `1x`": "y ~ 1 + `1x`",
    "y~x+(1|g)": "y ~ 1 + x + (1 | g)",
    "y ~\n  x +\n  (1 | g)": "y ~ 1 + x + (1 | g)",
    # one-sided
    "~ x + (1 | g)": "~ 1 + x + (1 | g)",
    # random terms
    "y ~ (1 | g)": "y ~ 1 + (1 | g)",
    "y ~ 0 + (1 | g)": "y ~ 0 + (1 | g)",
    "y ~ x + (x | g)": "y ~ 1 + x + (1 + x | g)",
    "y ~ x + (1 + x | g)": "y ~ 1 + x + (1 + x | g)",
    "y ~ x + (0 + x | g)": "y ~ 1 + x + (0 + x | g)",
    "y ~ x + (-1 + x | g)": "y ~ 1 + x + (0 + x | g)",
    "y ~ (x + z | g)": "y ~ 1 + (1 + x + z | g)",
    "y ~ (x * z | g)": "y ~ 1 + (1 + x + z + x:z | g)",
    "y ~ (log(x) | g)": "y ~ 1 + (1 + log(x) | g)",
    "y ~ (poly(x, 2) | g)": "y ~ 1 + (1 + poly(x, 2) | g)",
    "y ~ (f | g)": "y ~ 1 + (1 + f | g)",
    "y ~ (1 | g) + (0 + x | g)": "y ~ 1 + (1 | g) + (0 + x | g)",
    "y ~ (1 | a) + (1 | b)": "y ~ 1 + (1 | a) + (1 | b)",
    "y ~ (1 | a:b)": "y ~ 1 + (1 | a:b)",
    "y ~ (1 | a/b)": "y ~ 1 + (1 | b:a) + (1 | a)",
    "y ~ (x | a/b)": "y ~ 1 + (1 + x | b:a) + (1 + x | a)",
    "y ~ (1 | a/b/c)": "y ~ 1 + (1 | c:b:a) + (1 | b:a) + (1 | a)",
    "y ~ (1 | a + b)": "y ~ 1 + (1 | a) + (1 | b)",
    "y ~ (1 | a*b)": "y ~ 1 + (1 | a) + (1 | b) + (1 | a:b)",
    "y ~ (1 | `school id`)": "y ~ 1 + (1 | `school id`)",
    # || as lme4 1.1 splits it
    "y ~ (x || g)": "y ~ 1 + (1 | g) + (0 + x | g)",
    "y ~ (1 + x + z || g)": "y ~ 1 + (1 | g) + (0 + x | g) + (0 + z | g)",
    "y ~ (x * z || g)": "y ~ 1 + (1 | g) + (0 + x | g) + (0 + z | g) + (0 + x:z | g)",
    "y ~ (0 + x || g)": "y ~ 1 + (0 + x | g)",
    "y ~ (f || g)": "y ~ 1 + (1 | g) + (0 + f | g)",
    "y ~ ((x || g))": "y ~ 1 + (1 | g) + (0 + x | g)",
    "y ~ (x || a/b)": "y ~ 1 + (1 | b:a) + (0 + x | b:a) + (1 | a) + (0 + x | a)",
    # wrappers
    "y ~ us(x | g)": "y ~ 1 + (1 + x | g)",
    "y ~ x + ((1 | g) + (1 | h))": "y ~ 1 + x + (1 | g) + (1 | h)",
    # precedence: | binds looser than +
    "y ~ (x + 1 | g)": "y ~ 1 + (1 + x | g)",
    # without parentheses, as lme4 reads them: the whole right-hand side is the term
    "Yield ~ 1|Batch": "Yield ~ 1 + (1 | Batch)",
    "y ~ x + 1 | g": "y ~ 1 + (1 + x | g)",
    "log(y) ~ x | g": "log(y) ~ 1 + (1 + x | g)",
    "y ~ x || g": "y ~ 1 + (1 | g) + (0 + x | g)",
    "y ~ 1 | h/f": "y ~ 1 + (1 | f:h) + (1 | h)",
}


@pytest.mark.parametrize(("text", "canonical"), list({**REFERENCE, **CONSTRUCTS}.items()))
def test_canonical_form(text: str, canonical: str) -> None:
    assert str(parse_formula(text)) == canonical


@pytest.mark.parametrize("text", list({**REFERENCE, **CONSTRUCTS}))
def test_canonical_form_parses_back_to_the_same_spec(text: str) -> None:
    spec = parse_formula(text)
    assert parse_formula(str(spec)) == spec


def test_at_least_sixty_constructs_beyond_the_reference_formulas() -> None:
    assert len(CONSTRUCTS) >= 60


def test_spec_structure_of_a_crossed_nested_model() -> None:
    spec = parse_formula("y ~ x * f + offset(o) + (x | a/b) + (1 | c)")
    assert isinstance(spec, ModelSpec)
    assert str(spec.response) == "y"
    assert spec.fixed.intercept
    assert spec.fixed.labels == ["x", "f", "x:f"]
    assert [str(o) for o in spec.offsets] == ["o"]
    assert [t.group for t in spec.random] == [("b", "a"), ("a",), ("c",)]
    assert [t.group_name for t in spec.random] == ["b:a", "a", "c"]
    assert spec.random[0].lhs == LinearTerms(True, spec.fixed.terms[:1])
    assert spec.variables == ["y", "x", "f", "o", "b", "a", "c"]


def test_random_term_keeps_its_span() -> None:
    text = "y ~ x + (x | g)"
    (term,) = parse_formula(text).random
    assert isinstance(term, RandomTerm)
    assert text[term.start : term.end] == "x | g"


def test_spec_keeps_the_formula_text_and_is_immutable() -> None:
    spec = parse_formula("y ~ x + (1 | g)")
    assert spec.formula == "y ~ x + (1 | g)"
    with pytest.raises(AttributeError):
        spec.formula = "other"  # type: ignore[misc]


def test_variables_of_functions_skip_literal_arguments() -> None:
    spec = parse_formula("y ~ poly(x, 2) + C(f, contr.sum) + log(z, base = 10) + I(u * v)")
    assert spec.variables == ["y", "x", "f", "z", "u", "v"]


def test_true_false_are_literals_in_options() -> None:
    spec = parse_formula("y ~ poly(x, 2, raw = TRUE)")
    (term,) = spec.fixed.terms
    assert str(term) == "poly(x, 2, raw = TRUE)"
