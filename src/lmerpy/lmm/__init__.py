"""Linear mixed models (lme4's ``lmer``) in lme4's modular steps: ``fit`` (``lmer``, ``refit``,
``update``), ``deviance`` (θ -> REML criterion or ML deviance), ``result`` (``LmerResult``) and
``chunked`` (fits from cross-products of data read in chunks)."""

from .deviance import DevianceFunction, make_deviance
from .fit import lmer, refit, update
from .result import LmerResult, make_result

__all__ = [
    "DevianceFunction",
    "LmerResult",
    "lmer",
    "make_deviance",
    "make_result",
    "refit",
    "update",
]
