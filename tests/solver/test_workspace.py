"""Tests of the penalized least squares workspace (lmerpy.solver.workspace).

Reference numbers come from lme4 1.1-31 (R 4.2); each block names the R call that produced it.
The objective is evaluated at lme4's optimal θ, where it must reproduce lme4's criterion.
Blocked-algebra paths are also checked against a direct dense implementation of the formulas.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest

from lmerpy import datasets
from lmerpy.errors import ArgumentError
from lmerpy.solver import factor, fillin
from lmerpy.solver.workspace import PlsSolution, PlsWorkspace, ReBlock
from tests.solver.helpers import dense_reference, random_problem, three_crossed

# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _read(name: str) -> pd.DataFrame:
    """A bundled data set with every column as strings (factor labels)."""
    return datasets.load(name).astype(str)


def _codes(values: pd.Series, levels: list[str]) -> np.ndarray:
    codes = pd.Categorical(values, categories=levels).codes.astype(np.int64)
    assert (codes >= 0).all()
    return codes


def _T(theta: list[float], p: int) -> np.ndarray:
    """lme4's θ (lower triangle, column-major) as the p×p template T."""
    T = np.zeros((p, p))
    cols, rows = np.triu_indices(p)  # (column, row >= column), column-major order
    T[rows, cols] = theta
    return T


def _assert_matches_dense(sol: PlsSolution, ref: dict[str, object], rtol: float = 1e-9) -> None:
    assert sol.objective == pytest.approx(ref["objective"], rel=rtol)
    for key in ("pwrss", "ldL2", "ldRX2", "sigma"):
        assert getattr(sol, key) == pytest.approx(ref[key], rel=rtol), key
    for key in ("beta", "u", "b", "RX", "fitted"):
        np.testing.assert_allclose(getattr(sol, key), ref[key], rtol=1e-7, atol=1e-9, err_msg=key)
    for got, want in zip(sol.condvar, ref["condvar"], strict=True):  # type: ignore[call-overload]
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-12)


def _vcov_se(sol: PlsSolution) -> np.ndarray:
    RXinv = np.linalg.inv(sol.RX)
    return np.asarray(sol.sigma * np.sqrt(np.diag(RXinv @ RXinv.T)))


# ---------------------------------------------------------------------------------------------
# lme4 reference cases
# ---------------------------------------------------------------------------------------------


@dataclass
class Case:
    """A fit in lme4 and what it reported."""

    blocks: list[ReBlock]
    X: np.ndarray
    y: np.ndarray
    lambdas: list[np.ndarray]
    reml: bool
    criterion: float
    fixef: list[float]
    se: list[float]
    sigma: float
    ranef: list[tuple[int, int, int, float, float]]
    """(term, level, component, conditional mode, conditional variance)."""
    fitted: tuple[float, float]
    """First and last fitted value."""
    weights: np.ndarray | None = None
    dense_diag: tuple[bool, ...] = field(default=())


def _sleepstudy() -> tuple[list[ReBlock], np.ndarray, np.ndarray]:
    df = _read("sleepstudy")
    subjects = sorted(df.Subject.unique(), key=int)
    days = df.Days.astype(float).to_numpy()
    X = np.column_stack([np.ones(len(df)), days])
    blocks = [ReBlock(_codes(df.Subject, subjects), len(subjects), X.copy())]
    return blocks, X, df.Reaction.astype(float).to_numpy()


def case_sleepstudy_corr() -> Case:
    # lme4 1.1-31: m <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
    theta = [0.966741773967412, 0.0151690588960361, 0.230909953207795]  # getME(m, "theta")
    blocks, X, y = _sleepstudy()
    return Case(
        blocks,
        X,
        y,
        [_T(theta, 2)],
        reml=True,
        criterion=1743.62827195995,  # REMLcrit(m)
        fixef=[251.405104848485, 10.467285959596],  # fixef(m)
        se=[6.82459669495491, 1.54578964390598],  # sqrt(diag(vcov(m)))
        sigma=25.5917957216753,  # sigma(m)
        # ranef(m, condVar = TRUE)$Subject and diag of its "postVar", subjects 308, 309, 372
        ranef=[
            (0, 0, 0, 2.25855094990116, 145.70558751978),
            (0, 1, 0, -40.3987380788051, 145.70558751978),
            (0, 17, 0, 12.3145921077115, 145.70558751978),
            (0, 0, 1, 9.1989757655659, 5.31228291226458),
            (0, 17, 1, 1.28402207653257, 5.31228291226458),
        ],
        fitted=(253.663655798386, 369.481469281353),  # fitted(m)[c(1, 180)]
    )


