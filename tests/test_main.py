"""The ``lmerpy`` command: the README's main job."""

from __future__ import annotations

import pytest

from lmerpy.__main__ import main


def test_default_fits_the_exam_random_slope_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    # lme4 1.1-31: REMLcrit(lmer(normexam ~ standLRT + (standLRT | school), Exam)) = 9327.6003
    assert "REML criterion at convergence: 9327.600" in out
    assert "Number of obs: 4059, groups:  school, 65" in out


def test_errors_are_reported_without_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["Yield ~ 1 + (1 | Bach)", "--data", "dyestuff"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: column 'Bach' is not in the data (did you mean 'Batch'?)")


def test_ml_fit_prints_the_likelihood_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["Reaction ~ Days + (Days | Subject)", "--data", "sleepstudy", "--ml"]) == 0
    out = capsys.readouterr().out
    assert "fit by maximum likelihood" in out and "df.resid" in out
