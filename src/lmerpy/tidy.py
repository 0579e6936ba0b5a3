"""Long, tidy frames of a fit, as broom.mixed's ``tidy()`` gives them in R."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from .result import LmerResult

__all__ = ["tidy"]


def tidy(fit: LmerResult, effects: str = "fixed", ddf: str = "satterthwaite") -> pd.DataFrame:
    """One row per estimate (R: ``broom.mixed::tidy(m, effects = ...)``).

    ``effects`` is ``"fixed"`` (estimate, std.error, statistic, df, p.value),
    ``"ran_pars"`` (standard deviations and correlations, named ``sd__(Intercept)``,
    ``cor__(Intercept).Days``, ``sd__Observation``) or ``"ran_vals"`` (conditional modes
    with their conditional standard deviations).
    """
    makers = {"fixed": _fixed, "ran_pars": _ran_pars, "ran_vals": _ran_vals}
    if effects not in makers:
        raise ValueError(f"effects must be one of {', '.join(makers)}, not {effects!r}")
    return makers[effects](fit, ddf)


def _fixed(fit: LmerResult, ddf: str) -> pd.DataFrame:
    table = fit.coef_table(ddf)
    return pd.DataFrame(
        {
            "effect": "fixed",
            "term": table.index,
            "estimate": table["Estimate"].to_numpy(),
            "std.error": table["Std. Error"].to_numpy(),
            "statistic": table["t value"].to_numpy(),
            "df": table["df"].to_numpy(),
            "p.value": table["Pr(>|t|)"].to_numpy(),
        }
    )


def _ran_pars(fit: LmerResult, ddf: str) -> pd.DataFrame:
    rows = []
    vc = fit.varcorr
    for group, var1, var2, sdcor in zip(
        vc["group"], vc["var1"], vc["var2"], vc["sdcor"], strict=True
    ):
        if group == "Residual":
            rows.append(("Residual", "sd__Observation", sdcor))
        elif pd.isna(var2):
            rows.append((str(group), f"sd__{var1}", sdcor))
        else:
            rows.append((str(group), f"cor__{var1}.{var2}", sdcor))
    frame = pd.DataFrame(rows, columns=["group", "term", "estimate"])
    frame.insert(0, "effect", "ran_pars")
    return frame


def _ran_vals(fit: LmerResult, ddf: str) -> pd.DataFrame:
    parts = []
    for group, modes in fit.ranef.items():
        condsd = np.sqrt(np.diagonal(fit.ranef_condvar[group], axis1=1, axis2=2))
        for j, term in enumerate(modes.columns):
            columns = {
                "effect": "ran_vals",
                "group": group,
                "level": modes.index.astype(str),
                "term": term,
                "estimate": modes[term].to_numpy(),
                "std.error": condsd[:, j],
            }
            parts.append(pd.DataFrame(columns))
    return pd.concat(parts, ignore_index=True)
