"""lmerpy: lme4's linear mixed models, in Python.

>>> import lmerpy
>>> spec = lmerpy.parse_formula("normexam ~ standLRT + (standLRT | school)")
"""

from . import errors
from .formula import ModelSpec, parse_formula
from .terms import register_term_type

__all__ = ["ModelSpec", "errors", "parse_formula", "register_term_type"]


def __dir__() -> list[str]:
    return list(__all__)
