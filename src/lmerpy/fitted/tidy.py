"""Long, tidy frames of a fit, as broom.mixed's ``tidy()`` gives them in R."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ArgumentError
from .base import MixedModelResult as Fit

__all__ = ["tidy"]


def tidy(fit: Fit, effects: str = "fixed", ddf: str | None = None) -> pd.DataFrame:
    """One row per estimate (R: ``broom.mixed::tidy(m, effects = ...)``).

    ``effects`` is ``"fixed"`` (estimate, std.error, statistic, df, p.value; a generalized
    model's z statistics have no df),
    ``"ran_pars"`` (standard deviations and correlations, named ``sd__(Intercept)``,
    ``cor__(Intercept).Days``, ``sd__Observation``) or ``"ran_vals"`` (conditional modes
    with their conditional standard deviations).
    """
    makers = {"fixed": _fixed, "ran_pars": _ran_pars, "ran_vals": _ran_vals}
    if effects not in makers:
        raise ArgumentError(f"effects must be one of {', '.join(makers)}, not {effects!r}")
    return makers[effects](fit, ddf)


def _fixed(fit: Fit, ddf: str | None) -> pd.DataFrame:
    table = fit.coef_table() if ddf is None else fit.coef_table(ddf)
    stat = "t" if "t value" in table.columns else "z"
    columns = {
        "effect": "fixed",
        "term": table.index,
        "estimate": table["Estimate"].to_numpy(),
        "std.error": table["Std. Error"].to_numpy(),
        "statistic": table[f"{stat} value"].to_numpy(),
        "df": table["df"].to_numpy() if "df" in table.columns else None,
        "p.value": table[f"Pr(>|{stat}|)"].to_numpy(),
    }
    return pd.DataFrame({k: v for k, v in columns.items() if v is not None})


def _ran_pars(fit: Fit, ddf: str | None) -> pd.DataFrame:
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


def _ran_vals(fit: Fit, ddf: str | None) -> pd.DataFrame:
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
