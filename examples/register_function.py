"""Add a function to the formula language: a winsorised covariate whose cut-offs are learned
from the training data and reused on new data (docs/formulas.md, "Adding functions").

    python examples/register_function.py

Fits ``Reaction ~ winsor(Days, q = 0.1) + (1 | Subject)`` on sleepstudy, then predicts on new
days beyond the training range: they are clipped at the training quantiles, not their own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

import lmerpy


def winsor(x: Any, q: float = 0.05, *, state: dict[str, Any]) -> np.ndarray:
    """x clipped at its q and 1 - q quantiles, those of the training data."""
    values = np.asarray(x, dtype=np.float64)
    if "limits" not in state:  # fitting: remember the cut-offs
        state["limits"] = np.quantile(values, [q, 1 - q]).tolist()
    low, high = state["limits"]
    return np.clip(values, low, high)


def main() -> None:
    lmerpy.register_function("winsor", winsor, keywords={"q": "number"}, stateful=True)
    fit = lmerpy.lmer("Reaction ~ winsor(Days, q = 0.1) + (1 | Subject)",
                      lmerpy.datasets.load("sleepstudy"))  # fmt: skip
    print(fit.coef_table())
    new = pd.DataFrame({"Days": [0.0, 5.0, 20.0], "Subject": ["308"] * 3})
    print("\npopulation-level predictions at 0, 5 and 20 days (20 is clipped at the training 90%):")
    print(fit.predict(new, re_form="~0").round(2).to_list())


if __name__ == "__main__":
    main()
