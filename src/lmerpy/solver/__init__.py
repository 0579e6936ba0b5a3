"""The penalized least squares solver (Bates et al. 2015, sections 3.2-3.6): θ's blocks of Λ
in, the REML criterion or ML deviance, its gradient and the solution out. It knows nothing of
formulas or data frames.

Modules, each importing only those above it in this list:

- ``crossprod``: the blocks of [Z X y]'W[Z X y] and the kernels that form them from rows;
- ``blocks``: a block (dense, level-block stack or CSR) and its algebra;
- ``diagonal``: factors of diagonal blocks;
- ``structure``: which blocks of L are non-zero or dense, and the memory limit
  (``lmerpy.solver.structure.MAX_DENSE_BYTES``);
- ``fillin``: precomputed fill-in maps;
- ``plan``: the templates and fill-in plan an evaluation reads, built once;
- ``blocked``: the blocked Cholesky factorisation and what reads it;
- ``dense``: the one-term and small dense routes to the same factor;
- ``factor``: the choice of route, and the criterion and β̂ from a factor;
- ``gradient``: the exact gradient for scalar terms;
- ``workspace``: ``PlsWorkspace``, which holds a plan and answers from the factor.
"""

from .crossprod import BlockProducts, Moments, ReBlock
from .workspace import PlsCriterion, PlsSolution, PlsWorkspace

__all__ = ["BlockProducts", "Moments", "PlsCriterion", "PlsSolution", "PlsWorkspace", "ReBlock"]
