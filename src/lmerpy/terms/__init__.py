"""Random-effect term types: how a term's parameters θ become its block of Λθ."""

from .registry import (
    TermType,
    get_term_type,
    register_term_type,
    registered_term_types,
    unregister_term_type,
)
from .structured import AR1, CompoundSymmetry, Diagonal
from .unstructured import Unstructured

__all__ = [
    "AR1",
    "CompoundSymmetry",
    "Diagonal",
    "TermType",
    "Unstructured",
    "get_term_type",
    "register_term_type",
    "registered_term_types",
    "unregister_term_type",
]
