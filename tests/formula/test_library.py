"""R's formula functions against R 4.2 and lme4 1.1-31 on sleepstudy: for each formula
``m <- lmer(f, d)`` the fixed effects (names and values, R's ``fixef(m)``), ``REMLcrit(m)`` and,
for the stateful ones, ``predict(m, data.frame(Days = c(2.5, 7), Subject = "308"), re.form =
NA)`` (new data encoded with the training knots or breaks). ``d`` is sleepstudy with
``g <- ifelse(Days > 4, "hi", "lo")``, ``h <- ifelse(Days %% 2 == 0, "e", "o")``, and for the
shadowing case ``I <- (row - 1) %% 3``. The ``sin`` case's predictions are at Days 1 and 3;
``pi`` is R's constant (no column of that name)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lmerpy

CASES = {
    "Reaction ~ ns(Days, 3) + (1|Subject)": (
        {"(Intercept)": 255.5253714655, "ns(Days, 3)1": 50.1779910211,
         "ns(Days, 3)2": 100.6506910900, "ns(Days, 3)3": 80.3087594883},
        1767.42021667, [275.795004745, 324.579896573]),
    "Reaction ~ bs(Days, df = 5) + (1|Subject)": (
        {"(Intercept)": 257.38228703013, "bs(Days, df = 5)1": 1.65139246179,
         "bs(Days, df = 5)2": 21.21156414805, "bs(Days, df = 5)3": 60.19757203161,
         "bs(Days, df = 5)4": 70.57818998365, "bs(Days, df = 5)5": 94.32018612254},
        1751.95176209, [274.671779672, 322.300967268]),
    "Reaction ~ bs(Days, degree = 2, df = 4) + (1|Subject)": (
        {"(Intercept)": 257.82652596389, "bs(Days, degree = 2, df = 4)1": 1.56648081266,
         "bs(Days, degree = 2, df = 4)2": 43.79068476132,
         "bs(Days, degree = 2, df = 4)3": 65.13569171373,
         "bs(Days, degree = 2, df = 4)4": 93.69188610586}, None, None),
    "Reaction ~ cut(Days, breaks = 3) + (1|Subject)": (
        {"(Intercept)": 267.37536806, "cut(Days, breaks = 3)(3,6]": 35.74000972,
         "cut(Days, breaks = 3)(6,9.01]": 68.03506898}, 1795.35034, None),
    'Reaction ~ relevel(g, ref = "lo") + (1|Subject)': (
        {"(Intercept)": 271.63017889, 'relevel(g, ref = "lo")hi': 53.75542556},
        1813.826638, None),
    "Reaction ~ interaction(g, h) + (1|Subject)": (
        {"(Intercept)": 324.403880556, "interaction(g, h)lo.e": -54.182837963,
         "interaction(g, h)hi.o": 1.636206481, "interaction(g, h)lo.o": -50.659997222},
        1801.888759, None),
    "Reaction ~ ordered(cut(Days, breaks = 3)) + (1|Subject)": (
        {"(Intercept)": 301.967060957, "ordered(cut(Days, breaks = 3)).L": 48.108058635,
         "ordered(cut(Days, breaks = 3)).Q": -1.406395137}, 1796.448952, None),
    "Reaction ~ pmin(Days, 5) + sin(Days) + (1|Subject)": (
        {"(Intercept)": 240.78928677, "pmin(Days, 5)": 15.86685892, "sin(Days)": 11.17322056},
        1803.182528, None),
    "Reaction ~ poly(Days, 2, raw = TRUE) + (1|Subject)": (
        {"(Intercept)": 255.449372777778, "poly(Days, 2, raw = TRUE)1": 7.434085012626,
         "poly(Days, 2, raw = TRUE)2": 0.337022327441}, None, None),
    "Reaction ~ sin(2 * pi * Days / 7) + (1|Subject)": (
        {"(Intercept)": 298.543861863308, "sin(2 * pi * Days/7)": -0.204753119586},
        1899.35278078, [298.383779428, 298.455022814]),
    "Reaction ~ I(Days^2) + I + (1 | Subject)": (
        {"(Intercept)": 266.03503950839, "I(Days^2)": 1.10254595574, "I": 1.05029241958},
        1791.89540456, None),
}  # fmt: skip


CONTRASTS = {
    "angle ~ C(recipe, contr.treatment, base = 2) + (1|replicate)": {
        "(Intercept)": 31.64444444444, "C(recipe, contr.treatment, base = 2)1": 1.47777777778,
        "C(recipe, contr.treatment, base = 2)3": -0.04444444444},
    "angle ~ C(recipe, contr.SAS) + (1|replicate)": {
        "(Intercept)": 31.6, "C(recipe, contr.SAS)1": 1.52222222222,
        "C(recipe, contr.SAS)2": 0.04444444444},
    "angle ~ C(recipe, contr.sdif) + (1|replicate)": {
        "(Intercept)": 32.12222222222, "C(recipe, contr.sdif)2-1": -1.47777777778,
        "C(recipe, contr.sdif)3-2": -0.04444444444},
    "angle ~ C(recipe, contr.sum) + (1|replicate)": {
        "(Intercept)": 32.1222222222, "C(recipe, contr.sum)1": 1.0,
        "C(recipe, contr.sum)2": -0.4777777778},
    "angle ~ C(recipe, contr.helmert) + (1|replicate)": {
        "(Intercept)": 32.1222222222, "C(recipe, contr.helmert)1": -0.7388888889,
        "C(recipe, contr.helmert)2": -0.2611111111},
}  # fmt: skip
"""``fixef(lmer(f, cake))``, R 4.2 with MASS's ``contr.sdif``: a contrast given to ``C`` as a
function numbers its columns."""


@pytest.mark.parametrize("formula", list(CONTRASTS))
def test_contrasts_match_r(formula: str) -> None:
    m = lmerpy.lmer(formula, lmerpy.datasets.load("cake"))
    assert list(m.fixef.index) == list(CONTRASTS[formula])
    np.testing.assert_allclose(m.fixef.to_numpy(), list(CONTRASTS[formula].values()), atol=1e-8)


def _data() -> pd.DataFrame:
    d = lmerpy.datasets.load("sleepstudy")
    d["g"] = np.where(d["Days"] > 4, "hi", "lo")
    d["h"] = np.where(d["Days"] % 2 == 0, "e", "o")
    d["I"] = np.arange(len(d)) % 3
    d["log"] = 1.0  # a column named like a function does not hide it
    return d


@pytest.mark.parametrize("formula", list(CASES))
def test_matches_r(formula: str) -> None:
    fixef, crit, predicted = CASES[formula]
    m = lmerpy.lmer(formula, _data())
    assert list(m.fixef.index) == list(fixef)
    np.testing.assert_allclose(m.fixef.to_numpy(), list(fixef.values()), rtol=1e-6, atol=1e-6)
    if crit is not None:
        assert m.objective == pytest.approx(crit, abs=1e-4)
    if predicted is not None:
        days = [1.0, 3.0] if "pi" in formula else [2.5, 7.0]
        nd = pd.DataFrame({"Days": days, "Subject": ["308", "308"]})
        np.testing.assert_allclose(m.predict(nd, re_form="~0"), predicted, rtol=1e-8)


def test_functions_are_protected() -> None:
    with pytest.raises(lmerpy.errors.ArgumentError, match="built in"):
        lmerpy.register_function("ns", lambda x: x)
