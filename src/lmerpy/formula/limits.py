"""Resource limits on formulas, so a hostile formula fails fast with a clear error.

They are checked before anything expensive: the length and the parenthesis depth
before parsing, the expression depth after, the power and the number of terms
while expanding. Each limit is far above what a real model needs.
"""

MAX_LENGTH = 10_000
"""Characters in a formula."""

MAX_DEPTH = 100
"""Nesting depth of an expression (parentheses, calls, operators; a chain of
``+``/``-`` counts once)."""

MAX_POWER = 10
"""Largest ``n`` in ``(a + b + ...)^n``."""

MAX_TERMS = 1_000
"""Terms in one expanded linear predictor."""
