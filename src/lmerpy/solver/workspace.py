"""The penalized least squares workspace: the profiled deviance and REML criterion of Bates,
Mächler, Bolker & Walker (2015, *J. Stat. Softw.* 67(1), sections 3.2-3.6), its gradient,
and the PLS solution, at any Λθ.

All data-sized work happens once, in the constructor: the blocks of [Z X y]'W[Z X y] are
formed from the grouping codes and planned for the factorisation (`plan`).  An evaluation
only scales these blocks by Λ and factors them, by the route `factor.route` picks for the
model; everything reported at Λθ is read from that one factor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from ..errors import ArgumentError
from .blocks import FloatArray, Pair
from .crossprod import BlockProducts, ReBlock, level_pairs
from .diagonal import NotPositiveDefinite
from .factor import (
    Factor,
    PlsCriterion,
    Route,
    criterion,
    decompose,
    factorise,
    fixed_effects,
    route,
)
from .gradient import has_gradient, objective_gradient
from .hessian import criterion_derivatives, second_derivatives
from .plan import (
    Plan,
    RowKernels,
    plan_from_cross_products,
    plan_from_rows,
    refill,
    refill_from_cross_products,
    with_response,
)
from .structure import Structure, analyse, check_dense_size

__all__ = ["PlsCriterion", "PlsSolution", "PlsWorkspace", "ReBlock"]


@dataclass(frozen=True)
class PlsSolution:
    """The PLS solution at a given Λθ (see `PlsWorkspace.solve`)."""

    beta: FloatArray
    """(p,) fixed-effects estimates."""
    u: FloatArray
    """(q,) spherical conditional modes."""
    b: FloatArray
    """(q,) conditional modes Λu (terms in order, each level-major)."""
    pwrss: float
    """Penalized weighted residual sum of squares."""
    ldL2: float  # noqa: N815 (lme4 name)
    """log det(Λ'Z'WZΛ + I)."""
    ldRX2: float  # noqa: N815 (lme4 name)
    """log det(R_X'R_X)."""
    sigma: float
    """Residual standard deviation (divisor n - p for REML, n for ML)."""
    RX: FloatArray
    """(p, p) upper triangular; vcov(β) = σ² RX⁻¹ RX⁻ᵀ."""
    objective: float
    """REML criterion or ML deviance (as `PlsWorkspace.objective`)."""
    condvar: list[FloatArray] | None
    """Per term, (n_levels, p_i, p_i) conditional covariances of b for each level (None when
    not asked for: they can cost more than the fit, see `PlsWorkspace.conditional_variances`)."""
    fitted: FloatArray
    """(n,) Xβ + Zb + offset (empty for a workspace built from cross-products)."""


class PlsWorkspace:
    """Cross products of [Z X y], planned for the Cholesky factorisation of the PLS problem."""

    def __init__(
        self,
        blocks: Sequence[ReBlock],
        X: FloatArray,
        y: FloatArray,
        weights: FloatArray | None = None,
        offset: FloatArray | None = None,
        *,
        reweightable: bool = False,
    ) -> None:
        """Build the cross-product blocks of [Z X y] once (one O(n) pass), weighted by prior
        weights, with y replaced by y - offset.  ``reweightable`` keeps what `reweight`
        needs to refresh the fill-in maps in one pass (16 bytes per map entry); without it
        `reweight` rebuilds them."""
        self._blocks = tuple(
            ReBlock(
                np.asarray(b.codes, dtype=np.int64),
                int(b.n_levels),
                np.asarray(b.lhs, dtype=np.float64),
            )
            for b in blocks
        )
        self._X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        n = y.shape[0]
        w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
        off = np.zeros(n) if offset is None else np.asarray(offset, dtype=np.float64)
        _validate(self._blocks, self._X, y, w, off)
        self._n, self._offset = int(n), off
        self._weights: FloatArray = w
        self._log_w_sum: float | None = None
        self._XY: FloatArray | None = None  # [X y - offset], kept for reweighting
        blocks = self._blocks
        pairs = {
            (j, i): level_pairs(blocks[j], blocks[i]) for j in range(len(blocks)) for i in range(j)
        }
        levels, dims = [b.n_levels for b in blocks], [b.lhs.shape[1] for b in blocks]
        st = _structure(levels, dims, pairs)
        XY = np.column_stack([self._X, y - off])
        self._plan: Plan = plan_from_rows(RowKernels.of(blocks, st), st, w, XY, reweightable)

    @classmethod
    def from_cross_products(cls, cp: BlockProducts, *, reweightable: bool = False) -> PlsWorkspace:
        """A workspace from accumulated cross-products alone (MixedModels.jl's ``A`` blocks):
        no rows, so ``solve`` returns no fitted values and ``reweight`` is not available.
        ``reweightable`` keeps what `refill` needs to take new cross-products."""
        if cp.p < 1 or cp.n < 1:
            raise ArgumentError("cross-products need at least one row and one column of X")
        st = _structure(cp.n_levels, cp.dims, cp.pairs)
        plan = plan_from_cross_products(cp, st, reweightable)
        return cls._without_rows(plan, int(cp.n), float(cp.sum_log_w))

    def refill(self, cp: BlockProducts) -> None:
        """Take the numbers of new cross-products of the same rows at other weights, keeping
        the plan (PIRLS on data read in chunks: the rows' analogue of `reweight`). The
        workspace must come from `from_cross_products` with ``reweightable``."""
        plan = self._plan
        if plan.rows is not None or not plan.reweightable:
            raise ArgumentError("refill needs a reweightable workspace from cross-products")
        if list(cp.n_levels) != list(plan.levels) or list(cp.dims) != list(plan.dims):
            raise ArgumentError("the cross-products belong to another model")
        refill_from_cross_products(plan, cp)
        self._n, self._log_w_sum = int(cp.n), float(cp.sum_log_w)

    @classmethod
    def _without_rows(cls, plan: Plan, n: int, sum_log_w: float) -> PlsWorkspace:
        """A workspace on a plan alone, with no rows (no fitted values, no reweighting)."""
        ws = cls.__new__(cls)
        ws._blocks, ws._X, ws._offset = (), np.zeros((0, plan.p)), np.zeros(0)
        ws._n, ws._weights, ws._log_w_sum = n, np.zeros(0), sum_log_w
        ws._XY = None
        ws._plan = plan
        return ws

    def with_response(self, zr: Sequence[FloatArray], xr: FloatArray) -> PlsWorkspace:
        """The workspace of the same Z, X and weights with a new response r (less any
        offset), from its products alone: Z_i'Wr per term and [X r]'Wr (`response_cross`).
        Everything else is shared; this workspace stays as it was. Rows kept for reweighting
        are not carried over: the new workspace has no fitted values."""
        plan = with_response(replace(self._plan, rows=None), zr, xr)
        return PlsWorkspace._without_rows(plan, self._n, self._sum_log_w())

    # -- sizes -----------------------------------------------------------------------------------

    @property
    def n(self) -> int:
        """Number of observations."""
        return self._n

    @property
    def p(self) -> int:
        """Number of fixed-effects coefficients."""
        return self._plan.p

    @property
    def q(self) -> int:
        """Number of random effects."""
        return self._plan.q

    @property
    def dense_size(self) -> int:
        """How many random effects the dense diagonal blocks hold (those of crossed terms):
        what makes an evaluation costly."""
        plan = self._plan
        sizes = zip(plan.levels, plan.dims, plan.structure.dense_diag, strict=True)
        return sum(m * p for m, p, dense in sizes if dense)

    @property
    def has_gradient(self) -> bool:
        """Whether `objective_gradient` is available: every term is scalar (Λ_k = θ_k I) and
        the terms after the first have at most GRADIENT_MAX_REST levels together."""
        return has_gradient(self._plan)

    @property
    def has_hessian(self) -> bool:
        """Whether `objective_hessian` is available: the model is factored densely whole."""
        return route(self._plan) is Route.SMALL_DENSE

    # -- evaluations -----------------------------------------------------------------------------

    def objective(self, lambdas: Sequence[FloatArray], reml: bool) -> float:
        """lme4's profiled deviance (ML) or REML criterion at Λθ (np.inf if a Cholesky fails).

        lambdas[i] is the p_i×p_i lower-triangular relative covariance factor template T_i of
        term i (Λθ is block diagonal with n_levels_i copies of T_i, level-major).
          ML:   ldL2 - sum(log w) + n (1 + log(2π pwrss / n))
          REML: ldL2 - sum(log w) + ldRX2 + (n - p)(1 + log(2π pwrss / (n - p)))
        """
        try:
            f = factorise(self._plan, self._templates(lambdas))
        except NotPositiveDefinite:
            return np.inf
        value = criterion(f.ldL2, f.Lxy, self._n, self._sum_log_w(), reml)
        return value if np.isfinite(value) else np.inf

    def objective_gradient(self, thetas: FloatArray, reml: bool) -> tuple[float, FloatArray]:
        """The criterion at Λ_k = θ_k I and its gradient in θ (np.inf and NaNs where the
        system is not positive definite); see `gradient`."""
        theta = np.asarray(thetas, dtype=np.float64).reshape(-1)
        return objective_gradient(self._plan, theta, reml, self._n, self._sum_log_w())

    def objective_hessian(
        self, lam: FloatArray, basis: FloatArray, second: FloatArray, reml: bool
    ) -> tuple[float, FloatArray, FloatArray]:
        """The criterion, its gradient and its Hessian in θ at the dense Λ̃ = ``lam``, with
        ``basis`` the stacked matrices ∂Λ̃/∂θᵢ and ``second`` their `second_derivatives`
        (`hessian.criterion_derivatives`; only where `has_hessian`). Raises LinAlgError
        where the system is not positive definite."""
        try:
            return criterion_derivatives(
                self._plan, lam, basis, second, reml, self._n, self._sum_log_w()
            )
        except NotPositiveDefinite as err:
            raise np.linalg.LinAlgError("PLS system is not positive definite") from err

    def second_derivatives(self, basis: FloatArray) -> FloatArray:
        """Eᵢ'AEⱼ for ∂Λ̃/∂θᵢ = ``basis[i]``: the same at every θ and for a new response."""
        return second_derivatives(self._plan, basis)

    def decompose(self, lambdas: Sequence[FloatArray], reml: bool) -> PlsCriterion | None:
        """The criterion, its log-determinants, pwrss, R_X and β̂ at Λθ, from the factor
        alone (no conditional modes or variances: far cheaper than `solve` on large models);
        None where the system is not positive definite."""
        try:
            f = factorise(self._plan, self._templates(lambdas))
        except NotPositiveDefinite:
            return None
        return decompose(f, self._n, self._sum_log_w(), reml)

    def modes(
        self, lambdas: Sequence[FloatArray], beta: FloatArray | None = None
    ) -> tuple[FloatArray, FloatArray, float, FloatArray]:
        """(β, u, log|L|², R_X) at Λθ: the joint PLS solution, or with ``beta`` given the
        modes u conditional on it.  Raises LinAlgError where the system is not positive
        definite."""
        f = self._factor(self._templates(lambdas))
        RX, beta_hat = fixed_effects(f.Lxy)
        b = beta_hat if beta is None else np.asarray(beta, dtype=np.float64)
        return b, _joined(f.modes(b)), f.ldL2, RX

    def solve(
        self, lambdas: Sequence[FloatArray], reml: bool, *, condvar: bool = True
    ) -> PlsSolution:
        """β, conditional modes, σ, R_X and (with ``condvar``) the conditional variances at
        Λθ (e.g. the optimum).  Raises LinAlgError where the system is not positive
        definite."""
        T = self._templates(lambdas)
        f = self._factor(T)
        head = decompose(f, self._n, self._sum_log_w(), reml)
        u_parts = f.modes(head.beta)
        b_parts = [
            (uk.reshape(-1, len(Tk)) @ Tk.T).ravel() for uk, Tk in zip(u_parts, T, strict=True)
        ]
        sigma = float(np.sqrt(head.pwrss / (self._n - self.p if reml else self._n)))
        variances = [sigma**2 * cv for cv in f.relative_condvar(T)] if condvar else None
        return PlsSolution(
            beta=head.beta,
            u=_joined(u_parts),
            b=_joined(b_parts),
            pwrss=head.pwrss,
            ldL2=head.ldL2,
            ldRX2=head.ldRX2,
            sigma=sigma,
            RX=head.RX,
            objective=head.objective,
            condvar=variances,
            fitted=self._fitted(head.beta, b_parts),
        )

    def conditional_variances(self, lambdas: Sequence[FloatArray]) -> list[FloatArray]:
        """Per term, the (n_levels, p_i, p_i) blocks of Λ(L L')⁻¹Λ': the conditional
        covariances of b in units of σ² (a generalized model's, where σ = 1).  Raises
        LinAlgError where the system is not positive definite."""
        T = self._templates(lambdas)
        return self._factor(T).relative_condvar(T)

    # -- reweighting (PIRLS) ---------------------------------------------------------------------

    def reweight(self, weights: FloatArray, y: FloatArray) -> None:
        """Replace the weights and the response: the cross-products are rebuilt (one O(n)
        pass), the symbolic analysis is kept.  PIRLS calls this once per iteration with the
        working weights and working response of a generalized model."""
        w = np.asarray(weights, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        plan = self._plan
        if plan.rows is None:
            raise ArgumentError("a workspace built from cross-products has no rows to reweight")
        if w.shape != (self._n,) or y.shape != (self._n,):
            raise ArgumentError(f"weights and y must have shape ({self._n},)")
        self._weights, self._log_w_sum = w, None
        if self._XY is None:  # column-major: each column's products read it contiguously
            self._XY = np.empty((self._n, self._X.shape[1] + 1), order="F")
            self._XY[:, :-1] = self._X
        XY = self._XY
        np.subtract(y, self._offset, out=XY[:, -1])
        if plan.reweightable or not plan.products:
            refill(plan, w, XY)
        else:  # the fill-in maps kept no sources to refresh: plan them again
            self._plan = plan_from_rows(plan.rows, plan.structure, w, XY, False)

    # -- helpers ---------------------------------------------------------------------------------

    def _templates(self, lambdas: Sequence[FloatArray]) -> list[FloatArray]:
        """Each term's template T_i as a p_i×p_i array."""
        dims = self._plan.dims
        if len(lambdas) != len(dims):
            raise ArgumentError(f"expected {len(dims)} covariance factors")
        T = []
        for lam, p in zip(lambdas, dims, strict=True):
            Ti = np.asarray(lam, dtype=np.float64)
            if Ti.size != p * p:
                raise ArgumentError(f"covariance factor must be {p}x{p}")
            T.append(Ti.reshape(p, p))
        return T

    def _factor(self, T: list[FloatArray]) -> Factor:
        """L at T, by the model's route; LinAlgError where it does not exist."""
        try:
            return factorise(self._plan, T)
        except NotPositiveDefinite as err:
            raise np.linalg.LinAlgError("PLS system is not positive definite") from err

    def _sum_log_w(self) -> float:
        """Σ log w of the current weights (computed when first needed)."""
        if self._log_w_sum is None:
            self._log_w_sum = float(np.sum(np.log(self._weights)))
        return float(self._log_w_sum)

    def _fitted(self, beta: FloatArray, b_parts: Sequence[FloatArray]) -> FloatArray:
        """Xβ + Zb + offset on the rows (empty without rows)."""
        if self._plan.rows is None:
            return np.zeros(0)
        fitted = self._X @ beta + self._offset
        for blk, bk in zip(self._blocks, b_parts, strict=True):
            fitted += np.einsum("na,na->n", blk.lhs, bk.reshape(blk.n_levels, -1)[blk.codes])
        return fitted


def _structure(
    levels: Sequence[int], dims: Sequence[int], pairs: Mapping[Pair, sp.csr_matrix]
) -> Structure:
    """The factor's structure; ModelTooLargeError, before anything is allocated, where its
    dense blocks would not fit."""
    st = analyse(levels, pairs)
    check_dense_size(levels, dims, st)
    return st


def _joined(parts: list[FloatArray]) -> FloatArray:
    """The terms' vectors end to end (a single term's as it is: each part is new)."""
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.zeros(0)


def _validate(
    blocks: Sequence[ReBlock], X: FloatArray, y: FloatArray, w: FloatArray, offset: FloatArray
) -> None:
    n = y.shape[0]
    if y.ndim != 1 or X.ndim != 2 or X.shape[0] != n:
        raise ArgumentError("X must be (n, p) and y must be (n,)")
    if w.shape != (n,) or offset.shape != (n,):
        raise ArgumentError("weights and offset must have shape (n,)")
    if not np.all(np.isfinite(w)) or np.any(w <= 0.0):
        raise ArgumentError("prior weights must be positive and finite")
    for blk in blocks:
        if blk.codes.shape != (n,) or blk.lhs.ndim != 2 or blk.lhs.shape[0] != n:
            raise ArgumentError("each ReBlock needs codes (n,) and lhs (n, p)")
        if n and (blk.codes.min() < 0 or blk.codes.max() >= blk.n_levels):
            raise ArgumentError("ReBlock codes out of range 0..n_levels-1")
