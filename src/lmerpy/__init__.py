"""lmerpy: lme4's linear mixed models, in Python.

>>> import lmerpy
>>> fit = lmerpy.lmer("normexam ~ standLRT + (standLRT | school)",
...                   lmerpy.datasets.load("exam"))
>>> fit.fixef.round(3).to_dict()
{'(Intercept)': -0.012, 'standLRT': 0.557}
"""

from . import datasets, errors
from .anova import anova
from .api import lmer, refit, update
from .checks import Checks
from .chunked.fit import lmer_cross_products
from .chunked.fitted import write_fitted
from .chunked.passes import cross_products, scan
from .chunked.schema import Schema
from .compare import ModelComparison, compare
from .crossprod import CrossProducts
from .design import Design, lformula
from .deviance import DevianceFunction, make_deviance
from .family import Family, binomial, poisson
from .formula import ModelSpec, parse_formula
from .glmer import fit_glmm, glformula, glmer
from .glmer_result import GlmerResult
from .level1 import Level1Intervals, level1_intervals
from .ols import OlsResult, lm
from .optimize import OptimizerRecord, optimize_deviance
from .pirls import GlmmDeviance
from .result import LmerResult, make_result
from .saved import restore_fit, save_fit
from .terms import register_term_type

__all__ = [
    "Checks",
    "CrossProducts",
    "Design",
    "DevianceFunction",
    "Family",
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
    "glformula",
    "glmer",
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
    "refit",
    "register_term_type",
    "restore_fit",
    "save_fit",
    "scan",
    "update",
    "write_fitted",
]


def __dir__() -> list[str]:
    return list(__all__)
