"""Separation of the fixed effects, detected before fitting (lmerpy.glmm.separation)."""

from __future__ import annotations

import warnings
from functools import cache
from unittest.mock import patch

import numpy as np
import pandas as pd
import pytest

import lmerpy
from lmerpy.glmm import fit as glmm_fit
from lmerpy.glmm import separation as module
from lmerpy.glmm.separation import Separation, separation, separation_message

# Data behind the glmer reference fits (tests/reference/*.json, tests/reference/glmer);
# weights name a column. None of them is separated.
REAL = {
    "cbpp": ("cbind(incidence, size - incidence) ~ period + (1 | herd)", "cbpp", "binomial", None),
    "cbpp_prop": ("prop ~ period + (1 | herd)", "cbpp", "binomial", "size"),
    "cbpp_poisson_offset": ("incidence ~ period + offset(log(size)) + (1 | herd)", "cbpp", "poisson", None),
    "cbpp_bernoulli": ("y ~ period + (1 | herd)", "cbpp_bernoulli", "binomial", None),
    "grouseticks": ("TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)", "grouseticks", "poisson", None),
    "grouseticks_slope": ("TICKS ~ YEAR + HEIGHT_s + (1 + HEIGHT_s | LOCATION) + (1 | INDEX)", "grouseticks", "poisson", None),
    "verbagg": ("r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", "verbagg", "binomial", None),
}  # fmt: skip


@cache
def data(name: str) -> pd.DataFrame:
    """A bundled data set, with the derived columns the reference fits use."""
    if name == "cbpp_bernoulli":  # one 0/1 row per animal, as make_references.R builds it
        cbpp = data("cbpp")
        rows = cbpp.loc[cbpp.index.repeat(cbpp["size"])].reset_index(drop=True)
        within = rows.groupby(["herd", "period"], observed=True).cumcount()
        return rows.assign(y=(within < rows["incidence"]).astype(int))
    frame = lmerpy.datasets.load(name)
    if name == "cbpp":
        return frame.assign(prop=frame["incidence"] / frame["size"])
    if name == "grouseticks":
        height = frame["HEIGHT"]
        return frame.assign(HEIGHT_s=(height - height.mean()) / height.std())
    return frame


def design(formula: str, data_name: str, family: str, weights: str | None = None) -> tuple[
        np.ndarray, np.ndarray, list[str], np.ndarray | None]:  # fmt: skip
    """X, y (a proportion for binomial), column names and prior weights, as glmer builds them."""
    with warnings.catch_warnings(), patch.object(glmm_fit, "_check_separation"):
        warnings.simplefilter("ignore")  # the design glmer builds, before it checks separation
        d, _ = lmerpy.glformula(formula, data(data_name), family, weights=weights)
    return d.X, d.y, d.x_columns, d.weights


def detect(formula: str, frame: pd.DataFrame, family: str) -> Separation | None:
    """separation() on the design glmer would build from ``frame``."""
    with patch.object(glmm_fit, "_check_separation"):
        d, _ = lmerpy.glformula(formula, frame, family)
    return separation(d.X, d.y, family, d.x_columns, d.weights)


def assert_direction(sep: Separation, X: np.ndarray, y: np.ndarray) -> None:
    """X d has the signs the conditions require, checked independently of the module."""
    z, rows = X @ np.array(sep.direction), np.arange(len(y))
    pushed = np.isin(rows, sep.to_zero + sep.to_one)
    np.testing.assert_array_less(z[list(sep.to_zero)], -1e-6)
    np.testing.assert_array_less(1e-6, z[list(sep.to_one)])
    np.testing.assert_allclose(z[~pushed], 0.0, atol=1e-9)
    assert (y[list(sep.to_zero)] == 0).all() and (y[list(sep.to_one)] == 1).all()


BRIEF = pd.DataFrame({"y": [2, 0, 0, 1], "x": [2, 0, 0, 2], "g": [0, 0, 0, 1]})


def test_the_poisson_frame_that_breaks_pirls_is_quasi_separated() -> None:
    sep = detect("y ~ x + (1 | g)", BRIEF, "poisson")
    assert sep is not None
    assert sep.columns == ("(Intercept)", "x") and sep.kind == "quasi-complete"
    np.testing.assert_allclose(sep.direction, [-1.0, 0.5])  # d ∝ (-2, 1)
    assert sep.to_zero == (1, 2) and sep.to_one == () and sep.n_rows == 4
    message = separation_message(sep)
    assert message.startswith("quasi-complete separation: along a direction in the fixed "
                              "effects (Intercept), x, the fitted mean goes to 0 on 2 rows "
                              "with zero counts and stays fixed on the other 2 rows")  # fmt: skip
    assert "infinite" in message


