"""What every fit shares, linear or generalized: the base result and the protocol the layers
below type against (``base``), predictions and simulation (``predict``), the summary and its
text (``summary``, ``printing``) and broom-style frames (``tidy``)."""

from .base import MixedModelResult

__all__ = ["MixedModelResult"]
