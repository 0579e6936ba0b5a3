"""The public API is pinned: adding or removing a name is a deliberate change."""

from __future__ import annotations

import lmerpy


def test_public_names() -> None:
    assert sorted(dir(lmerpy)) == sorted(lmerpy.__all__)
    assert sorted(lmerpy.__all__) == [
        "Checks",
        "Design",
        "DevianceFunction",
        "LmerResult",
        "ModelSpec",
        "OptimizerRecord",
        "anova",
        "datasets",
        "errors",
        "lformula",
        "lmer",
        "make_deviance",
        "make_result",
        "optimize_deviance",
        "parse_formula",
        "refit",
        "register_term_type",
        "update",
    ]


def test_every_public_callable_has_a_docstring_naming_lme4() -> None:
    for name in ["anova", "lformula", "lmer", "make_deviance", "make_result", "optimize_deviance",
                 "parse_formula", "refit", "register_term_type", "update"]:  # fmt: skip
        doc = getattr(lmerpy, name).__doc__
        assert doc and "lme4" in doc, name
