"""``glmer`` on data read in chunks (a Parquet dataset, a Dask DataFrame): PIRLS as passes.

A linear model needs the data once, through [Z X y]'W[Z X y]. A generalized one needs them
at every PIRLS iteration, because the working weights w and response z follow the linear
predictor η. Each iteration here is one pass over the chunks: at the coefficients (β, b) it
is given, a chunk's η, μ and deviance, and its cross-products [Z X z]'W[Z X z] at the
working weights; the sums over the chunks then give the next PIRLS step, the step-halving
test and, once PIRLS has settled, the objective. No row is kept between passes: memory is a
chunk's rows plus the cross-products.

The iteration is the one ``GlmmDeviance`` runs on rows in memory (same start, warm starts,
tolerances and halvings), so the two fits agree to PIRLS's tolerance. Not in this path:
adaptive quadrature (nAGQ > 1), glmmTMB's families, zero-inflation and dispersion models,
and the separation check (a linear programme over every row).
"""

from __future__ import annotations

import dataclasses
import operator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ..data.crossproducts import CrossProducts
from ..data.encode import Encoder
from ..data.passes import scan, used_columns
from ..data.schema import Schema
from ..data.sources import open_source
from ..data.sources.base import Source
from ..design import Design
from ..design.checks import Checks
from ..design.theta import ThetaLayout
from ..errors import DataError, PirlsError
from ..solver import PlsWorkspace, ReBlock
from .family import Family
from .pirls import (
    ETA_TOL,
    FLAT_AFTER,
    MAX_HALVINGS,
    PIRLS_MAX_ITER,
    PIRLS_TOL,
    U_TOL,
    PirlsFit,
    PirlsObjectives,
    working,
)

