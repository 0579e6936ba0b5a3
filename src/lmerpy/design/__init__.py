"""From (formula, data) to the ``Design`` a fit is built on (lme4's ``lFormula``).

``design`` holds the values, ``build`` makes them from rows (complete cases, weights, response,
rank drop), ``matrices`` builds X and the terms' matrices through formulaic, ``grouping`` the
grouping factors, ``theta`` the covariance parameters' layout, and ``checks`` lme4's data
checks over rows or over cross-product moments.
"""

from .build import (
    build_design,
    check_columns,
    checked,
    complete_cases,
    independent_columns,
    lformula,
    offset_vector,
    response_vector,
)
from .design import RANK_TOLERANCE, Design, RandomEffectsTerm

__all__ = [
    "RANK_TOLERANCE",
    "Design",
    "RandomEffectsTerm",
    "build_design",
    "check_columns",
    "checked",
    "complete_cases",
    "independent_columns",
    "lformula",
    "offset_vector",
    "response_vector",
]
