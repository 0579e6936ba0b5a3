"""Generalized linear mixed models (lme4's ``glmer``) in lme4's modular steps: ``fit``
(``glformula``, ``fit_glmm``, ``glmer``), ``pirls`` (θ, β -> Laplace or quadrature deviance),
``optimum`` (derivatives, polish and the search for variances at zero), ``family`` (response
distributions and links), ``result`` (``GlmerResult``); ``irls`` fits the model without random
effects (``lmerpy.glm``)."""

from .family import Family, binomial, poisson
from .fit import fit_glmm, glformula, glmer
from .pirls import GlmmDeviance
from .result import GlmerResult

__all__ = [
    "Family",
    "GlmerResult",
    "GlmmDeviance",
    "binomial",
    "fit_glmm",
    "glformula",
    "glmer",
    "poisson",
]
