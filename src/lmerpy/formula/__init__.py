"""The formula language: text -> AST -> ModelSpec, and the functions a formula may call
(``functions``: the allow-list and ``register_function``; ``library``: R's functions added
through it)."""

from . import library  # noqa: F401  (registers R's functions)
from .functions import register_function
from .parse import parse_ast, parse_formula
from .spec import LinearTerms, ModelSpec, RandomTerm, Term

__all__ = [
    "LinearTerms",
    "ModelSpec",
    "RandomTerm",
    "Term",
    "parse_ast",
    "parse_formula",
    "register_function",
]
