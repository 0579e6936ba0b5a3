"""Cluster-robust covariances against clubSandwich 0.5.8: ``vcovCR(m, type = "CR0" | "CR1" |
"CR2")`` for the corpus models (every element within 1% of sqrt(V_ii V_jj)), and
``coef_test(m, vcov = "CR2", test = "Satterthwaite")`` (postfit_extra.R): SEs 1e-4 relative,
df 1%, p 1e-3."""

from __future__ import annotations

import numpy as np
import pytest

import lmerpy
from lmerpy.errors import ArgumentError

from .corpus import EXTRA, MODELS, assert_p, assert_rel, extra_fit, fit, reference


def _entries() -> list[tuple[str, int]]:
    return [
        (m, i) for m in MODELS for i, _ in enumerate(reference(m)["postfit"].get("vcov_robust", []))
    ]


@pytest.mark.parametrize(("model", "i"), _entries())
def test_vcov_robust_matches_clubsandwich(model: str, i: int) -> None:
    v = reference(model)["postfit"]["vcov_robust"][i]
    ours = fit(model).vcov_robust(type=v["type"])
    assert list(ours.index) == v["names"]
    ref = np.asarray(v["matrix"], float).reshape(len(v["names"]), -1)
    scale = np.sqrt(np.outer(np.diag(ref), np.diag(ref)))
    assert np.all(np.abs(ours.to_numpy() - ref) <= 0.01 * scale)


@pytest.mark.parametrize("name", ["sleep", "exam", "cake"])
def test_coef_test_cr2_matches_clubsandwich(name: str) -> None:
    ref = EXTRA[f"{name}_coef_test_CR2"]["table"]
    table = extra_fit(name).coef_table(vcov="CR2")
    assert list(table.index) == ref["Coef"]
    assert_rel(table["Std. Error"], ref["SE"], 1e-4)
    assert_rel(table["df"], ref["df_Satt"], 0.01)
    assert_p(table["Pr(>|t|)"].to_numpy(), ref["p_Satt"])


def test_default_cluster_is_the_coarsest_grouping_factor() -> None:
    pastes = lmerpy.datasets.load("pastes")
    m = lmerpy.lmer("strength ~ 1 + (1 | batch) + (1 | batch:cask)", pastes)
    np.testing.assert_allclose(m.vcov_robust("CR1"), m.vcov_robust("CR1", cluster="batch"))


def test_crossed_effects_are_refused() -> None:
    penicillin = lmerpy.datasets.load("penicillin")
    m = lmerpy.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", penicillin)
    with pytest.raises(ArgumentError, match="do not nest"):
        m.vcov_robust()


def test_bad_type_and_kind() -> None:
    with pytest.raises(ArgumentError, match="type must be"):
        fit("sleepstudy_corr").vcov_robust("HC3")
    with pytest.raises(ArgumentError, match="linear fits"):
        fit("cbpp_binomial").vcov_robust()
    with pytest.raises(ArgumentError, match="vcov must be"):
        fit("sleepstudy_corr").coef_table(vcov="HC0")
