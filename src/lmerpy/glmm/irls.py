"""Generalized linear models without random effects, by iteratively reweighted least squares
(R's ``glm``), the twin of ``lmerpy.lm``:
the model a likelihood-ratio test of a glmer fit's random effects compares against
(``lmerpy.anova(glmer_fit, glm_fit)``, as lme4 users write ``anova(m, glm(...))``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from ..design import Design
from ..errors import FamilyError, FitError
from .family import Family, get_family
from .fit import glformula
from .pirls import working

__all__ = ["GlmResult", "glm"]

FloatArray = NDArray[np.float64]

IRLS_TOL = 1e-10  # relative change of the deviance (R's glm.control epsilon is 1e-8)
IRLS_MAX_ITER = 100


@dataclass(frozen=True, repr=False)
class GlmResult:
    """A generalized linear model fitted by iteratively reweighted least squares (R's ``glm``
    object): ``fixef`` (``coef(m)``), ``vcov``, ``fitted`` means, ``loglik``, ``aic``, ``bic``,
    ``deviance`` (``deviance(m)``: the residual deviance), ``npar`` and ``nobs``."""

    design: Design
    family: Family
    beta: FloatArray
    vcov_matrix: FloatArray
    mu: FloatArray
    loglik: float
    deviance: float
    iterations: int
    generalized: ClassVar[bool] = True
    reml: ClassVar[bool] = False

    def __repr__(self) -> str:
        return f"<GlmResult {self.design.spec.formula!r} ({self.family}): logLik {self.loglik:.4f}>"

    @property
    def fixef(self) -> pd.Series:
        return pd.Series(self.beta, index=self.design.x_columns, name="fixef")

    @property
    def vcov(self) -> pd.DataFrame:
        cols = self.design.x_columns
        return pd.DataFrame(self.vcov_matrix, index=cols, columns=cols)

    @property
    def nobs(self) -> int:
        return self.design.nobs

    @property
    def npar(self) -> int:
        return len(self.beta)

    @property
    def aic(self) -> float:
        return -2 * self.loglik + 2 * self.npar

    @property
    def bic(self) -> float:
        return -2 * self.loglik + self.npar * math.log(self.nobs)

    @property
    def fitted(self) -> pd.Series:
        return pd.Series(self.mu, index=self.design.rows, name="fitted")

    def coef_table(self) -> pd.DataFrame:
        """Estimate, Std. Error, z value, Pr(>|z|) (R: ``summary(m)$coefficients``)."""
        se = np.sqrt(np.diag(self.vcov_matrix))
        z = self.beta / se
        return pd.DataFrame(
            {"Estimate": self.beta, "Std. Error": se, "z value": z,
             "Pr(>|z|)": 2 * stats.norm.sf(np.abs(z))},
            index=self.design.x_columns,
        )  # fmt: skip

    def refit_ml(self) -> GlmResult:
        """Itself: a GLM is fitted by maximum likelihood."""
        return self


def glm(
    formula: str,
    data: pd.DataFrame,
    family: str | Family = "binomial",
    *,
    weights: ArrayLike | str | None = None,
) -> GlmResult:
    """Fit a generalized linear model (R: ``glm(formula, data, family, weights)``) by
    iteratively reweighted least squares; binomial (``cbind(s, f)``, 0/1 or proportions with
    weights) and Poisson, with any of their links.

    Example:
        >>> import lmerpy
        >>> cbpp = lmerpy.datasets.load("cbpp")
        >>> m = lmerpy.glm("cbind(incidence, size - incidence) ~ period", cbpp, "binomial")
        >>> round(m.loglik, 4)
        -99.0292
    """
    fam = get_family(family)
    if fam.name not in ("binomial", "poisson"):
        raise FamilyError(f"lmerpy.glm fits binomial and Poisson models; not {fam.name}")
    design, trials = glformula(formula, data, fam, weights=weights, random=False)
    X, y = design.X, design.y
    w = np.ones(design.nobs) if design.weights is None else design.weights
    offset = np.zeros(design.nobs) if design.offset is None else design.offset
    mu = fam.mu_start(y, w)
    eta = fam.link.linkfun(mu)
    deviance = np.inf
    iteration = 0
    for iteration in range(1, IRLS_MAX_ITER + 1):  # noqa: B007 (kept on the result)
        W, z = working(fam, y, w, offset, eta, mu)
        sw = np.sqrt(W)
        beta = np.linalg.lstsq(X * sw[:, None], z * sw, rcond=None)[0]
        eta = X @ beta + offset
        mu = fam.link.linkinv(eta)
        new = float(np.sum(fam.dev_resid(y, mu, w)))
        if abs(new - deviance) <= IRLS_TOL * (abs(new) + 0.1):
            deviance = new
            break
        deviance = new
    else:
        raise FitError(f"IRLS did not converge in {IRLS_MAX_ITER} iterations")
    W, _ = working(fam, y, w, offset, eta, mu)
    vcov = np.asarray(np.linalg.inv(X.T @ (W[:, None] * X)), dtype=np.float64)
    loglik = -fam.aic(y, mu, w, trials) / 2
    return GlmResult(design, fam, np.asarray(beta), vcov, np.asarray(mu), float(loglik), deviance,
                     iteration)  # fmt: skip