def case_sleepstudy_corr_ml() -> Case:
    # lme4 1.1-31: m <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy, REML = FALSE)
    theta = [0.929190605278248, 0.018165754720412, 0.222643205612618]  # getME(m, "theta")
    blocks, X, y = _sleepstudy()
    return Case(
        blocks,
        X,
        y,
        [_T(theta, 2)],
        reml=False,
        criterion=1751.93934448899,  # deviance(m)
        fixef=[251.405104848486, 10.4672859595958],  # fixef(m)
        se=[6.63212274219029, 1.50223021383204],  # sqrt(diag(vcov(m)))
        sigma=25.591907036487,  # sigma(m)
        ranef=[  # ranef(m, condVar = TRUE)$Subject, subjects 308, 309, 372
            (0, 0, 0, 2.81578901966651, 140.964905812912),
            (0, 1, 0, -40.0478549179088, 140.964905812912),
            (0, 17, 1, 1.31072146377433, 5.15773522238427),
        ],
        fitted=(254.220893868152, 369.525900175454),  # fitted(m)[c(1, 180)]
    )


def case_penicillin_crossed() -> Case:
    # lme4 1.1-31: m <- lmer(diameter ~ 1 + (1 | plate) + (1 | sample), Penicillin)
    df = _read("penicillin")
    plates, samples = sorted(df.plate.unique()), sorted(df["sample"].unique())
    one = np.ones((len(df), 1))
    blocks = [
        ReBlock(_codes(df.plate, plates), 24, one),
        ReBlock(_codes(df["sample"], samples), 6, one),
    ]
    theta = [1.53967555430648, 3.51251885988167]  # getME(m, "theta")
    return Case(
        blocks,
        one,
        df.diameter.astype(float).to_numpy(),
        [np.array([[theta[0]]]), np.array([[theta[1]]])],
        reml=True,
        criterion=330.860588999604,  # REMLcrit(m)
        fixef=[22.9722222222219],
        se=[0.808595361386344],
        sigma=0.549922682062881,
        ranef=[  # ranef(m, condVar = TRUE): plate a, b, x; sample A, B, F
            (0, 0, 0, 0.804546905840962, 0.0736358711053271),
            (0, 1, 0, 0.804546905840962, 0.0736358711053271),
            (0, 23, 0, -1.21979692175885, 0.0736358711053271),
            (1, 0, 0, 2.18705840183027, 0.0408729859162042),
            (1, 1, 0, -1.01047635021229, 0.0408729859162042),
            (1, 5, 0, -3.00374476706998, 0.0408729859162042),
        ],
        fitted=(25.9638275298931, 18.7486805333931),
        dense_diag=(False, True),
    )


def case_pastes_nested() -> Case:
    # lme4 1.1-31: m <- lmer(strength ~ 1 + (1 | batch/cask), Pastes)
    # Terms in lme4's order: cask:batch (30 levels, "a:A", "a:B", ..., "c:J"), then batch (10).
    df = _read("pastes")
    batches, casks = sorted(df.batch.unique()), sorted(df.cask.unique())
    batch = _codes(df.batch, batches)
    cask_batch = _codes(df.cask, casks) * len(batches) + batch
    one = np.ones((len(df), 1))
    blocks = [ReBlock(cask_batch, 30, one), ReBlock(batch, 10, one)]
    theta = [3.52690178773174, 1.56346140209686]  # getME(m, "theta")
    return Case(
        blocks,
        one,
        df.strength.astype(float).to_numpy(),
        [np.array([[theta[0]]]), np.array([[theta[1]]])],
        reml=True,
        criterion=246.990745853487,  # REMLcrit(m)
        fixef=[60.0533333333354],
        se=[0.676870215074031],
        sigma=0.823407523446778,
        ranef=[  # ranef(m, condVar = TRUE): cask:batch a:A, a:B, c:J; batch A, B, J
            (0, 0, 0, 1.77468628537195, 1.30352694207795),
            (0, 1, 0, 0.883655895342906, 1.30352694207795),
            (0, 29, 0, -1.70312092080671, 1.30352694207795),
            (1, 0, 0, 0.800645020017794, 1.05779989006469),
            (1, 1, 0, -0.272508696573303, 1.05779989006469),
            (1, 9, 0, -0.531753695525126, 1.05779989006469),
        ],
        fitted=(62.6286646387252, 57.8184587170036),
        dense_diag=(False, False),
    )


