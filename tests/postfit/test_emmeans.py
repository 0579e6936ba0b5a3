"""Marginal means and contrasts against emmeans 1.8.4 (tests/reference/postfit): every
``emmeans``/``pairs``/``contrast`` entry of the corpus (``r_call`` in each entry, e.g.
``emmeans(m, specs = "schgend", lmer.df = "kenward-roger")``) and the extra calls of
postfit_extra.R, at the corpus tolerances (estimates and SE 1e-4 relative or 1e-3 of SE, df
1%, p-values 1e-3)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from lmerpy.errors import ArgumentError, ArgumentTypeError

from .corpus import (
    EXTRA,
    MODELS,
    assert_estimates,
    assert_p,
    assert_rel,
    extra_fit,
    fit,
    label,
    reference,
)

ESTIMATES = ("emmean", "prob", "rate", "response")
CONTRASTS = ("estimate", "odds.ratio", "ratio")


def _entries() -> list[tuple[str, int]]:
    return [
        (m, i) for m in MODELS for i, _ in enumerate(reference(m)["postfit"].get("emmeans", []))
    ]


def _em(model: str, i: int) -> Any:
    e = reference(model)["postfit"]["emmeans"][i]
    specs = e["specs"][0] if len(e["specs"]) == 1 else e["specs"]
    return fit(model).emmeans(specs, by=e["by"], ddf=e["ddf"], type=e["type"], level=e["level"]), e


def _match(
    table: pd.DataFrame, ref: dict[str, Any], keys: list[str], loose: bool = False
) -> list[int]:
    canon = label if loose else str
    ours = {tuple(canon(table[k].iloc[i]) for k in keys): i for i in range(len(table))}
    refs = zip(*[[canon(v) for v in ref[k]] for k in keys], strict=True)
    assert len(table) == len(ref[keys[0]])
    return [ours[r] for r in refs]


def _compare(
    table: pd.DataFrame, ref: dict[str, Any], keys: list[str], loose: bool = False
) -> None:
    assert [c for c in ref if c in table.columns] == list(ref), (list(table.columns), list(ref))
    pos = _match(table, ref, keys, loose)
    rows = table.iloc[pos]
    est = next(c for c in (*ESTIMATES, *CONTRASTS) if c in ref)
    assert_estimates(rows[est].to_numpy(), ref[est], ref["SE"])
    assert_estimates(rows["SE"].to_numpy(), ref["SE"], ref["SE"])
    assert_rel(rows["df"].to_numpy(), ref["df"], 0.01)
    for col in ("lower.CL", "upper.CL", "asymp.LCL", "asymp.UCL"):
        if col in ref:
            assert_estimates(rows[col].to_numpy(), ref[col], ref["SE"])
    for col in ("t.ratio", "z.ratio"):
        if col in ref:
            assert_rel(rows[col].to_numpy(), ref[col], 1e-3)
    if "p.value" in ref:
        assert_p(rows["p.value"].to_numpy(), ref["p.value"])


@pytest.mark.parametrize(("model", "i"), _entries())
def test_means_match_emmeans(model: str, i: int) -> None:
    em, e = _em(model, i)
    _compare(em.table, e["table"], e["specs"] + ([e["by"]] if e["by"] else []))


@pytest.mark.parametrize(("model", "i"), _entries())
def test_contrasts_match_emmeans(model: str, i: int) -> None:
    """Tukey, Holm and none as emmeans; dunnettx is checked against R's exact Dunnett
    (adjust = "mvt") in test_dunnett_is_exact, where emmeans' own approximation differs."""
    em, e = _em(model, i)
    for c in e["contrasts"]:
        res = (
            em.pairs(adjust=c["adjust"])
            if c["call"] == "pairs"
            else em.contrast(c["method"], adjust=c["adjust"])
        )
        ref = dict(c["table"])
        if c["adjust"] == "dunnettx" and e["by"]:
            ref.pop("p.value")  # emmeans' ad hoc approximation; see test_dunnett_is_exact
        _compare(res.table, ref, ["contrast"] + ([e["by"]] if e["by"] else []), loose=True)


def test_dunnett_is_exact() -> None:
    """emmeans' "dunnettx" is "our own ad hoc approximation" (?summary.emmGrid); lmerpy's
    computes the Dunnett distribution (correlations 1/2) exactly, and matches R's
    multivariate-t p-values (adjust = "mvt") where emmeans' approximation is 0.04 off."""
    ref = EXTRA["cake_mvt"]["table"]
    em = extra_fit("cake").emmeans("temperature", by="recipe", ddf="kenward-roger")
    ours = em.contrast("trt.vs.ctrl").table
    assert_p(ours["p.value"].to_numpy(), ref["p.value"])
    dunnettx = reference("cake_factorial")["postfit"]["emmeans"][2]["contrasts"][0]["table"]
    assert abs(ours["p.value"].iloc[1] - dunnettx["p.value"][1]) > 0.03


def test_at_fixes_a_covariate() -> None:
    ref = EXTRA["exam_at"]["table"]  # emmeans(m, ~ schgend, at = list(standLRT = 1), KR)
    em = extra_fit("exam").emmeans("schgend", at={"standLRT": 1}, ddf="kenward-roger")
    _compare(em.table, ref, ["schgend"])


