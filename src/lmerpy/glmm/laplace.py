"""glmmTMB's Laplace approximation, for families with a dispersion parameter.

The random effects b = Λu are integrated out around the mode û of the joint log density

    g(u) = Σ wᵢ ℓ(yᵢ | μᵢ(u), φ) − ‖u‖²/2,    η = Xβ + o + ZΛu,

with the **observed** Hessian there: −2 log L ≈ −2 g(û) + log det(Λ'Z'DZΛ + I), where
Dᵢ = −wᵢ d²ℓᵢ/dηᵢ² (Kristensen et al. 2016, TMB; Brooks et al. 2017, glmmTMB). The mode is
found by Newton's method on u, each step the penalized weighted least squares problem of the
PLS solver with weights D and working response ZΛu + s/D (s the score dℓ/dη): the same
blocked Cholesky as ``lmer``. For the canonical links of binomial and Poisson models D is
the expected information and this is lme4's approximation; for non-canonical links (Gamma
with log link, negative binomial) the two differ, and this one is glmmTMB's.

The parameters are (θ, β, β_zi, β_disp): θ as lme4 orders it (Λ's relative factor, σ = 1);
β_zi the zero-inflation model's coefficients, on the logit scale of P(structural zero)
(glmmTMB's ``ziformula``); β_disp those of log φ, φ on glmmTMB's scale for the family
(``distributions``; glmmTMB's ``dispformula``, by default one intercept, log φ).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
import scipy.linalg
from numpy.typing import ArrayLike, NDArray
from scipy import special

from ..design import Design
from ..design.matrices import ModelMatrix
from ..design.theta import ThetaLayout
from ..errors import DataError, FamilyError, PirlsError
from ..solver import PlsWorkspace
from .distributions import distribution_of, link_derivatives
from .effects import RandomEffects
from .family import Family
from .pirls import PirlsFit

__all__ = ["LaplaceDeviance"]

FloatArray = NDArray[np.float64]
ETA_TOL = 1e-10  # Newton ends when no linear predictor would move by more than this
MAX_ITER = 100
MAX_HALVINGS = 30
MIN_WEIGHT = 1e-10  # a Newton weight where the log density is not concave in η
MAX_DENSE_Q = 5000  # random effects up to which a non-concave model's Hessian is factored dense


@dataclass(frozen=True)
class RowModel:
    """Per row: the dispersion φ (one number, or one a row with a dispersion model) and the
    zero-inflation probability p (None without zero inflation)."""

    phi: FloatArray | float
    pzero: FloatArray | None


class Parameters(NamedTuple):
    """The parts of the parameter vector, and the row model they give."""

    theta: FloatArray
    beta: FloatArray
    beta_zi: FloatArray
    beta_disp: FloatArray
    rows: RowModel


class LaplaceDeviance:
    """-2 log-likelihood of a generalized model by the exact Laplace approximation.

    Attributes:
        design: the design (y a proportion of the trials for betabinomial data).
        family: the family; ``distribution`` its log density, ``link`` its link with two
            derivatives.
        layout: θ's structure; ``p`` the number of fixed effects.
        evaluations: objective evaluations so far.
    """

    def __init__(
        self,
        design: Design,
        family: Family,
        trials: ArrayLike | None = None,
        *,
        zi: ModelMatrix | None = None,
        disp: ModelMatrix | None = None,
    ) -> None:
        distribution = distribution_of(family)
        if distribution is None:
            raise FamilyError(f"the {family.name} family has no exact Laplace approximation here")
        self.design, self.family, self.distribution = design, family, distribution
        self.link = link_derivatives(family.link.name)
        self.nagq = 1
        n = design.nobs
        self.y = design.y
        self.trials = np.ones(n) if trials is None else np.asarray(trials, dtype=np.float64)
        prior = np.ones(n) if design.weights is None else design.weights
        # a binomial-type response's weights carry its trials, which ℓ counts already
        self.prior = prior / self.trials if distribution.support == "proportion" else prior
        self.offset = np.zeros(n) if design.offset is None else design.offset
        self.layout = ThetaLayout(design)
        self.p = design.X.shape[1]
        self.evaluations = 0
        self.effects = RandomEffects(design)
        self._blocks = self.effects.blocks
        ones = np.ones(n)
        self._ws = PlsWorkspace(self._blocks, design.X[:, :0], ones, ones, reweightable=True)
        self._u = np.zeros(self._ws.q)
        self._zero = self.y == 0
        self._zi_matrix = zi
        self.X_zi = np.zeros((n, 0)) if zi is None else zi.values
        self.zi_columns = [] if zi is None else list(zi.columns)
        if disp is None and distribution.dispersion:
            disp = ModelMatrix(np.ones((n, 1)), ["(Intercept)"], None)
        self.X_disp = np.zeros((n, 0)) if disp is None else disp.values
        self.disp_columns = [] if disp is None else list(disp.columns)
        self.p_zi, self.p_disp = len(self.zi_columns), len(self.disp_columns)
        self._disp_scalar = self.disp_columns == ["(Intercept)"]

    # ---- the objective ---------------------------------------------------------------------
    def split(self, params: ArrayLike) -> Parameters:
        """params = (θ, β, β_zi, β_disp) by part, with the row model they give."""
        values = np.asarray(params, dtype=np.float64)
        edges = np.cumsum([0, len(self.layout.lower), self.p, self.p_zi, self.p_disp])
        theta, beta, zi, disp = (values[a:b] for a, b in itertools.pairwise(edges))
        phi: FloatArray | float = 1.0
        if self.p_disp:
            phi = float(np.exp(disp[0])) if self._disp_scalar else np.exp(self.X_disp @ disp)
        pzero = special.expit(self.X_zi @ zi) if self.p_zi else None
        return Parameters(theta, beta, zi, disp, RowModel(phi, pzero))

    def __call__(self, params: ArrayLike) -> float:
        """-2 log L at params; inf where the modes cannot be found."""
        self.evaluations += 1
        try:
            return self.modes(params).objective
        except PirlsError:
            return np.inf

    def laplace(self, params: ArrayLike) -> float:
        """The objective (the name lme4's glmer deviance has), for profiling."""
        return self(params)

    def modes(self, params: ArrayLike) -> PirlsFit:
        """The conditional modes at params, from the previous modes (or u = 0 on failure)."""
        parts = self.split(params)
        theta, beta, phi = parts.theta, parts.beta, parts.rows
        lambdas = self.layout.lambdas(theta)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            try:
                fit = self._newton(lambdas, beta, phi, self._u)
            except PirlsError:
                fit = self._newton(lambdas, beta, phi, np.zeros_like(self._u))
        self._u = fit.u
        return fit

    def loglik(self, eta: FloatArray, rows: RowModel | float) -> float:
        """Σ wᵢ ℓ(yᵢ | μ(ηᵢ), φᵢ) (a number: one φ, no zero inflation)."""
        model = rows if isinstance(rows, RowModel) else RowModel(rows, None)
        return float(self.prior @ self._row_loglik(self.link.mu(eta), model))

    def sigma(self, params: ArrayLike) -> float:
        """glmmTMB's ``sigma(m)`` at params (see ``distributions``): NaN with a dispersion
        model, where φ varies by row; 1 for a family without one (a zero-inflated Poisson)."""
        if not self.distribution.dispersion:
            return 1.0
        if not self._disp_scalar:
            return float("nan")
        return self.distribution.sigma(float(np.exp(self.split(params).beta_disp[0])))

    def zero_probability(self, params: ArrayLike, newdata: pd.DataFrame | None) -> FloatArray:
        """P(structural zero) of each row of the data, or of ``newdata``."""
        zi = self.split(params).beta_zi
        if self._zi_matrix is None:
            return np.zeros(self.design.nobs if newdata is None else len(newdata))
        if newdata is None:
            return np.asarray(special.expit(self.X_zi @ zi))
        try:
            X = self._zi_matrix.on(newdata)
        except Exception as exc:  # a level the fit never saw, or a missing column
            raise DataError(f"cannot encode the zi= model of newdata: {exc}") from None
        return np.asarray(special.expit(X @ zi))

    # ---- per observation, at the modes of a fit ----------------------------------------------
    def residuals(self, fit: PirlsFit) -> FloatArray:
        """Response residuals y - μ (glmmTMB's ``residuals(m)``, type ``"response"``)."""
        return np.asarray(self.y - fit.mu)

    def pearson(self, fit: PirlsFit, params: ArrayLike) -> FloatArray:
        """(y - μ) / sqrt(Var(y) / w) (glmmTMB: ``residuals(m, "pearson")``)."""
        rows = self.split(params).rows
        var = self.distribution.variance(fit.mu, rows.phi, self.trials)
        if rows.pzero is not None:  # a zero-inflated count: mean (1 - p)μ
            p = rows.pzero
            var = (1 - p) * (var + p * fit.mu**2)
            return np.asarray((self.y - (1 - p) * fit.mu) * np.sqrt(self.prior / var))
        return np.asarray((self.y - fit.mu) * np.sqrt(self.prior / var))

    def sample(self, rng: np.random.Generator, eta: FloatArray, params: ArrayLike) -> FloatArray:
        """A response drawn at η with the fitted dispersion."""
        rows = self.split(params).rows
        draw = self.distribution.sample(rng, self.link.mu(eta), rows.phi, self.trials)
        if rows.pzero is not None:
            draw = np.where(rng.random(len(draw)) < rows.pzero, 0.0, draw)
        return np.asarray(draw, dtype=np.float64)

    def conditional_variances(self, fit: PirlsFit, theta: ArrayLike) -> list[FloatArray]:
        """Per term, the conditional covariances of b at the modes: Λ H⁻¹ Λ' with H the
        observed Hessian in u (TMB's ``sdreport`` with the parameters fixed)."""
        lambdas = self.layout.lambdas(theta)
        if np.all(fit.weights > 0):
            self._ws.reweight(fit.weights, np.ones_like(fit.weights))
            return self._ws.conditional_variances(lambdas)
        H = _dense_hessian(self.effects.z_lambda(lambdas), fit.weights)
        Lam = self.effects.lambda_matrix(lambdas).toarray()
        V = Lam @ np.linalg.solve(H, Lam.T)
        out = []
        for blk, sl in zip(self._blocks, self.effects.slices, strict=True):
            p = blk.lhs.shape[1]
            part = V[sl, sl]
            out.append(np.stack([part[i * p : (i + 1) * p, i * p : (i + 1) * p]
                                 for i in range(blk.n_levels)]))  # fmt: skip
        return out

    # ---- Newton's method on u ----------------------------------------------------------------
    def _newton(
        self, lambdas: list[FloatArray], beta: FloatArray, phi: RowModel, u: FloatArray
    ) -> PirlsFit:
        fixed = self.design.X @ beta + self.offset
        zb = self.effects.zb(lambdas, u)
        g = self._penalized(fixed + zb, u, phi)
        dense: list[FloatArray] = []  # ZΛ as an array, made once if a step needs it
        for iteration in range(1, MAX_ITER + 1):
            score, info = self.derivatives(fixed + zb, phi)
            u_new, ldL2, w = self._newton_step(lambdas, u, zb, score, info, phi, fixed, dense)
            zb_new = self.effects.zb(lambdas, u_new)
            if np.max(np.abs(zb_new - zb)) <= ETA_TOL:
                return self._at_modes(lambdas, beta, phi, u, fixed + zb, info, w, ldL2, iteration)
            u, zb, g = self._step(lambdas, fixed, phi, (u, zb, g), (u_new, zb_new))
        raise PirlsError(f"Newton's method for the modes did not converge in {MAX_ITER} steps")

    def _newton_step(
        self,
        lambdas: list[FloatArray],
        u: FloatArray,
        zb: FloatArray,
        score: FloatArray,
        info: FloatArray,
        rows: RowModel,
        fixed: FloatArray,
        dense: list[FloatArray],
    ) -> tuple[FloatArray, float, FloatArray]:
        """The modes after one Newton step, log det of the step's Hessian and its weights.

        Where the log density is concave at every row, the PLS solver takes the step with the
        observed information as weights. Where it is not, the Hessian may still be positive
        definite: small models take the exact step on it, dense; larger ones a Fisher-scoring
        step (the expected information at those rows), which converges more slowly."""
        if np.all(info > 0):
            return self._pls_step(lambdas, zb, score, info)
        if self._ws.q <= MAX_DENSE_Q:
            if not dense:
                dense.append(self.effects.z_lambda(lambdas))
            ZL = dense[0]
            H = _dense_hessian(ZL, info)
            try:
                L = np.linalg.cholesky(H)
            except np.linalg.LinAlgError:
                pass
            else:
                step = scipy.linalg.cho_solve((L, True), ZL.T @ score - u)
                return u + step, float(2.0 * np.sum(np.log(np.diag(L)))), info
        fisher = np.where(info > 0, info, self._fisher(fixed + zb, rows))
        return self._pls_step(lambdas, zb, score, fisher)

    def _pls_step(
        self, lambdas: list[FloatArray], zb: FloatArray, score: FloatArray, w: FloatArray
    ) -> tuple[FloatArray, float, FloatArray]:
        """A Newton (or scoring) step by the PLS solver: weights w, response ZΛu + s/w."""
        try:
            self._ws.reweight(w, zb + score / w)
            _, u_new, ldL2, _ = self._ws.modes(lambdas, np.zeros(0))
        except np.linalg.LinAlgError:
            msg = "the Newton system for the modes is not positive definite"
            raise PirlsError(msg) from None
        return u_new, ldL2, w

    def _step(
        self,
        lambdas: list[FloatArray],
        fixed: FloatArray,
        phi: RowModel,
        old: tuple[FloatArray, FloatArray, float],
        new: tuple[FloatArray, FloatArray],
    ) -> tuple[FloatArray, FloatArray, float]:
        """The Newton step, halved while the penalized deviance rises."""
        u, zb, g = old
        u_new, zb_new = new
        for _ in range(MAX_HALVINGS):
            g_new = self._penalized(fixed + zb_new, u_new, phi)
            if g_new <= g + 1e-12 * max(abs(g), 1.0):
                return u_new, zb_new, g_new
            u_new, zb_new = (u + u_new) / 2, (zb + zb_new) / 2
        raise PirlsError("step-halving failed to reduce the penalized deviance")

    def _at_modes(
        self,
        lambdas: list[FloatArray],
        beta: FloatArray,
        phi: RowModel,
        u: FloatArray,
        eta: FloatArray,
        info: FloatArray,
        w: FloatArray,
        ldL2: float,
        iterations: int,
    ) -> PirlsFit:
        if np.any(info != w):  # the last step's weights were not the Hessian: factor it
            ldL2 = self._logdet(lambdas, info)
        minus2 = -2.0 * self.loglik(eta, phi)
        objective = minus2 + float(u @ u) + ldL2
        mu = self.link.mu(eta)
        if phi.pzero is not None:  # the response-scale mean (glmmTMB's fitted)
            mu = (1 - phi.pzero) * mu
        b = self.effects.b(lambdas, u)
        return PirlsFit(beta, u, b, eta, mu, info, ldL2, np.zeros((0, 0)), minus2, minus2,
                        objective, iterations)  # fmt: skip

    def _logdet(self, lambdas: list[FloatArray], info: FloatArray) -> float:
        """log det(Λ'Z'DZΛ + I) where some Dᵢ < 0 (a log density not concave in η at some
        rows, as nbinom1's and beta's can be): the solver's factorisation wants W >= 0, so
        this one is dense."""
        if self._ws.q > MAX_DENSE_Q:
            raise PirlsError(
                f"the log density is not concave at some rows and the model has {self._ws.q} "
                f"random effects: the Laplace approximation is only available here up to "
                f"{MAX_DENSE_Q} for such models"
            )
        H = _dense_hessian(self.effects.z_lambda(lambdas), info)
        try:
            L = np.linalg.cholesky(H)
        except np.linalg.LinAlgError:
            raise PirlsError("the Hessian of the log density is not positive definite") from None
        return float(2.0 * np.sum(np.log(np.diag(L))))

    def derivatives(self, eta: FloatArray, rows: RowModel) -> tuple[FloatArray, FloatArray]:
        """w dℓ/dη and -w d²ℓ/dη² (the observed information). With zero inflation a zero's
        ℓ = log(p + (1 - p) f(0 | μ)): its μ-derivatives are those of log f(0 | μ) weighed by
        r, the posterior probability that the zero is a count: r ℓ' and r ℓ'' + r(1 - r) ℓ'²."""
        mu, m1, m2 = self.link.mu(eta), self.link.d1(eta), self.link.d2(eta)
        dist, y, n = self.distribution, self.y, self.trials
        l1, l2 = dist.d1(y, mu, rows.phi, n), dist.d2(y, mu, rows.phi, n)
        if rows.pzero is not None:
            r = np.where(self._zero, self._count_share(mu, rows), 1.0)
            l1, l2 = r * l1, r * l2 + r * (1 - r) * l1 * l1
        return self.prior * l1 * m1, -self.prior * (l2 * m1 * m1 + l1 * m2)

    def _fisher(self, eta: FloatArray, rows: RowModel) -> FloatArray:
        """w μ'² / Var(y): the expected information, positive, for the Newton steps of rows
        where the observed one is not (the log density is not concave there)."""
        mu, m1 = self.link.mu(eta), self.link.d1(eta)
        var = self.distribution.variance(mu, rows.phi, self.trials)
        return np.asarray(np.maximum(self.prior * m1 * m1 / var, MIN_WEIGHT))

    def _row_loglik(self, mu: FloatArray, rows: RowModel) -> FloatArray:
        """ℓ per row, with the zero-inflation mixture where there is one."""
        base = self.distribution.loglik(self.y, mu, rows.phi, self.trials)
        if rows.pzero is None:
            return base
        p = rows.pzero
        counted = np.log1p(-p) + base
        return np.asarray(np.where(self._zero, np.logaddexp(np.log(p), counted), counted))

    def _count_share(self, mu: FloatArray, rows: RowModel) -> FloatArray:
        """r = (1 - p) f(0 | μ) / (p + (1 - p) f(0 | μ)) at each row."""
        assert rows.pzero is not None
        counted = np.log1p(-rows.pzero) + self.distribution.loglik(
            self.y, mu, rows.phi, self.trials
        )
        return np.asarray(np.exp(counted - np.logaddexp(np.log(rows.pzero), counted)))

    def _penalized(self, eta: FloatArray, u: FloatArray, phi: RowModel) -> float:
        value = -2.0 * self.loglik(eta, phi) + float(u @ u)
        return value if np.isfinite(value) else np.inf


def _dense_hessian(ZL: FloatArray, info: FloatArray) -> FloatArray:
    """Λ'Z'DZΛ + I from ZΛ as an array and the rows' information D."""
    return np.asarray(ZL.T @ (info[:, None] * ZL) + np.eye(ZL.shape[1]))