__all__ = ["StreamedGlmmDeviance", "streamed_glmm"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class _Coefficients:
    """Where a pass evaluates η: Xβ + offset + Σ Z_k b_k, or (β None) lme4's starting
    means, η = g(μ₀(y))."""

    beta: FloatArray | None
    u: FloatArray
    b: tuple[FloatArray, ...]  # per term, (levels, columns)

    def halfway(self, other: _Coefficients) -> _Coefficients:
        """The midpoint (η is linear in β and u at fixed θ)."""
        assert self.beta is not None and other.beta is not None
        return _Coefficients(
            (self.beta + other.beta) / 2,
            (self.u + other.u) / 2,
            tuple((a + c) / 2 for a, c in zip(self.b, other.b, strict=True)),
        )


@dataclass(frozen=True)
class _Sums:
    """One pass's sums over the chunks."""

    products: CrossProducts | None  # [Z X z]'W[Z X z] at the working weights
    deviance: float  # Σ dev_resid(y, μ)
    step: float  # max |η - η of the previous coefficients|

    def __add__(self, other: _Sums) -> _Sums:
        a, b = self.products, other.products
        products = a if b is None else b if a is None else a + b  # None: a chunk without rows
        return _Sums(products, self.deviance + other.deviance, max(self.step, other.step))


class _Pass:
    """The map step of a pass: a chunk's sums at given coefficients. Builds its Encoder
    once per process (not pickled), so Dask's workers can run it."""

    def __init__(
        self,
        schema: Schema,
        family: Family,
        keep: list[int],
        at: _Coefficients,
        previous: _Coefficients | None,
    ) -> None:
        self.schema, self.family, self.keep = schema, family, keep
        self.at, self.previous = at, previous
        self._encoder: Encoder | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_encoder": None}

    def __call__(self, chunk: pd.DataFrame) -> _Sums:
        if self._encoder is None:
            self._encoder = Encoder(self.schema)
        rows = chunk_rows(self._encoder, self.family, chunk, self.keep)
        if rows is None:
            return _Sums(None, 0.0, 0.0)
        y, prior, _, X, blocks, offset = rows
        fam = self.family
        eta = _eta(self.at, fam, y, prior, X, blocks, offset)
        step = 0.0
        if self.previous is not None:
            before = _eta(self.previous, fam, y, prior, X, blocks, offset)
            step = float(np.max(np.abs(eta - before)))
        mu = fam.link.linkinv(eta)
        w, z = working(fam, y, prior, offset, eta, mu)
        products = CrossProducts.from_rows(blocks, X, z, w, None, moments=False)
        deviance = float(np.sum(fam.dev_resid(y, mu, prior)))
        return _Sums(products, deviance, step)


Rows = tuple[FloatArray, FloatArray, FloatArray, FloatArray, list[ReBlock], FloatArray]


def chunk_rows(
    encoder: Encoder, family: Family, chunk: pd.DataFrame, keep: list[int]
) -> Rows | None:
    """A chunk's complete rows as a generalized model reads them: the response (a proportion
    for ``cbind``), the prior weights (times the trials), the trials, X's kept columns, the
    terms' blocks and the offset; None when no row is complete."""
    from .fit import _Response

    frame = chunk[encoder.complete(chunk)]
    if len(frame) == 0:
        return None
    response = _Response(family)
    y, prior = response(encoder.spec, frame, encoder.weights(frame))
    n = len(frame)
    X, blocks, offset = encoder.predictors(frame)
    trials = response.trials if response.trials is not None else np.ones(n)
    return (
        y, np.ones(n) if prior is None else prior, trials, np.ascontiguousarray(X[:, keep]),
        blocks, np.zeros(n) if offset is None else offset,
    )  # fmt: skip


def _eta(
    at: _Coefficients,
    family: Family,
    y: FloatArray,
    prior: FloatArray,
    X: FloatArray,
    blocks: list[ReBlock],
    offset: FloatArray,
) -> FloatArray:
    if at.beta is None:
        return np.asarray(family.link.linkfun(family.mu_start(y, prior)), dtype=np.float64)
    eta = X @ at.beta + offset
    for block, b in zip(blocks, at.b, strict=True):
        eta += np.einsum("na,na->n", block.lhs, b[block.codes])
    return eta


class StreamedGlmmDeviance(PirlsObjectives):
    """``GlmmDeviance``'s objectives on data read in chunks: each PIRLS iteration is one pass
    over ``source`` (see the module's notes).

    Attributes:
        design: the design without rows (``streamed_rows`` is the number of rows).
        family: the response distribution and link.
        nagq: 1 (the Laplace approximation; nAGQ = 0 fits use ``profiled``).
        layout: θ's structure.
        passes: passes over the data so far.
        evaluations, pirls_iterations, eta_tol: as ``GlmmDeviance``'s.
    """

    def __init__(
        self,
        design: Design,
        schema: Schema,
        source: Source,
        family: Family,
        keep: list[int],
        saturated: float,
    ) -> None:
        self.design, self.family, self.nagq = design, family, 1
        self.layout = ThetaLayout(design)
        self.p = len(design.x_columns)
        self.evaluations = self.pirls_iterations = self.passes = 0
        self.eta_tol = ETA_TOL
        self.zi_columns: list[str] = []
        self.disp_columns: list[str] = []
        self._schema, self._source, self._keep = schema, source, keep
        self._saturated = saturated  # aic(μ) - Σ dev_resid(y, μ): the same at every μ
        self._columns = used_columns(schema.formula, schema.weights, source)
        self._levels = [t.factor.n_levels for t in design.terms]
        self._dims = [len(t.columns) for t in design.terms]
        self._last = None
        self._workspace: PlsWorkspace | None = None  # planned once, refilled by each pass
        self._at_fit: PirlsFit | None = None  # the modes the workspace's weights belong to

    # ---- PIRLS ---------------------------------------------------------------------------
    def _iterate(
        self, lambdas: list[FloatArray], beta: FloatArray | None, start: PirlsFit | None
    ) -> PirlsFit:
        q = sum(m * p for m, p in zip(self._levels, self._dims, strict=True))
        if start is not None:
            at = self._coefficients(lambdas, start.beta if beta is None else beta, start.u)
        else:
            at = self._coefficients(lambdas, beta, np.zeros(q))
        self._at_fit = None
        sums = self._pass(at, None)
        # A cold start's η (lme4's starting means) has no modes behind it: take the first step.
        pdev = sums.deviance + float(at.u @ at.u) if at.beta is not None else np.inf
        for iteration in range(1, PIRLS_MAX_ITER + 1):
            workspace = self._refilled(sums)
            try:
                b_new, u_new, ldL2, RX = workspace.modes(lambdas, beta)
            except np.linalg.LinAlgError:
                raise PirlsError("the PIRLS system is not positive definite") from None
            new = self._coefficients(lambdas, b_new, u_new)
            new_sums = self._pass(new, at)
            pdev_new = new_sums.deviance + float(u_new @ u_new)
            slack = PIRLS_TOL * max(pdev_new, 1.0)
            flat = iteration > FLAT_AFTER and abs(pdev - pdev_new) <= slack
            moved = np.max(np.abs(u_new - at.u), initial=0.0)
            if (new_sums.step <= self.eta_tol and moved <= U_TOL) or flat:
                self._at_fit = self._at_modes(at, sums, ldL2, RX, iteration)
                return self._at_fit
            for _ in range(MAX_HALVINGS):
                if pdev_new <= pdev + slack or at.beta is None:
                    break
                new = new.halfway(at)
                new_sums = self._pass(new, None)
                pdev_new = new_sums.deviance + float(new.u @ new.u)
            if not np.isfinite(pdev_new):
                raise PirlsError("the penalized deviance became NaN in PIRLS")
            if pdev_new > pdev + slack:
                raise PirlsError(
                    f"PIRLS step-halvings failed to reduce the deviance ({MAX_HALVINGS} halvings)"
                )
            at, sums, pdev = new, new_sums, pdev_new
        raise PirlsError(f"PIRLS did not converge in {PIRLS_MAX_ITER} iterations")

    def _refilled(self, sums: _Sums) -> PlsWorkspace:
        """The workspace on a pass's cross-products: planned on the first, refilled after."""
        assert sums.products is not None
        if self._workspace is None:
            self._workspace = PlsWorkspace.from_cross_products(sums.products, reweightable=True)
        else:
            self._workspace.refill(sums.products)
        return self._workspace

    def _coefficients(
        self, lambdas: list[FloatArray], beta: FloatArray | None, u: FloatArray
    ) -> _Coefficients:
        parts, start = [], 0
        for T, m, p in zip(lambdas, self._levels, self._dims, strict=True):
            parts.append(u[start : start + m * p].reshape(m, p) @ T.T)
            start += m * p
        return _Coefficients(beta, u, tuple(parts))

    def _pass(self, at: _Coefficients, previous: _Coefficients | None) -> _Sums:
        self.passes += 1
        step = _Pass(self._schema, self.family, self._keep, at, previous)
        sums: _Sums = self._source.reduce(
            step, operator.add, columns=self._columns, label="lmerpy PIRLS"
        )
        return sums

    def _at_modes(
        self, at: _Coefficients, sums: _Sums, ldL2: float, RX: FloatArray, iterations: int
    ) -> PirlsFit:
        beta = np.zeros(self.p) if at.beta is None else at.beta
        b = np.concatenate([part.ravel() for part in at.b])
        aic = self._saturated + sums.deviance
        objective = aic + float(at.u @ at.u) + ldL2
        empty = np.zeros(0)
        return PirlsFit(
            beta, at.u, b, empty, empty, empty, ldL2, RX, sums.deviance, aic, objective,
            iterations,
        )  # fmt: skip

    # ---- at the modes of a fit -------------------------------------------------------------
    def fixed_effects_factor(self, fit: PirlsFit, theta: Any) -> FloatArray:
        """R_X at the modes of ``fit`` (as ``GlmmDeviance.fixed_effects_factor``)."""
        lambdas = self.layout.lambdas(theta)
        return self._at(fit, lambdas).modes(lambdas, fit.beta)[3]

    def conditional_variances(self, fit: PirlsFit, theta: Any) -> list[FloatArray]:
        """Per term, the conditional covariances of b at the modes of ``fit``."""
        lambdas = self.layout.lambdas(theta)
        return self._at(fit, lambdas).conditional_variances(lambdas)

    def _at(self, fit: PirlsFit, lambdas: list[FloatArray]) -> PlsWorkspace:
        """The cross-products at the working weights of ``fit``'s modes (one more pass unless
        they are those PIRLS ended on)."""
        if self._workspace is None or fit is not self._at_fit:
            self._refilled(self._pass(self._coefficients(lambdas, fit.beta, fit.u), None))
            self._at_fit = fit
        assert self._workspace is not None
        return self._workspace


def streamed_glmm(
    formula: Any,
    data: Any,
    family: Family,
    *,
    weights: Any,
    checks: Checks | None,
    batch_size: int | None,
    progress: bool | None,
) -> StreamedGlmmDeviance:
    """The deviance of a generalized model on data read in chunks: a pass for the schema,
    a pass for the design's checks (cross-products at unit weights), then PIRLS's passes."""
    from ..data.streamed import streamed_design

    if weights is not None and not isinstance(weights, str):
        raise DataError("for data read in chunks, weights must be the name of a column")
    schema = scan(formula, data, weights=weights, batch_size=batch_size, progress=progress)
    source = open_source(data, batch_size=batch_size, progress=progress)
    encoder = Encoder(schema)
    first = _Design(schema, family)
    cp, saturated = source.reduce(
        first, _add_pairs, columns=used_columns(schema.formula, weights, source),
        label="lmerpy design",
    )  # fmt: skip
    design, _ = streamed_design(dataclasses.replace(cp, schema=schema), checks, generalized=True)
    full = list(encoder.fixed.columns)
    keep = [full.index(c) for c in design.x_columns]
    quiet = open_source(data, batch_size=batch_size, progress=False)
    return StreamedGlmmDeviance(design, schema, quiet, family, keep, saturated)


def _add_pairs(
    a: tuple[CrossProducts, float], b: tuple[CrossProducts, float]
) -> tuple[CrossProducts, float]:
    return a[0] + b[0], a[1] + b[1]


class _Design:
    """The first pass's map step: a chunk's cross-products at unit weights, with the sums the
    data checks read (the response as the model reads it), and its aic less its deviance
    (which does not depend on μ: here at lme4's starting means)."""

    def __init__(self, schema: Schema, family: Family) -> None:
        self.schema, self.family = schema, family
        self._encoder: Encoder | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_encoder": None}

    def __call__(self, chunk: pd.DataFrame) -> tuple[CrossProducts, float]:
        if self._encoder is None:
            self._encoder = Encoder(self.schema)
        encoder, fam = self._encoder, self.family
        full = list(range(len(encoder.fixed.columns)))
        rows = chunk_rows(encoder, fam, chunk, full)
        if rows is None:
            return encoder.empty(), 0.0
        y, prior, trials, X, blocks, offset = rows
        mu = fam.mu_start(y, prior)
        saturated = fam.aic(y, mu, prior, trials) - float(np.sum(fam.dev_resid(y, mu, prior)))
        return CrossProducts.from_rows(blocks, X, y, None, offset), saturated