def test_complete_separation_of_binary_data() -> None:
    x = np.array([-3.0, -2.0, -0.5, 0.5, 1.0, 4.0])
    frame = pd.DataFrame({"y": (x > 0).astype(int), "x": x, "g": [0, 1, 2, 0, 1, 2]})
    sep = detect("y ~ x + (1 | g)", frame, "binomial")
    assert sep is not None and sep.kind == "complete" and "x" in sep.columns
    assert sep.to_zero == (0, 1, 2) and sep.to_one == (3, 4, 5)
    assert_direction(sep, np.column_stack([np.ones(6), x]), frame["y"].to_numpy(float))
    message = separation_message(sep)
    assert "to 0 on 3 all-failure rows and to 1 on 3 all-success rows, so" in message


def test_quasi_complete_separation_by_a_factor_level_of_failures() -> None:
    frame = pd.DataFrame({"f": list("aaabbbccc") * 2, "g": np.repeat([0, 1, 2], 6),
                          "y": [0, 1, 0, 1, 0, 1, 0, 0, 0] * 2})  # fmt: skip
    sep = detect("y ~ f + (1 | g)", frame, "binomial")
    assert sep is not None and sep.kind == "quasi-complete"
    assert sep.columns == ("fc",) and sep.direction == (0.0, 0.0, -1.0)
    assert sep.to_zero == (6, 7, 8, 15, 16, 17) and sep.to_one == ()


def test_binomial_proportions_with_trials() -> None:
    """Rows with 0 < y < 1 hold X d at 0: level c has only failures, a and b mixed."""
    frame = pd.DataFrame({"f": list("abcabc"), "g": [0, 0, 0, 1, 1, 1],
                          "s": [1, 0, 0, 3, 4, 0], "n": [5, 4, 6, 5, 4, 6]})  # fmt: skip
    sep = detect("cbind(s, n - s) ~ f + (1 | g)", frame, "binomial")
    assert sep is not None and sep.columns == ("fc",) and sep.to_zero == (2, 5)
    frame.loc[5, "s"] = 1  # level c now has a success
    assert detect("cbind(s, n - s) ~ f + (1 | g)", frame, "binomial") is None


def test_poisson_with_a_factor_level_of_zeros() -> None:
    frame = pd.DataFrame({"f": list("abcd") * 3, "g": np.repeat([0, 1, 2], 4),
                          "y": [3, 0, 0, 2, 1, 0, 0, 0, 4, 2, 0, 5]})  # fmt: skip
    sep = detect("y ~ f + (1 | g)", frame, "poisson")
    assert sep is not None and sep.columns == ("fc",) and sep.to_zero == (2, 6, 10)
    message = separation_message(sep)
    assert "goes to 0 on 3 rows with zero counts and stays fixed on the other 9 rows" in message


def test_a_real_data_set_with_zero_locations_as_fixed_effects() -> None:
    """grouseticks with LOCATION as a fixed factor: locations with no ticks at all."""
    frame = data("grouseticks")
    sep = detect("TICKS ~ YEAR + LOCATION + (1 | BROOD)", frame, "poisson")
    assert sep is not None and sep.to_one == ()
    totals = frame.groupby("LOCATION", observed=True)["TICKS"].transform("sum")
    assert set(np.flatnonzero(totals == 0)) <= set(sep.to_zero)
    assert (frame["TICKS"].to_numpy()[list(sep.to_zero)] == 0).all()
    X, y, _, _ = design("TICKS ~ YEAR + LOCATION + (1 | BROOD)", "grouseticks", "poisson")
    assert_direction(sep, X, y)


@pytest.mark.parametrize(
    ("frame", "family"),
    [
        (pd.DataFrame({"x": [-2.0, -1, 0, 1, 2, 3], "y": [0, 1, 0, 1, 0, 1]}), "binomial"),
        (pd.DataFrame({"x": [0.0, 0, 1, 1, 2, 2], "y": [0, 2, 0, 1, 3, 0]}), "poisson"),
        (BRIEF.assign(y=[2, 1, 0, 1]), "poisson"),  # one zero no longer separates
    ],
)
def test_overlapping_data_are_not_flagged(frame: pd.DataFrame, family: str) -> None:
    frame = frame.assign(g=np.arange(len(frame)) % 2)
    assert detect("y ~ x + (1 | g)", frame, family) is None


@pytest.mark.parametrize("name", REAL)
def test_no_false_positive_on_the_reference_data(name: str) -> None:
    X, y, columns, weights = design(*REAL[name])
    family = REAL[name][2]
    assert separation(X, y, family, columns, weights) is None


