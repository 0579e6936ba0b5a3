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
from .formula import ModelSpec, parse_formula
from .level1 import Level1Intervals, level1_intervals
from .ols import OlsResult, lm
from .optimize import OptimizerRecord, optimize_deviance
from .result import LmerResult, make_result
from .saved import restore_fit, save_fit
from .terms import register_term_type

__all__ = [
    "Checks",
    "CrossProducts",
    "Design",
    "DevianceFunction",
    "Level1Intervals",
    "LmerResult",
    "ModelComparison",
    "ModelSpec",
    "OlsResult",
    "OptimizerRecord",
    "Schema",
    "anova",
    "compare",
    "cross_products",
    "datasets",
    "errors",
    "level1_intervals",
    "lformula",
    "lm",
    "lmer",
    "lmer_cross_products",
    "make_deviance",
    "make_result",
    "optimize_deviance",
    "parse_formula",
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
