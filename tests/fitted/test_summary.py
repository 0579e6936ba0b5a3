"""fit.summary(): lme4's summary with lmerTest's df, as text, Markdown and HTML."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import lmerpy


@pytest.fixture(scope="module")
def exam_fit() -> lmerpy.LmerResult:
    return lmerpy.lmer("normexam ~ standLRT + (standLRT | school)", lmerpy.datasets.load("exam"))


def test_text_reads_like_lme4s(exam_fit: lmerpy.LmerResult) -> None:
    text = str(exam_fit.summary())
    # lme4 1.1-31 + lmerTest 3.1-3: summary(lmer(normexam ~ standLRT + (standLRT | school), Exam))
    for expected in [
        "Linear mixed model fit by REML. t-tests use Satterthwaite's method",
        "REML criterion at convergence: 9327.6",
        "-3.8323 -0.6317 0.0339 0.6834 3.4562",
        "school   (Intercept)  0.09212   0.3035",
        "standLRT     0.01497   0.1223 0.49",
        "Number of obs: 4059, groups:  school, 65",
        "(Intercept) -0.011649   0.040111 60.653  -0.290    0.772",
        "standLRT      0.55653   0.020114 56.343  27.669   <2e-16 ***",
        "(Intr)",
        "standLRT  0.365",
    ]:
        assert expected in text, expected


def test_parts_are_values(exam_fit: lmerpy.LmerResult) -> None:
    s = exam_fit.summary()
    assert list(s.coefficients.columns) == ["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"]
    # lmerTest 3.1-3: summary(m)$coefficients[, "df"]
    np.testing.assert_allclose(s.coefficients["df"], [60.65323, 56.34358], rtol=1e-3)
    assert s.correlation.loc["standLRT", "(Intercept)"] == pytest.approx(0.365, abs=1e-3)
    assert list(s.scaled_residuals.index) == ["Min", "1Q", "Median", "3Q", "Max"]


def test_markdown_and_html(exam_fit: lmerpy.LmerResult) -> None:
    s = exam_fit.summary()
    md = s.to_markdown()
    assert "| standLRT |" in md and "*Fixed effects*" in md
    html = s._repr_html_()
    assert html.startswith("<div>") and "<table" in html and "standLRT" in html


def test_ml_summary_and_warnings_are_shown() -> None:
    data = lmerpy.datasets.load("dyestuff2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = lmerpy.lmer("Yield ~ 1 + (1 | Batch)", data, reml=False)
    text = str(fit.summary(ddf="residual"))
    assert "fit by maximum likelihood" in text and "t-tests use residual degrees of freedom" in text
    assert "AIC" in text and "df.resid" in text
    assert "warning: boundary (singular) fit" in text
