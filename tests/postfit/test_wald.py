"""car::Anova's type II and III Wald tests against car 3.1-1 with pbkrtest 0.5.2 (each entry's
``r_call``, e.g. ``car::Anova(m, type = 2, test.statistic = "F")``): statistics 1%, Df exactly,
Df.res 1%, p-values 1e-3. Type III is checked against car under sum-to-zero contrasts
(``table_contr_sum``), where that exists, since lmerpy tests type III hypotheses in that
parametrisation; under R's default treatment contrasts car's type III tests main effects at the
first level of the factors they interact with (docs/postfit.md), and lmerpy does not."""

from __future__ import annotations

from typing import Any

import pytest

from lmerpy.errors import ArgumentError

from .corpus import MODELS, assert_p, assert_rel, fit, reference


def _entries() -> list[tuple[str, int]]:
    return [(m, i) for m in MODELS for i, _ in enumerate(reference(m)["postfit"]["anova"])]


@pytest.mark.parametrize(("model", "i"), _entries())
def test_anova_matches_car(model: str, i: int) -> None:
    a: dict[str, Any] = reference(model)["postfit"]["anova"][i]
    ref = a.get("table_contr_sum") or a["table"]
    table = fit(model).anova(type=a["type"], test=a["test"])
    assert list(table.index) == ref["term"]
    stat = "F" if a["test"] == "F" else "Chisq"
    assert_rel(table[stat], ref[stat], 0.01)
    assert list(table["Df"]) == ref["Df"]
    if "Df.res" in ref:
        assert_rel(table["Df.res"], ref["Df.res"], 0.01)
    assert_p(table[f"Pr(>{'F' if stat == 'F' else 'Chisq'})"].to_numpy(), ref[f"Pr(>{stat})"])


def test_cake_type3_differs_from_cars_treatment_coding() -> None:
    """The R output this rejects: car's type III recipe F = 0.310 (2, 77.4 df) under treatment
    contrasts, against 0.249 (2, 42 df) under sum-to-zero contrasts, which equals type II in this
    balanced design."""
    a = next(
        e
        for e in reference("cake_factorial")["postfit"]["anova"]
        if e["type"] == 3 and e["test"] == "F"
    )
    ours = fit("cake_factorial").anova(type=3, test="F").loc["recipe", "F"]
    assert ours == pytest.approx(a["table_contr_sum"]["F"][1], rel=1e-3)
    assert abs(ours - a["table"]["F"][1]) > 0.05


def test_without_type_anova_stays_lmertest() -> None:
    table = fit("exam_factors").anova()
    assert list(table.columns) == ["Sum Sq", "Mean Sq", "NumDF", "DenDF", "F value", "Pr(>F)"]


@pytest.mark.parametrize(
    ("model", "kwargs", "match"),
    [
        ("cbpp_binomial", {"test": "F"}, "REML linear fit"),
        ("exam_factors", {"type": 1}, "type must be"),
        ("exam_factors", {"test": "LR"}, "test must be"),
    ],
)
def test_bad_requests(model: str, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ArgumentError, match=match):
        fit(model).anova(**kwargs)
