"""The deviance function of θ: the seam where the design, the PLS solver and any
optimizer meet (lme4's ``mkLmerDevfun``; MixedModels.jl's ``objective!``)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.linalg import block_diag

from ..data.crossproducts import CrossProducts
from ..design import Design
from ..design.theta import ThetaLayout, re_blocks
from ..errors import ArgumentError, FitError, ModelTooLargeError
from ..solver import PlsCriterion, PlsSolution, PlsWorkspace
from ..solver.crossprod import Moments, response_cross
from ..solver.structure import check_level_blocks

__all__ = ["DevianceFunction", "make_deviance"]

_SCALAR_TYPES = frozenset({"us", "diag"})
"""Term types whose one-column factor is T = [θ]."""

GRADIENT_MIN_DENSE = 100
"""Random effects in dense blocks from which the gradient pays: (1 | a) + (1 | b) with b's
levels 50 / 100 / 200 / 400 took 17 / 22 / 41 / 99 ms with BOBYQA, 27 / 19 / 31 / 76 ms
with L-BFGS-B and the gradient."""


class DevianceFunction:
    """``devfun(theta)``: lme4's REML criterion (``reml=True``) or ML deviance at θ.

    θ concatenates the terms' parameters in lme4's term order; ``lower``, ``upper`` and
    ``start`` are the optimizer's bounds and starting point, ``theta_names`` lme4's names.
    All data-sized work happens once, here; each call only rescales the stored
    cross-products and factors them, so its cost does not grow with the rows.

    Attributes:
        design: the design it was built from.
        reml: whether it is the REML criterion (else the ML deviance).
        evaluations: how many times it has been called.
    """

    def __init__(
        self, design: Design, *, reml: bool = True, cross_products: CrossProducts | None = None
    ) -> None:
        self.design = design
        self.reml = reml
        self.evaluations = 0
        self.cross_products = cross_products
        """The cross-products given, for data read in chunks (else None: they are formed
        from the design's rows)."""
        products = cross_products if cross_products is not None else _from_rows(design)
        self.workspace = _workspace(design, products)
        layout = ThetaLayout(design)
        self.layout = layout
        self.slices, self.lower, self.upper = layout.slices, layout.lower, layout.upper
        self.theta_scale = layout.scale
        """Where the optimizer searches θ / theta_scale (`ThetaLayout.scale`)."""
        self.theta_names = layout.names
        moment = _moment_start(design, products.n, products.moments)
        self.start = moment if moment is not None else layout.start

    def refitted(
        self, design: Design | None = None, *, reml: bool | None = None
    ) -> DevianceFunction:
        """The deviance function of the same model with the response of ``design`` (the same
        rows and X, as lme4's ``refit(m, newresp)``) and/or by the other criterion
        (``refitML``). The cross-products of Z and X and the factorisation's plan are shared:
        a new response forms only its own products with the rows."""
        if self.has_hessian:
            _ = self._lambda_basis  # computed once here, shared by every refit's copy
        new = copy.copy(self)
        new.evaluations = 0
        new.reml = self.reml if reml is None else reml
        if design is not None:
            new.design, blocks = design, re_blocks(design)
            XY = np.column_stack([design.X, design.y - _offset(design)])
            weights = np.ones(design.nobs) if design.weights is None else design.weights
            zr, xr = response_cross(blocks, XY, weights)
            new.workspace = self.workspace.with_response(zr, xr)
            moment = None
            if _intercepts_only(design):  # only their start reads the response's moments
                moments = Moments.of_rows(blocks, np.column_stack([design.X, design.y]))
                moment = _moment_start(design, design.nobs, moments)
            new.start = moment if moment is not None else self.layout.start
        return new

    def __call__(self, theta: ArrayLike) -> float:
        self.evaluations += 1
        return self.workspace.objective(self.lambdas(theta), self.reml)

    @property
    def has_gradient(self) -> bool:
        """Whether `value_and_gradient` is available: every term a scalar ``us`` or ``diag``
        term (Λₖ = θₖ I), as in ``(1 | g)`` and ``(x || g)``."""
        scalar = all(
            len(t.columns) == 1 and t.term_type.name in _SCALAR_TYPES for t in self.design.terms
        )
        return scalar and self.workspace.has_gradient

    @property
    def prefers_gradient(self) -> bool:
        """Whether ``optimizer="auto"`` fits with the gradient: it exists and evaluations are
        costly (dense blocks of at least GRADIENT_MIN_DENSE random effects); elsewhere
        BOBYQA's cheaper evaluations win."""
        return self.has_gradient and self.workspace.dense_size >= GRADIENT_MIN_DENSE

    def value_and_gradient(self, theta: ArrayLike) -> tuple[float, NDArray[np.float64]]:
        """The criterion at θ and its exact gradient (only where `has_gradient`)."""
        if not self.has_gradient:
            raise ArgumentError("the gradient is only available when every term is scalar")
        self.evaluations += 1
        return self.workspace.objective_gradient(np.asarray(theta, dtype=np.float64), self.reml)

    @property
    def has_hessian(self) -> bool:
        """Whether `value_gradient_hessian` is available: a small model factored densely
        whole, every term an ``us`` or ``diag`` term (Λ linear in θ)."""
        linear = all(t.term_type.name in _SCALAR_TYPES for t in self.design.terms)
        return linear and self.workspace.has_hessian

    def value_gradient_hessian(
        self, theta: ArrayLike
    ) -> tuple[float, NDArray[np.float64], NDArray[np.float64]]:
        """The criterion at θ with its exact gradient and Hessian (only where `has_hessian`;
        `lmerpy.solver.hessian`). Raises LinAlgError where the system is not positive
        definite."""
        if not self.has_hessian:
            raise ArgumentError("the Hessian is available for small us and diag models only")
        self.evaluations += 1
        start, basis, second = self._lambda_basis
        k, size = basis.shape[:2]
        flat = np.asarray(theta, dtype=np.float64) @ basis.reshape(k, size * size)
        return self.workspace.objective_hessian(
            start + flat.reshape(size, size), basis, second, self.reml
        )

    @cached_property
    def _lambda_basis(self) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """Λ̃ = diag(Λ, I) at θ = 0, each ∂Λ̃/∂θᵢ (dense: terms linear in θ), and the
        products Eᵢ'AEⱼ the Hessian reads (shared by refits: a new response leaves them)."""
        k = len(self.lower)
        start = self._dense_lambda(np.zeros(k))
        basis = np.stack([self._dense_lambda(np.eye(k)[i]) - start for i in range(k)])
        return start, basis, self.workspace.second_derivatives(basis)

    def _dense_lambda(self, theta: NDArray[np.float64]) -> NDArray[np.float64]:
        """Λ̃ = diag(Λ, I) at θ, dense: each term's I ⊗ Tᵢ, then I for [X y]."""
        terms = zip(self.design.terms, self.lambdas(theta), strict=True)
        blocks = [np.kron(np.eye(t.factor.n_levels), T) for t, T in terms]
        return np.asarray(block_diag(*blocks, np.eye(self.workspace.p + 1)), dtype=np.float64)

    def lambdas(self, theta: ArrayLike) -> list[NDArray[np.float64]]:
        """Each term's relative covariance factor Tᵢ at θ."""
        return self.layout.lambdas(theta)

    def decompose(self, theta: ArrayLike, *, reml: bool | None = None) -> PlsCriterion | None:
        """The criterion with its parts, R_X and β̂ at θ, without the conditional modes;
        None where the system is not positive definite (profiles and derivatives use it)."""
        return self.workspace.decompose(self.lambdas(theta), self.reml if reml is None else reml)

    def solve(
        self, theta: ArrayLike, *, reml: bool | None = None, condvar: bool = True
    ) -> PlsSolution:
        """β̂, the conditional modes and everything else of the PLS solution at θ (the
        conditional variances only with ``condvar``)."""
        try:
            lambdas, chosen = self.lambdas(theta), self.reml if reml is None else reml
            return self.workspace.solve(lambdas, chosen, condvar=condvar)
        except np.linalg.LinAlgError:
            raise FitError(
                f"the penalized least squares system is not positive definite at theta = "
                f"{np.asarray(theta).tolist()}: the model is not estimable from these data"
            ) from None

    def term_thetas(self, theta: ArrayLike) -> Sequence[NDArray[np.float64]]:
        """θ split by term."""
        return self.layout.split(theta)


def _offset(design: Design) -> NDArray[np.float64]:
    return np.zeros(design.nobs) if design.offset is None else design.offset


def _workspace(design: Design, products: CrossProducts) -> PlsWorkspace:
    """The solver on the design's cross-products; a model too large for memory is refused
    naming its terms."""
    try:
        return PlsWorkspace.from_cross_products(products)
    except ModelTooLargeError as err:
        raise _named(design, err) from None


def _from_rows(design: Design) -> CrossProducts:
    """The blocks of [Z X y]'W[Z X y] of the rows in memory: rows and chunks then meet at
    the same value, and the solver works from it alone. Per-level blocks too large are refused
    first: their row products (n × columns² of each term) would be larger still."""
    try:
        check_level_blocks([t.factor.n_levels for t in design.terms],
                           [len(t.columns) for t in design.terms])  # fmt: skip
    except ModelTooLargeError as err:
        raise _named(design, err) from None
    return CrossProducts.from_rows(
        re_blocks(design), design.X, design.y, design.weights, design.offset
    )


def _named(design: Design, err: ModelTooLargeError) -> ModelTooLargeError:
    terms = "; ".join(
        f"{k + 1}: {t.group}, {t.factor.n_levels} levels x {len(t.columns)} column(s)"
        for k, t in enumerate(design.terms)
    )
    return ModelTooLargeError(f"{err} (terms in lme4's order: {terms})")


def _moment_start(design: Design, n: int, m: Moments | None) -> NDArray[np.float64] | None:
    """lme4's start for models whose every term is a random intercept ``(1 | f)``:
    θₖ = sqrt(vₖ / vₑ) with vₖ the variance of the group means of y over the rows and
    vₑ = var(y) - Σ vₖ, from the sums kept with the cross-products; None (the default
    start) when some term is not an intercept or vₑ is not positive."""
    if m is None or not _intercepts_only(design):
        return None
    total, squares = float(m.sums[-1]), float(m.gram[-1, -1])
    mean = total / n
    group_vars = []
    for counts, sums in zip(m.level_counts, m.level_y, strict=True):
        seen = counts > 0
        means = sums[seen] / counts[seen]
        group_vars.append(float(np.sum(counts[seen] * means**2) - n * mean**2) / (n - 1))
    residual = (squares - n * mean**2) / (n - 1) - sum(group_vars)
    if residual <= 0:
        return None
    return np.sqrt(np.asarray(group_vars, dtype=np.float64) / residual)


def _intercepts_only(design: Design) -> bool:
    """Whether every term is a random intercept ``(1 | f)``."""
    return all(t.columns == ["(Intercept)"] and t.spec.type == "us" for t in design.terms)


def make_deviance(design: Design, *, reml: bool = True) -> DevianceFunction:
    """The deviance function of a design (lme4: ``mkLmerDevfun``).

    Example:
        >>> from lmerpy import datasets, lformula, make_deviance
        >>> design = lformula("Reaction ~ Days + (Days | Subject)", datasets.load("sleepstudy"))
        >>> devfun = make_deviance(design)
        >>> round(devfun([0.966742, 0.0151691, 0.230910]), 3)  # lme4's optimum
        1743.628
    """
    return DevianceFunction(design, reml=reml)
