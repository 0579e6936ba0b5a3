"""Type II and III Wald tests of the fixed terms (car's ``Anova(m, type, test.statistic)``).

Chi-square tests use vcov(β̂) and serve both model kinds; F tests (REML linear fits) are
pbkrtest's Kenward–Roger scaled F with its denominator df, as car reports them.

Type III tests each term's coefficients once every factor's coding is centred over its levels
(sum-to-zero contrasts), the hypotheses of ``type3_hypotheses``. car's type III under R's
default treatment contrasts tests a main effect at the first level of the factors it interacts
with, which is rarely the question asked (docs/postfit.md); without interactions the two agree.
Type II tests each term after every term that does not contain it: its coefficients projected,
in the metric of the covariance used, orthogonally to those of the terms that contain it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.linalg as sla
from numpy.typing import NDArray

from ..errors import ArgumentError
from ..fitted.base import MixedModelResult
from ..inference.ddf import adjusted_vcov, contrast_df
from ..inference.type3 import term_columns, type3_hypotheses

__all__ = ["wald_anova"]

FloatArray = NDArray[np.float64]


def wald_anova(fit: MixedModelResult, type: int = 2, test: str = "chisq") -> pd.DataFrame:
    """Type II or III Wald tests of each fixed term (car: ``Anova(m, type, test.statistic)``).

    Args:
        fit: a linear or generalized fit.
        type: 2 or 3 (type III includes the intercept's row, as car's does).
        test: ``"chisq"`` (columns ``Chisq``, ``Df``, ``Pr(>Chisq)``) or, for REML linear
            fits, ``"F"`` (``F``, ``Df``, ``Df.res``, ``Pr(>F)``; Kenward–Roger).
    """
    kind = str(test).lower()
    if type not in (2, 3) and str(type).upper() not in ("II", "III"):
        raise ArgumentError(f"type must be 2 or 3; got {type!r}")
    third = type == 3 or str(type).upper() == "III"
    if kind not in ("chisq", "f"):
        raise ArgumentError(f"test must be 'chisq' or 'F'; got {test!r}")
    if kind == "f" and (fit.generalized or not fit.reml):
        raise ArgumentError(
            "F tests need a REML linear fit (Kenward-Roger, as car and pbkrtest); use "
            "test='chisq' for ML and generalized fits"
        )
    V = adjusted_vcov(fit) if kind == "f" else fit.vcov.to_numpy()  # type: ignore[arg-type]
    hypotheses = (
        {k: h.to_numpy() for k, h in type3_hypotheses(fit, intercept=True).items()}  # type: ignore[arg-type]
        if third
        else _type2_hypotheses(fit, V)
    )
    rows = {label: _row(fit, L, kind) for label, L in hypotheses.items()}
    columns = ["F", "Df", "Df.res", "Pr(>F)"] if kind == "f" else ["Chisq", "Df", "Pr(>Chisq)"]
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns)


def _row(fit: MixedModelResult, L: FloatArray, kind: str) -> list[float]:
    """One term's test: KR's scaled F, or the Wald chi-square (the asymptotic F times its
    numerator df)."""
    t = contrast_df(fit, L, "kenward-roger" if kind == "f" else "asymptotic")  # type: ignore[arg-type]
    if kind == "f":
        return [t.f_value, float(t.num_df), t.den_df, t.p_value]
    return [t.f_value * t.num_df, float(t.num_df), t.p_value]


def _type2_hypotheses(fit: MixedModelResult, V: FloatArray) -> dict[str, FloatArray]:
    """car's type II: each term's coefficients in the V-orthogonal complement of the terms
    that contain it, within the span of both."""
    columns = term_columns(fit)  # type: ignore[arg-type]
    factors = {str(t): set(map(str, t.factors)) for t in fit.design.spec.fixed.terms}
    p = len(fit.fixef)
    eye = np.eye(p)
    out = {}
    for label, own in columns.items():
        if not own:
            continue
        relatives = [
            j for other, cols in columns.items()
            if other != label and factors.get(label, set()) < factors.get(other, set())
            for j in cols
        ]  # fmt: skip
        if not relatives:
            out[label] = eye[own]
            continue
        Z = eye[:, relatives + own]
        X = eye[:, relatives]
        null = sla.null_space(X.T @ V @ Z)
        out[label] = (Z @ null).T
    return out
