"""Multiplicity adjustments against R: ``p.adjust(p, "holm" | "fdr")``, Sidak's
1 - (1 - p)^m and ``ptukey(sqrt(2) * t, nmeans, df, lower.tail = FALSE)`` (R 4.2), with the
values R printed; the Dunnett distribution against a simulation of its definition."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from lmerpy.errors import ArgumentError
from lmerpy.postfit.adjust import adjust_p, dunnett_sf

P = np.array([0.01, 0.04, 0.03, 0.02, 0.2])
Z = stats.norm.isf(P / 2)  # z ratios whose two-sided p-values are P


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("holm", [0.05, 0.09, 0.09, 0.08, 0.20]),  # p.adjust(p, "holm")
        ("fdr", [0.05, 0.05, 0.05, 0.05, 0.20]),  # p.adjust(p, "fdr")
        ("bonferroni", [0.05, 0.2, 0.15, 0.1, 1.0]),  # p.adjust(p, "bonferroni")
        ("sidak", [0.0490099501, 0.1846273024, 0.1412659743, 0.0960792032, 0.67232]),
        ("none", list(P)),
    ],
)
def test_p_adjust(method: str, expected: list[float]) -> None:
    got = adjust_p(Z, np.full(5, np.inf), method, n_means=5, rank=4)
    np.testing.assert_allclose(got, expected, rtol=1e-9)


@pytest.mark.parametrize(
    ("df", "expected"), [(20.0, 0.0904979596908856), (np.inf, 0.0598940107277548)]
)
def test_tukey(df: float, expected: float) -> None:
    got = adjust_p(np.array([2.5]), np.array([df]), "tukey", n_means=4, rank=3)
    assert got[0] == pytest.approx(expected, rel=1e-6)


def test_dunnett_by_simulation() -> None:
    """P(max |T_i| > t) for T_i = (U_i − U_0)/(√2 S), by 400,000 draws (SE ≤ 8e-4)."""
    rng = np.random.default_rng(17)
    k, df, t, n = 4, 12, 2.2, 400_000
    u = rng.standard_normal((n, k + 1))
    s = np.sqrt(rng.chisquare(df, n) / df)
    stat = np.abs(u[:, 1:] - u[:, :1]).max(axis=1) / (np.sqrt(2) * s)
    assert dunnett_sf(t, k, df) == pytest.approx(np.mean(stat > t), abs=3e-3)


@pytest.mark.parametrize("df", [3.0, 15.0, 200.0, np.inf])
def test_one_comparison_is_a_t_test(df: float) -> None:
    """The quadrature over χ's quantiles is good to ~1e-6 (p-values are compared to 1e-3)."""
    assert dunnett_sf(2.0, 1, df) == pytest.approx(2 * stats.t.sf(2.0, df), abs=5e-6)


def test_unknown_method() -> None:
    with pytest.raises(ArgumentError, match="adjust must be"):
        adjust_p(Z, np.full(5, np.inf), "hommel", n_means=5, rank=4)
