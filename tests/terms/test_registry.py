"""The term-type registry: a type defined outside the package plugs into parse, fit, print."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import lmerpy
from lmerpy.errors import FormulaSemanticError, FormulaSyntaxError
from lmerpy.terms import registered_term_types, unregister_term_type

ROOT = Path(__file__).resolve().parents[2]


class Scaled:
    """A toy type: T = θ·diag(1, 2, ..., p) (variances in a fixed 1:4:9 ratio)."""

    name = "scaled"

    def __init__(self, base: float = 1.0) -> None:
        if not isinstance(base, int | float) or isinstance(base, bool) or base <= 0:
            raise ValueError("base must be a positive number")
        self.base = float(base)

    def n_theta(self, n_cols: int) -> int:
        return 1

    def theta_start(self, n_cols: int) -> np.ndarray:
        return np.ones(1)

    def lower_bounds(self, n_cols: int) -> np.ndarray:
        return np.zeros(1)

    def upper_bounds(self, n_cols: int) -> np.ndarray:
        return np.full(1, np.inf)

    def lambda_block(self, theta: np.ndarray, n_cols: int) -> np.ndarray:
        return float(theta[0]) * np.diag(self.base * np.arange(1.0, n_cols + 1))

    def theta_names(self, columns: list[str], group: str) -> list[str]:
        return [f"{group}.scale"]


@pytest.fixture
def scaled() -> Iterator[None]:
    lmerpy.register_term_type("scaled", Scaled)
    yield
    unregister_term_type("scaled")


def test_a_registered_type_parses_fits_and_names_its_parameter(scaled: None) -> None:
    assert "scaled" in registered_term_types()
    spec = lmerpy.parse_formula("y ~ x + scaled(0 + f | g, base = 2)")
    assert spec.random[0].type == "scaled" and spec.random[0].options == (("base", 2),)
    fit = lmerpy.lmer("strength ~ 1 + scaled(1 | batch)", lmerpy.datasets.load("pastes"))
    plain = lmerpy.lmer("strength ~ 1 + (1 | batch)", lmerpy.datasets.load("pastes"))
    assert fit.reml_criterion == pytest.approx(plain.reml_criterion, abs=1e-7)  # p = 1: same
    assert list(fit.theta.index) == ["batch.scale"]


def test_options_are_validated_by_the_type(scaled: None) -> None:
    with pytest.raises(FormulaSemanticError, match="base must be a positive number"):
        lmerpy.parse_formula("y ~ scaled(1 | g, base = -1)")
    with pytest.raises(FormulaSemanticError, match="an option must be a literal"):
        lmerpy.parse_formula("y ~ scaled(1 | g, base = x)")


def test_unknown_types_list_the_registered_ones() -> None:
    with pytest.raises(FormulaSyntaxError, match="registered term types: ar1, cs, diag, us"):
        lmerpy.parse_formula("y ~ scaled(1 | g)")


def test_names_are_checked() -> None:
    with pytest.raises(ValueError, match="already registered"):
        lmerpy.register_term_type("us", Scaled)
    with pytest.raises(ValueError, match="identifier"):
        lmerpy.register_term_type("not a name", Scaled)


def test_the_example_script_runs_and_agrees() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "custom_term_type.py")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith("agree")
