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
from .compare import ModelComparison, compare
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
from .terms import register_term_type

__all__ = [
    "Checks",
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
    "anova",
    "binomial",
    "compare",
    "datasets",
    "errors",
    "fit_glmm",
    "glformula",
    "glmer",
    "level1_intervals",
    "lformula",
    "lm",
    "lmer",
    "make_deviance",
    "make_result",
    "optimize_deviance",
    "parse_formula",
    "poisson",
    "refit",
    "register_term_type",
    "update",
]


def __dir__() -> list[str]:
    return list(__all__)