def case_dyestuff() -> Case:
    # lme4 1.1-31: m <- lmer(Yield ~ 1 + (1 | Batch), Dyestuff)
    df = _read("dyestuff")
    one = np.ones((len(df), 1))
    blocks = [ReBlock(_codes(df.Batch, sorted(df.Batch.unique())), 6, one)]
    return Case(
        blocks,
        one,
        df.Yield.astype(float).to_numpy(),
        [np.array([[0.848323783218823]])],  # getME(m, "theta")
        reml=True,
        criterion=319.654276842257,  # REMLcrit(m)
        fixef=[1527.5],
        se=[19.3834121787528],
        sigma=49.5100999656347,
        ranef=[  # ranef(m, condVar = TRUE)$Batch: A, B, F
            (0, 0, 0, -17.606851366879, 383.633727898101),
            (0, 1, 0, 0.391263363707636, 383.633727898101),
            (0, 5, 0, -44.9952868264672, 383.633727898101),
        ],
        fitted=(1509.89314863312, 1482.50471317353),
    )


def case_cbpp_weighted() -> Case:
    # lme4 1.1-31: m <- lmer(prop ~ period + (1 | herd), transform(cbpp, prop = incidence / size),
    #                        weights = size)
    df = _read("cbpp")
    herds = [str(i) for i in range(1, 16)]
    period = df.period.astype(int).to_numpy()
    X = np.column_stack([np.ones(len(df))] + [(period == k).astype(float) for k in (2, 3, 4)])
    one = np.ones((len(df), 1))
    blocks = [ReBlock(_codes(df.herd, herds), 15, one)]
    return Case(
        blocks,
        X,
        df.prop.astype(float).to_numpy(),
        [np.array([[0.143740727679916]])],  # getME(m, "theta")
        reml=True,
        criterion=-49.3809494281143,  # REMLcrit(m)
        fixef=[0.217688694626741, -0.121065721165368, -0.130380245801524, -0.153548395643361],
        se=[0.0310028604542718, 0.0404390141069344, 0.0412460113743335, 0.0447211991473222],
        sigma=0.435626623209197,
        ranef=[  # ranef(m, condVar = TRUE)$herd: herds 1, 2, 15
            (0, 0, 0, 0.041701679658458, 0.00214673937332095),
            (0, 1, 0, -0.0307299770515571, 0.00173465748764832),
            (0, 14, 0, -0.0432133922464349, 0.00168835856889809),
        ],
        fitted=(0.259390374285199, 0.0209269067369451),
        weights=df["size"].astype(float).to_numpy(),
    )


CASES = {
    "sleepstudy_corr": case_sleepstudy_corr,
    "sleepstudy_corr_ml": case_sleepstudy_corr_ml,
    "penicillin_crossed": case_penicillin_crossed,
    "pastes_nested": case_pastes_nested,
    "dyestuff": case_dyestuff,
    "cbpp_weighted": case_cbpp_weighted,
}


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> Case:
    return CASES[request.param]()


def _workspace(c: Case) -> PlsWorkspace:
    return PlsWorkspace(c.blocks, c.X, c.y, weights=c.weights)


def test_objective_matches_lme4(case: Case) -> None:
    ws = _workspace(case)
    assert ws.objective(case.lambdas, case.reml) == pytest.approx(case.criterion, rel=1e-9)


def test_solution_matches_lme4(case: Case) -> None:
    _assert_matches_lme4(_workspace(case).solve(case.lambdas, case.reml), case)


