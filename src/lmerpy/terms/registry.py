"""The registry of random-effect term types (lme4 2.0's ``Covariance`` classes).

A term type turns its parameter vector θᵢ into the lower-triangular relative
covariance factor Tᵢ of one random-effect term, so that the term's random effects
have covariance σ² Tᵢ Tᵢᵀ within every level of its grouping factor. Z construction
and the penalized least squares solver are shared: a term type never touches them.

``(x | g)`` means ``us(x | g)``; ``name(x | g, key = value)`` looks ``name`` up here and
calls its factory with the literal options as keyword arguments. A fit is singular
when some parameter sits on one of its finite bounds (a standard deviation at 0, a
correlation at its limit), the test lme4's ``isSingular`` makes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, TypeAlias, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from ..errors import ArgumentError, ArgumentTypeError

__all__ = [
    "Option",
    "TermType",
    "get_term_type",
    "register_term_type",
    "registered_term_types",
]

Option: TypeAlias = float | int | str | bool
"""A term option's value, as a literal of the formula gives it (``cs(x | g, hom = TRUE)``)."""


@runtime_checkable
class TermType(Protocol):
    """What a random-effect term type provides, for a term with ``n_cols`` columns.

    Attributes:
        name: the formula spelling (``"us"``, ``"diag"``, ...), used in printouts.
    """

    name: str

    def n_theta(self, n_cols: int) -> int:
        """Number of parameters."""
        ...

    def theta_start(self, n_cols: int) -> NDArray[np.float64]:
        """Starting values."""
        ...

    def lower_bounds(self, n_cols: int) -> NDArray[np.float64]:
        """Lower bounds (0 for standard deviations, -inf where there is none)."""
        ...

    def upper_bounds(self, n_cols: int) -> NDArray[np.float64]:
        """Upper bounds (+inf where there is none)."""
        ...

    def lambda_block(self, theta: NDArray[np.float64], n_cols: int) -> NDArray[np.float64]:
        """The lower-triangular ``n_cols × n_cols`` factor Tᵢ at ``theta``."""
        ...

    def theta_names(self, columns: Sequence[str], group: str) -> list[str]:
        """Names of the parameters (lme4's ``getME(m, "theta")`` names for ``us``)."""
        ...


TermTypeFactory = Callable[..., TermType]

_REGISTRY: dict[str, TermTypeFactory] = {}


def register_term_type(name: str, factory: TermTypeFactory) -> None:
    """Make ``name(lhs | g, key = value)`` mean ``factory(key=value)`` in formulas.

    ``factory`` is called with the term's literal options as keyword arguments and
    returns a ``TermType``; it should raise ``TypeError`` or ``ValueError`` for options
    it does not take. lme4 equivalent: the covariance classes behind ``us``, ``diag``,
    ``cs`` and ``ar1`` (lme4 ≥ 2.0); see docs/term-types.md for a complete example.
    """
    if not name.isidentifier():
        raise ArgumentError(f"term type name must be an identifier, not {name!r}")
    if name in _REGISTRY:
        raise ArgumentError(f"term type {name!r} is already registered")
    _REGISTRY[name] = factory


def unregister_term_type(name: str) -> None:
    """Remove a registered term type (for tests and interactive work)."""
    del _REGISTRY[name]


def registered_term_types() -> list[str]:
    """Names usable as ``name(lhs | g)`` in a formula, sorted."""
    return sorted(_REGISTRY)


def get_term_type(name: str, options: Mapping[str, Option] | None = None) -> TermType:
    """Build the term type ``name`` with ``options``; ``KeyError`` if it is not registered."""
    return _REGISTRY[name](**dict(options or {}))


def flag(value: Option, option: str) -> bool:
    """A TRUE/FALSE option, or a TypeError naming it."""
    if not isinstance(value, bool):
        raise ArgumentTypeError(f"{option} must be TRUE or FALSE, not {value!r}")
    return value
