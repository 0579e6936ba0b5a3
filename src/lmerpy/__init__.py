"""lmerpy: lme4's linear mixed models, in Python.

>>> import lmerpy
>>> fit = lmerpy.lmer("normexam ~ standLRT + (standLRT | school)",
...                   lmerpy.datasets.load("exam"))
>>> fit.fixef.round(3).to_dict()
{'(Intercept)': -0.012, 'standLRT': 0.557}
"""

from . import datasets, errors
from .data.crossproducts import CrossProducts
from .data.passes import cross_products, scan
from .data.schema import Schema
from .design import Design, lformula
from .design.checks import Checks
from .formula import ModelSpec, parse_formula, register_function
from .glmm.family import Family, binomial, gamma, gaussian, inverse_gaussian, poisson
from .glmm.fit import fit_glmm, glformula, glmer
from .glmm.irls import GlmResult, glm
from .glmm.pirls import GlmmDeviance
from .glmm.result import GlmerResult
from .inference.lrt import anova
from .io import restore_fit, save_fit, write_fitted
from .kaplan2010.comparison import ModelComparison, compare
from .kaplan2010.level1 import Level1Intervals, level1_intervals
from .kaplan2010.ols import OlsResult, lm
from .lmm.chunked import lmer_cross_products
from .lmm.deviance import DevianceFunction, make_deviance
from .lmm.fit import lmer, refit, update
from .lmm.result import LmerResult, make_result
from .optimize import OptimizerRecord, optimize_deviance
from .postfit.resample import power_sim
from .terms import register_term_type

__all__ = [
    "Checks",
    "CrossProducts",
    "Design",
    "DevianceFunction",
    "Family",
    "GlmResult",
    "GlmerResult",
    "GlmmDeviance",
    "Level1Intervals",
    "LmerResult",
    "ModelComparison",
    "ModelSpec",
    "OlsResult",
    "OptimizerRecord",
    "Schema",
    "anova",
    "binomial",
    "compare",
    "cross_products",
    "datasets",
    "errors",
    "fit_glmm",
    "gamma",
    "gaussian",
    "glformula",
    "glm",
    "glmer",
    "inverse_gaussian",
    "level1_intervals",
    "lformula",
    "lm",
    "lmer",
    "lmer_cross_products",
    "make_deviance",
    "make_result",
    "optimize_deviance",
    "parse_formula",
    "poisson",
    "power_sim",
    "refit",
    "register_function",
    "register_term_type",
    "restore_fit",
    "save_fit",
    "scan",
    "update",
    "write_fitted",
]


def __dir__() -> list[str]:
    return list(__all__)