def test_the_larger_models_routes_match_lme4(case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    """Small models are solved by one dense factorisation; the routes larger ones take (the
    level blocks of a single term, the blocked factorisation) match lme4 on them too."""
    monkeypatch.setattr(factor, "SMALL_DENSE", 0)
    monkeypatch.setattr(factor, "SMALL_DENSE_ONE_TERM", 0)
    _assert_matches_lme4(_workspace(case).solve(case.lambdas, case.reml), case)


def _assert_matches_lme4(sol: PlsSolution, case: Case) -> None:
    assert sol.objective == pytest.approx(case.criterion, rel=1e-9)
    np.testing.assert_allclose(sol.beta, case.fixef, rtol=1e-8)
    np.testing.assert_allclose(_vcov_se(sol), case.se, rtol=1e-7)
    assert sol.sigma == pytest.approx(case.sigma, rel=1e-8)
    starts = np.cumsum([0] + [b.n_levels * b.lhs.shape[1] for b in case.blocks])
    for term, level, comp, mode, condvar in case.ranef:
        p = case.blocks[term].lhs.shape[1]
        assert sol.b[starts[term] + level * p + comp] == pytest.approx(mode, rel=1e-7, abs=1e-9)
        assert sol.condvar[term][level, comp, comp] == pytest.approx(condvar, rel=1e-7)
    assert (sol.fitted[0], sol.fitted[-1]) == pytest.approx(case.fitted, rel=1e-9)


def test_solution_matches_dense_reference(case: Case) -> None:
    sol = _workspace(case).solve(case.lambdas, case.reml)
    ref = dense_reference(case.blocks, case.X, case.y, case.lambdas, case.reml, case.weights)
    _assert_matches_dense(sol, ref)


def test_solution_is_self_consistent(case: Case) -> None:
    """pwrss = Σ w (y - fitted)² + ‖u‖² and the condvars are symmetric."""
    sol = _workspace(case).solve(case.lambdas, case.reml)
    w = np.ones(len(case.y)) if case.weights is None else case.weights
    resid = case.y - sol.fitted
    assert sol.pwrss == pytest.approx(float(w @ resid**2 + sol.u @ sol.u), rel=1e-9)
    for cv in sol.condvar:
        np.testing.assert_allclose(cv, cv.transpose(0, 2, 1))


def test_block_structure(case: Case) -> None:
    """Nested terms keep block-diagonal storage; crossed ones are filled in (dense)."""
    if case.dense_diag:
        assert _workspace(case)._plan.structure.dense_diag == case.dense_diag


# ---------------------------------------------------------------------------------------------
# The workspace against the dense reference on random designs
# ---------------------------------------------------------------------------------------------


def _check_against_dense(
    blocks: list[ReBlock],
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    off: np.ndarray,
    lambdas: list[np.ndarray],
) -> PlsWorkspace:
    ws = PlsWorkspace(blocks, X, y, weights=w, offset=off)
    for reml in (True, False):
        ref = dense_reference(blocks, X, y, lambdas, reml, w, off)
        assert ws.objective(lambdas, reml) == pytest.approx(ref["objective"], rel=1e-10)
        _assert_matches_dense(ws.solve(lambdas, reml), ref)
    return ws


def testthree_crossed_factors_match_dense() -> None:
    rng = np.random.default_rng(20240611)
    ws = _check_against_dense(*three_crossed(rng))
    assert ws._plan.structure.dense_diag == (False, True, True)
    assert ws._plan.maps, "the precomputed fill-in maps should be used"


def testthree_crossed_scalar_terms_match_dense() -> None:
    rng = np.random.default_rng(7)
    n = 500
    terms = [
        (rng.integers(0, 60, n), 60, 1),
        (rng.integers(0, 25, n), 25, 1),
        (rng.integers(0, 5, n), 5, 1),
    ]
    _check_against_dense(*random_problem(rng, n, terms))


def test_generic_fill_in_path_matches_dense(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without precomputed maps all fill-in comes from products of factor blocks."""
    monkeypatch.setattr(fillin, "_MAX_MAP_ENTRIES", 0)
    rng = np.random.default_rng(20240611)
    ws = _check_against_dense(*three_crossed(rng))
    assert not ws._plan.maps


def test_nested_and_crossed_vector_terms_match_dense() -> None:
    """(1 + x | fine) + (1 + x | coarse) + (1 | h), fine nested in coarse, h crossed."""
    rng = np.random.default_rng(3)
    n = 300
    coarse = rng.integers(0, 6, n)
    fine = coarse * 5 + rng.integers(0, 5, n)
    h = rng.integers(0, 4, n)
    problem = random_problem(rng, n, [(fine, 30, 2), (coarse, 6, 2), (h, 4, 1)])
    ws = _check_against_dense(*problem)
    assert ws._plan.structure.dense_diag == (False, False, True)


def test_same_grouping_factor_twice_matches_dense() -> None:
    """(1 | g) + (0 + x | g): the second block stays block diagonal."""
    rng = np.random.default_rng(11)
    n = 200
    g = rng.integers(0, 12, n)
    blocks, X, y, w, off, lambdas = random_problem(rng, n, [(g, 12, 1), (g, 12, 1)])
    blocks[1] = ReBlock(g, 12, X[:, 1:2].copy())
    ws = _check_against_dense(blocks, X, y, w, off, lambdas)
    assert ws._plan.structure.dense_diag == (False, False)


def test_singular_lambda_is_allowed() -> None:
    """θ on the boundary (Λ = 0) gives the fixed-effects-only criterion."""
    rng = np.random.default_rng(5)
    blocks, X, y, w, off, _ = three_crossed(rng)
    lambdas = [np.zeros((b.lhs.shape[1],) * 2) for b in blocks]
    _check_against_dense(blocks, X, y, w, off, lambdas)


def test_failed_cholesky_returns_inf() -> None:
    c = case_dyestuff()
    ws = PlsWorkspace(c.blocks, np.column_stack([c.X, np.zeros(len(c.y))]), c.y)
    assert ws.objective(c.lambdas, True) == np.inf
    assert _workspace(c).objective([np.array([[np.nan]])], True) == np.inf


def test_rejects_bad_input() -> None:
    c = case_dyestuff()
    with pytest.raises(ArgumentError):
        PlsWorkspace(c.blocks, c.X, c.y, weights=-np.ones(len(c.y)))
    with pytest.raises(ArgumentError):
        _workspace(c).objective([np.eye(2)], True)


@pytest.mark.parametrize("layout", ["one term", "three crossed"])
def test_a_system_that_is_not_positive_definite_raises_linalg_error(layout: str) -> None:
    """The solver's own signal never escapes: the objective is inf, decompose None, and what
    needs the factor raises numpy's LinAlgError."""
    if layout == "one term":
        c = case_dyestuff()
        blocks, X, y, lambdas = c.blocks, c.X, c.y, c.lambdas
    else:
        blocks, X, y, _, _, lambdas = three_crossed(np.random.default_rng(4))
    ws = PlsWorkspace(blocks, np.column_stack([X, np.zeros(len(y))]), y)
    assert ws.objective(lambdas, True) == np.inf
    assert ws.decompose(lambdas, True) is None
    with pytest.raises(np.linalg.LinAlgError):
        ws.solve(lambdas, True)
    with pytest.raises(np.linalg.LinAlgError):
        ws.modes(lambdas)
    with pytest.raises(np.linalg.LinAlgError):
        ws.conditional_variances(lambdas)


def test_decompose_equals_the_parts_of_solve() -> None:
    """decompose: the factorisation alone (for profiles and derivatives) agrees with solve."""
    import lmerpy

    data = datasets.load("exam")
    fit = lmerpy.lmer("normexam ~ standLRT + (standLRT | school) + (1 | schgend)", data)
    for theta in (fit.record.final, fit.record.final * np.array([0.5, -1.0, 2.0, 1.5])):
        for reml in (True, False):
            parts = fit.devfun.decompose(theta, reml=reml)
            solution = fit.devfun.solve(theta, reml=reml)
            assert parts is not None
            assert parts.objective == pytest.approx(solution.objective, rel=1e-12)
            assert parts.ldL2 == pytest.approx(solution.ldL2, rel=1e-10)
            assert parts.pwrss == pytest.approx(solution.pwrss, rel=1e-10)
            np.testing.assert_allclose(parts.beta, solution.beta, rtol=1e-10)
            np.testing.assert_allclose(parts.RX, solution.RX, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reweightable", [True, False])
def test_reweight_equals_a_fresh_workspace(reweightable: bool) -> None:
    """New weights and response on an existing workspace (PIRLS's step) give the numbers of
    a workspace built from them: fill-in maps refreshed or rebuilt, dense blocks refilled."""
    rng = np.random.default_rng(3)
    blocks, X, y, w, off, lambdas = three_crossed(rng)
    ws = PlsWorkspace(blocks, X, y, weights=w, offset=off, reweightable=reweightable)
    assert ws._plan.maps
    w2, y2 = rng.uniform(0.2, 3.0, size=len(y)), y + rng.normal(size=len(y))
    ws.reweight(w2, y2)
    fresh = PlsWorkspace(blocks, X, y2, weights=w2, offset=off)
    for reml in (True, False):
        assert ws.objective(lambdas, reml) == pytest.approx(fresh.objective(lambdas, reml), 1e-12)
    beta = np.array([0.5, -1.0, 2.0])
    for got, want in zip(ws.modes(lambdas, beta), fresh.modes(lambdas, beta), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
