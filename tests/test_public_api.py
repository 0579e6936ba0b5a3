"""The public API is pinned: adding or removing a name is a deliberate change."""

from __future__ import annotations

import lmerpy


def test_public_names() -> None:
    assert sorted(dir(lmerpy)) == sorted(lmerpy.__all__)
    assert sorted(lmerpy.__all__) == sorted([
        "Checks", "CrossProducts", "Design", "DevianceFunction", "Family", "GlmResult", "GlmerResult",
        "GlmmDeviance", "Level1Intervals", "LmerResult", "binomial", "fit_glmm", "glformula",
        "glm", "glmer", "poisson", "gamma", "gaussian", "inverse_gaussian", "ModelComparison", "ModelSpec", "OlsResult", "OptimizerRecord",
        "Schema", "anova", "compare", "cross_products", "datasets", "errors", "level1_intervals",
        "lformula", "lm", "lmer", "lmer_cross_products", "make_deviance", "make_result",
        "optimize_deviance", "parse_formula", "power_sim", "refit", "register_function", "register_term_type", "restore_fit",
        "save_fit", "scan", "update", "write_fitted",
    ])  # fmt: skip


def test_every_public_function_names_its_r_equivalent() -> None:
    for name in ["anova", "binomial", "gamma", "gaussian", "inverse_gaussian", "fit_glmm", "glformula", "glmer", "poisson", "compare", "level1_intervals", "lformula", "lm", "lmer",
                 "make_deviance", "make_result", "optimize_deviance", "parse_formula", "refit",
                 "register_term_type", "update", "cross_products", "scan", "power_sim", "register_function", "glm",
                 "lmer_cross_products", "save_fit", "restore_fit", "write_fitted"]:  # fmt: skip
        doc = getattr(lmerpy, name).__doc__
        assert doc and ("lme4" in doc or "R:" in doc or "no R function" in doc), name