def test_no_boundary_row_skips_the_linear_programme(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("linprog called")

    monkeypatch.setattr(module, "linprog", fail)
    X = np.column_stack([np.ones(4), [0.0, 1, 2, 3]])
    assert separation(X, np.array([1.0, 2, 5, 1]), "poisson", ["a", "b"]) is None
    assert separation(X, np.array([0.5, 0.25, 0.1, 0.9]), "binomial", ["a", "b"]) is None


def test_rows_with_zero_weight_are_ignored() -> None:
    X = np.column_stack([np.ones(5), [-2.0, -1, 1, 2, 1.5]])
    y = np.array([0.0, 0, 1, 1, 0])  # the last row overlaps
    assert separation(X, y, "binomial", ["(Intercept)", "x"]) is None
    sep = separation(X, y, "binomial", ["(Intercept)", "x"], np.array([1.0, 1, 1, 1, 0]))
    assert sep is not None and sep.kind == "complete" and sep.n_rows == 4
    assert sep.to_zero == (0, 1) and sep.to_one == (2, 3)


def test_every_pushable_row_is_reported() -> None:
    """Two separating rays; a single LP vertex pushes only the heavier row, so the second
    solve must add the other: a_1 = (1/2, -1) twice, a_2 = (0, 1), all successes."""
    X = np.array([[0.5, -1.0], [0.5, -1.0], [0.0, 1.0]])
    sep = separation(X, np.ones(3), "binomial", ["u", "v"])
    assert sep is not None and sep.to_one == (0, 1, 2) and sep.kind == "complete"


@pytest.mark.parametrize(
    ("y", "family", "names", "match"),
    [
        ([0.0, 1.0], "gaussian", ["a"], "family"),
        ([0.0, 1.5], "binomial", ["a"], "proportion"),
        ([0.0, -1.0], "poisson", ["a"], "count"),
        ([0.0, 1.0], "poisson", ["a", "b"], "names"),
    ],
)
def test_bad_input(y: list[float], family: str, names: list[str], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        separation(np.ones((2, 1)), np.array(y), family, names)


def test_glmer_refuses_separated_data_before_fitting() -> None:
    with pytest.raises(lmerpy.errors.SeparationError, match="quasi-complete separation"):
        lmerpy.glmer("y ~ x + (1 | g)", BRIEF, "poisson")
    assert detect("y ~ x + (1 | g)", BRIEF.assign(y=[2, 1, 0, 1]), "poisson") is None


def _large(seed: int, separated: bool) -> tuple[np.ndarray, np.ndarray]:
    """4,000 distinct binary rows with a covariate and a rare factor level; with
    ``separated`` that level's 12 rows are all failures (quasi-complete separation)."""
    rng = np.random.default_rng(seed)
    n = 4_000
    x, rare = rng.normal(size=n), np.zeros(n)
    rare[rng.choice(n, 12, replace=False)] = 1.0
    y = (rng.random(n) < 1 / (1 + np.exp(-0.3 * x))).astype(float)
    if separated:
        y[rare == 1] = 0.0
    else:
        y[np.flatnonzero(rare)[:2]] = [0.0, 1.0]
    return np.column_stack([np.ones(n), x, rare]), y


def test_large_unseparated_data_are_cleared_by_one_sampled_programme(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Above SAMPLE_ROWS distinct rows a sample's programme decides when it finds d = 0
    with full rank: one small solve, not the whole programme."""
    sizes: list[int] = []
    solve = module._solve

    def counted(signed: np.ndarray, weight: np.ndarray, equal: np.ndarray) -> object:
        sizes.append(len(signed) + len(equal))
        return solve(signed, weight, equal)

    monkeypatch.setattr(module, "_solve", counted)
    monkeypatch.setattr(module, "SAMPLE_ROWS", 500)  # the data have 8 times as many
    X, y = _large(1, separated=False)
    assert separation(X, y, "binomial", ["(Intercept)", "x", "rare"]) is None
    assert len(sizes) == 1 and sizes[0] < 2 * module.SAMPLE_ROWS


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_sample_never_hides_a_separation(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A separation in a few rows the sample may miss is found as without the sample."""
    X, y = _large(seed, separated=True)
    names = ["(Intercept)", "x", "rare"]
    monkeypatch.setattr(module, "SAMPLE_ROWS", 500)  # a sample of ~500 holds ~1.5 rare rows
    sampled = separation(X, y, "binomial", names)
    monkeypatch.setattr(module, "SAMPLE_ROWS", 10**9)
    whole = separation(X, y, "binomial", names)
    assert sampled is not None and whole is not None
    assert sampled.to_zero == whole.to_zero == tuple(np.flatnonzero(X[:, 2]))
    assert sampled.columns == whole.columns == ("rare",)
