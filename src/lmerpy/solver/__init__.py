"""The penalized least squares solver (Bates et al. 2015, sections 3.2-3.6): θ's blocks of Λ
in, the REML criterion or ML deviance, its gradient and the solution out. It knows nothing of
formulas or data frames.

``crossprod`` forms the blocks of [Z X y]'W[Z X y]; ``workspace`` holds them and evaluates the
criterion for each θ.
"""

from .crossprod import BlockProducts, Moments, ReBlock
from .workspace import PlsCriterion, PlsSolution, PlsWorkspace

__all__ = ["BlockProducts", "Moments", "PlsCriterion", "PlsSolution", "PlsWorkspace", "ReBlock"]
