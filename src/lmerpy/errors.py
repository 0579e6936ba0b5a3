"""Every exception and warning lmerpy raises, under one root.

``LmerpyError`` is the root; ``LmerpyWarning`` the root of warnings. Errors that
point into a formula keep the formula text and a character offset, and their
message shows the formula with a caret under the problem.
"""

from __future__ import annotations

import os
import sys
import warnings

__all__ = [
    "ArgumentError",
    "ArgumentTypeError",
    "ConvergenceWarning",
    "DataError",
    "DataSourceError",
    "DataWarning",
    "DegenerateModelError",
    "FamilyError",
    "FitError",
    "FormulaError",
    "FormulaLimitError",
    "FormulaSemanticError",
    "FormulaSyntaxError",
    "LmerpyError",
    "LmerpyWarning",
    "MatplotlibMissingError",
    "MissingColumnError",
    "MissingDependencyError",
    "ModelTooLargeError",
    "PirlsError",
    "RankDeficiencyWarning",
    "RowsDroppedWarning",
    "SeparationError",
    "SingularFitWarning",
    "warn",
]

_CONTEXT = 60  # characters of formula shown either side of the caret


class LmerpyError(Exception):
    """Root of every error lmerpy raises on purpose."""


class FormulaError(LmerpyError, ValueError):
    """A formula that lmerpy cannot accept; shows where, with a caret.

    Attributes:
        message: what is wrong and what to do, without the formula.
        formula: the formula text.
        pos: 0-based character offset of the problem.
        end: 0-based offset one past the problem (``pos + 1`` for a single caret).
        line, column: 1-based line and column of ``pos``.
    """

    def __init__(self, message: str, formula: str, pos: int, end: int | None = None) -> None:
        self.message = message
        self.formula = formula
        self.pos = max(0, min(pos, len(formula)))
        self.end = max(self.pos + 1, end if end is not None else self.pos + 1)
        self.line = formula.count("\n", 0, self.pos) + 1
        self.column = self.pos - (formula.rfind("\n", 0, self.pos) + 1) + 1
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return f"{self.message}\n{self.context()}"

    def context(self) -> str:
        """The formula line holding the problem, clipped, with carets under it."""
        return caret_context(self.formula, self.pos, self.end)


def caret_context(formula: str, pos: int, end: int) -> str:
    """The line of ``formula`` holding ``pos``, clipped, with carets under ``pos:end``."""
    start = formula.rfind("\n", 0, pos) + 1
    stop = formula.find("\n", pos)
    line = formula[start : len(formula) if stop < 0 else stop]
    col = pos - start
    width = max(1, min(end - pos, len(line) - col))
    lo = max(0, col - _CONTEXT)
    hi = min(len(line), col + width + _CONTEXT)
    prefix = "..." if lo > 0 else ""
    suffix = "..." if hi < len(line) else ""
    shown = prefix + line[lo:hi] + suffix
    caret = " " * (len(prefix) + col - lo) + "^" * width
    return f"  {shown}\n  {caret}"


class FormulaSyntaxError(FormulaError):
    """The text is not an lme4 formula: a stray character, unbalanced parentheses,
    a missing operand, a function or term type lmerpy does not know."""


class FormulaSemanticError(FormulaError):
    """The formula parses but does not describe a model lmerpy can fit
    (a bar outside parentheses, a grouping factor that is not a variable, ...)."""


class FormulaLimitError(FormulaError):
    """The formula exceeds a resource limit (length, nesting depth, power, terms)."""


class ArgumentError(LmerpyError, ValueError):
    """An argument of an lmerpy function has a value it does not accept (an unknown ``ddf``
    or ``method``, a level outside (0, 1), ...); the message says what is accepted."""


class ArgumentTypeError(ArgumentError, TypeError):
    """An argument of an lmerpy function has a type it does not accept (a formula that is
    not a string, a term option that is not TRUE or FALSE)."""


class DataError(LmerpyError, ValueError):
    """The data do not fit the formula: a missing column, an unusable grouping factor,
    a response that is not numeric, no rows left after dropping missing values."""


class MissingColumnError(DataError, KeyError):
    """A variable named in the formula is not a column of the data.

    Attributes:
        name: the missing column; ``formula``, ``pos``, ``end``: where it is named.
    """

    def __init__(self, message: str, name: str, formula: str = "", pos: int = 0, end: int = 0):
        self.message, self.name, self.formula, self.pos, self.end = message, name, formula, pos, end
        super().__init__(message)

    def __str__(self) -> str:  # KeyError would quote the message
        if not self.formula:
            return self.message
        return f"{self.message}\n{caret_context(self.formula, self.pos, self.end)}"


class FamilyError(LmerpyError, ValueError):
    """A response family or link function lmerpy does not support."""


class DegenerateModelError(LmerpyError):
    """The model cannot be estimated from these data (e.g. a rank-deficient design
    that cannot be repaired by dropping columns)."""


class ModelTooLargeError(LmerpyError, MemoryError):
    """The model would need more memory than lmerpy allows itself; the message gives the
    numbers and a way out."""


class DataSourceError(DataError):
    """Data read in chunks could not be read: a Parquet path that matches no file, a file
    that is not Parquet, a Dask computation that failed."""


class MissingDependencyError(LmerpyError, ImportError):
    """An optional dependency is not installed; the message says which extra to install
    (``pip install 'lmerpy[parquet]'``, ``'lmerpy[dask]'``, ``'lmerpy[progress]'``)."""


class MatplotlibMissingError(LmerpyError, ImportError):
    """Drawing needs matplotlib, an optional dependency: ``pip install 'lmerpy[plot]'``."""


class FitError(LmerpyError, RuntimeError):
    """The optimizer failed to produce a fit."""


class PirlsError(FitError):
    """Penalized iteratively reweighted least squares (a generalized model's inner loop)
    failed: the deviance rose under every step-halving, became NaN, or did not settle."""


class SeparationError(FitError):
    """The responses are (quasi-)completely separated by the fixed effects: along some
    direction of β the likelihood keeps increasing, so its maximum lies at infinity."""


class LmerpyWarning(UserWarning):
    """Root of the warnings lmerpy issues; each is also kept on the result."""


class DataWarning(LmerpyWarning):
    """Something about the data worth knowing that does not stop the fit."""


class SingularFitWarning(LmerpyWarning):
    """A boundary (singular) fit: some variance component is estimated as zero
    or some correlation as ±1 (lme4's ``isSingular``)."""


class ConvergenceWarning(LmerpyWarning):
    """The optimizer stopped without meeting its convergence criteria."""


class RankDeficiencyWarning(LmerpyWarning):
    """Columns of the fixed-effects matrix were dropped because it is rank deficient."""


class RowsDroppedWarning(LmerpyWarning):
    """Rows with missing values in a used variable were dropped before fitting."""


_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn(message: str, category: type[Warning] = LmerpyWarning) -> None:
    """Issue a warning that points at the first line outside lmerpy: the user's call,
    however many layers of lmerpy lie between it and here."""
    frame = sys._getframe(1)
    level = 2
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)