@pytest.mark.parametrize("adjust", ["sidak", "bonferroni", "holm", "scheffe", "none"])
def test_adjustments_match_emmeans(adjust: str) -> None:
    ref = EXTRA[f"exam_pairs_{adjust}"]["table"]
    em = extra_fit("exam").emmeans("schgend", ddf="satterthwaite")
    _compare(em.pairs(adjust=adjust).table, ref, ["contrast"], loose=True)


def test_reverse_pairs() -> None:
    ref = EXTRA["exam_revpairs"]["table"]  # pairs(em, reverse = TRUE)
    em = extra_fit("exam").emmeans("schgend", ddf="satterthwaite")
    _compare(em.pairs(reverse=True).table, ref, ["contrast"], loose=True)


def test_custom_contrasts() -> None:
    ref = EXTRA["cake_custom"]["table"]
    em = extra_fit("cake").emmeans("recipe", ddf="satterthwaite")
    res = em.contrast({"AvsBC": [1, -0.5, -0.5], "BvsC": [0, 1, -1]})
    _compare(res.table, ref, ["contrast"], loose=True)


def test_effect_contrasts_fdr() -> None:
    ref = EXTRA["cake_eff"]["table"]  # contrast(em, "eff"): fdr by default
    em = extra_fit("cake").emmeans("recipe", ddf="satterthwaite")
    _compare(em.contrast("eff").table, ref, ["contrast"], loose=True)


def test_polynomial_contrasts() -> None:
    coef = EXTRA["cake_poly_coef"]["table"]  # coef(contrast(em, "poly")): integer weights
    em = extra_fit("cake").emmeans("temperature", ddf="satterthwaite")
    res = em.contrast("poly")
    _compare(res.table, EXTRA["cake_poly"]["table"], ["contrast"], loose=True)
    from lmerpy.postfit.emmeans import _poly

    weights, names = _poly(6)
    np.testing.assert_array_equal(weights, np.array([coef[f"c.{k}"] for k in range(1, 6)]))
    assert names[:3] == ["linear", "quadratic", "cubic"]


def test_poisson_rates_and_ratios() -> None:
    em = extra_fit("grouse").emmeans("YEAR", type="response")
    _compare(em.table, EXTRA["grouse_rate"]["table"], ["YEAR"])
    _compare(em.pairs().table, EXTRA["grouse_ratio"]["table"], ["contrast"], loose=True)


def test_tukey_on_other_families_becomes_sidak() -> None:
    em = extra_fit("cake").emmeans("recipe", ddf="satterthwaite")
    res = em.contrast("trt.vs.ctrl", adjust="tukey")
    assert res.adjust.startswith("sidak") and "sidak" in res.notes[0]


def test_interaction_note_as_emmeans() -> None:
    """emmeans(m, ~ recipe) on cake notes "Results may be misleading due to involvement in
    interactions" (the corpus entry's notes); Exam's model has no interaction."""
    ref = reference("cake_factorial")["postfit"]["emmeans"][0]["notes"]
    assert "involvement in interactions" in (ref if isinstance(ref, str) else " ".join(ref))
    assert "involvement in interactions" in str(fit("cake_factorial").emmeans("recipe"))
    assert not fit("exam_factors").emmeans("schgend").notes


def test_defaults_follow_emmeans() -> None:
    em = fit("exam_factors").emmeans("schgend")
    assert em.ddf == "kenward-roger"  # REML fit
    assert fit("cbpp_binomial").emmeans("period").ddf == "asymptotic"
    assert em.averaged_over == ["sex"]


def test_printout_reads_like_emmeans() -> None:
    em = fit("exam_factors").emmeans("sex", by="schgend")
    text = str(em)
    assert "schgend = mixed:" in text and "Degrees-of-freedom method: kenward-roger" in text
    assert "P value adjustment: tukey" in str(em.pairs())
    assert "schgend = boys:" in str(em.pairs())
    assert "<table" in em._repr_html_()


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda f: f.emmeans("nonesuch"), ArgumentError, "not a variable"),
        (lambda f: f.emmeans(3), ArgumentTypeError, "specs must be"),
        (lambda f: f.emmeans("sex", ddf="bogus"), ArgumentError, "ddf must be"),
        (lambda f: f.emmeans("sex", type="odds"), ArgumentError, "type must be"),
        (lambda f: f.emmeans("sex", at={"nonesuch": 1}), ArgumentError, "at names"),
        (lambda f: f.emmeans("sex").contrast("bogus"), ArgumentError, "method must be"),
        (lambda f: f.emmeans("sex").pairs(adjust="bogus"), ArgumentError, "adjust must be"),
        (lambda f: f.emmeans("schgend").contrast({"a": [1, -1]}), ArgumentError, "3 weights"),
    ],
)
def test_bad_arguments(call: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        call(fit("exam_factors"))


def test_generalized_fits_are_asymptotic() -> None:
    with pytest.raises(ArgumentError, match="asymptotic"):
        fit("cbpp_binomial").emmeans("period", ddf="kenward-roger")
