"""The ``lmerpy`` command: the README's main job (``lmerpy``, i.e. ``lmerpy demo``) and
``lmerpy fit``. The figures of ``lmerpy demo --out`` are tested in test_plots.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmerpy import datasets
from lmerpy.__main__ import main


def test_no_arguments_runs_the_report_demo(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Kaplan (2010), An Overview of Multilevel Regression")
    assert "Table 2.1. R (lmer) output for variable intercept model of exam data" in out
    # Table 2.1 printed REMLdev 9369; lme4 1.1-31: REMLcrit(lmer(normexam ~ standLRT +
    # (1 | school), Exam)) = 9368.765
    (line,) = [s for s in out.splitlines() if s.startswith("REMLdev") and "9369" in s]
    assert line.split() == ["REMLdev", "9369", "9368.8"]
    assert "Table 4.2. St. Dev of Residuals" in out
    assert "Figures: none written" in out


def test_fit_without_a_formula_fits_the_exam_random_slope_model(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["fit"]) == 0
    out = capsys.readouterr().out
    # lme4 1.1-31: REMLcrit(lmer(normexam ~ standLRT + (standLRT | school), Exam)) = 9327.6003
    assert "REML criterion at convergence: 9327.6" in out
    assert "Number of obs: 4059, groups:  school, 65" in out
    assert "Satterthwaite" in out


def test_a_formula_first_is_short_for_fit(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["Reaction ~ Days + (Days | Subject)", "--data", "sleepstudy"]) == 0
    assert "Formula: Reaction ~ Days + (Days | Subject)" in capsys.readouterr().out


def test_errors_are_reported_without_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "Yield ~ 1 + (1 | Bach)", "--data", "dyestuff"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: column 'Bach' is not in the data (did you mean 'Batch'?)")


def test_ml_fit_prints_the_likelihood_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "Reaction ~ Days + (Days | Subject)", "--data", "sleepstudy", "--ml"]) == 0
    out = capsys.readouterr().out
    assert "fit by maximum likelihood" in out and "df.resid" in out


def test_json_and_markdown_formats(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "sleep.csv"
    datasets.load("sleepstudy").to_csv(path, index=False)
    assert (
        main(["fit", "Reaction ~ Days + (Days | Subject)", "--data", str(path), "--format", "json"])
        == 0
    )
    record = json.loads(capsys.readouterr().out)
    # lme4 1.1-31: REMLcrit(lmer(Reaction ~ Days + (Days | Subject), sleepstudy))
    assert record["reml_criterion"] == pytest.approx(1743.6283, abs=1e-3)
    assert record["coefficients"]["Days"]["df"] == pytest.approx(17.0, rel=0.01)
    assert (
        main(
            [
                "fit",
                "Reaction ~ Days + (Days | Subject)",
                "--data",
                str(path),
                "--format",
                "markdown",
            ]
        )
        == 0
    )
    assert "| Days |" in capsys.readouterr().out


def test_missing_file_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "y ~ (1 | g)", "--data", "nowhere.csv"]) == 2
    assert "no such file: nowhere.csv" in capsys.readouterr().err


def test_family_fits_a_generalized_model(capsys: pytest.CaptureFixture[str]) -> None:
    formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    assert main(["fit", formula, "--data", "cbpp", "--family", "binomial"]) == 0
    out = capsys.readouterr().out
    assert "Generalized linear mixed model fit by maximum likelihood" in out
    assert " Family: binomial  ( logit )" in out
    assert main(["fit", formula, "--data", "cbpp", "--family", "binomial", "--format", "json"]) == 0
    record = json.loads(capsys.readouterr().out)
    # lme4 1.1-31: logLik(glmer(<formula>, cbpp, binomial)) = -92.02657; lmerpy's exact
    # Laplace optimum is 2.8e-4 higher (lme4's PIRLS stops early)
    assert record["family"] == "binomial  ( logit )"
    assert record["logLik"] == pytest.approx(-92.02657, abs=1e-3)
    assert "z value" in record["coefficients"]["period2"]


def test_glmmtmb_families_with_zero_inflation_from_the_command_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    formula = "TICKS ~ YEAR + (1 | LOCATION)"
    assert (
        main(["fit", formula, "--data", "grouseticks", "--family", "nbinom2", "--zi", "~ 1"]) == 0
    )
    out = capsys.readouterr().out
    assert "Family: nbinom2  ( log )" in out and "Zero-inflation model:" in out
    assert main(["fit", "Reaction ~ Days + (1 | Subject)", "--data", "sleepstudy",
                 "--family", "gamma", "--link", "log", "--format", "json"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["family"] == "gamma  ( log )"
    assert main(["fit", formula, "--data", "grouseticks", "--zi", "~ 1"]) == 2
    assert "--zi and --disp need a --family" in capsys.readouterr().err
