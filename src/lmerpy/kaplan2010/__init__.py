"""The report lmerpy grew from (Kaplan, *An Overview of Multilevel Regression*, 2010),
reproduced end to end: its OLS fits (``ols``), the Bryk–Raudenbush level-1 intervals
(``level1``), Tables 4.1 and 4.2 (``comparison``), the figures (``plots``) and the whole
analysis on the bundled Exam data (``report``). ``lm``, ``level1_intervals`` and ``compare``
are re-exported at the top level."""

from .comparison import ModelComparison, compare
from .level1 import Level1Intervals, level1_intervals
from .ols import OlsResult, lm
from .report import run_report

__all__ = [
    "Level1Intervals",
    "ModelComparison",
    "OlsResult",
    "compare",
    "level1_intervals",
    "lm",
    "run_report",
]
