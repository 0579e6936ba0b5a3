"""The formula language: text -> AST -> ModelSpec."""

from .parse import parse_ast, parse_formula
from .spec import LinearTerms, ModelSpec, RandomTerm, Term

__all__ = ["LinearTerms", "ModelSpec", "RandomTerm", "Term", "parse_ast", "parse_formula"]
