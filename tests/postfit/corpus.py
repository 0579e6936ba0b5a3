"""The post-fit reference corpus (tests/reference/postfit, made by postfit_reference.R and
postfit_extra.R; README.md there names every R call) and the fits it describes, each fitted
once per session."""

from __future__ import annotations

import json
import math
import warnings
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

import lmerpy

ROOT = Path(__file__).parents[1] / "reference" / "postfit"
MODELS = ("cake_factorial", "cbpp_binomial", "exam_factors", "sleepstudy_corr")
EXTRA: dict[str, Any] = json.loads((ROOT / "extra.json").read_text())


@cache
def reference(model: str) -> dict[str, Any]:
    return dict(json.loads((ROOT / "models" / f"{model}.json").read_text()))


@cache
def data(name: str) -> Any:
    return lmerpy.datasets.read_csv(ROOT / "data" / f"{name}.csv")


@cache
def fit(model: str) -> Any:
    """The corpus model fitted with lmerpy's defaults (warnings silenced: the corpus fits are
    R's at tightened tolerances)."""
    ref = reference(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if "family" in ref:
            return lmerpy.glmer(ref["formula"], data(ref["data"]), family=ref["family"])
        return lmerpy.lmer(ref["formula"], data(ref["data"]), reml=ref["REML"])


@cache
def extra_fit(name: str) -> Any:
    formulas = {
        "exam": ("normexam ~ standLRT + sex + schgend + (standLRT | school)", "exam"),
        "cake": ("angle ~ recipe * temperature + (1 | recipe:replicate)", "cake"),
        "sleep": ("Reaction ~ Days + (Days | Subject)", "sleepstudy"),
    }
    if name == "grouse":
        return lmerpy.glmer("TICKS ~ YEAR + (1 | BROOD)", data("grouseticks"), family="poisson")
    formula, dataset = formulas[name]
    return lmerpy.lmer(formula, data(dataset))


def numbers(values: Any) -> np.ndarray:
    """R's JSON numbers: 'Inf' and friends as strings, NA as null."""
    table = {"Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan, None: math.nan}
    items = values if isinstance(values, list) else [values]
    return np.array([table[v] if v is None or isinstance(v, str) else v for v in items], float)


def assert_estimates(ours: np.ndarray, ref: Any, se: Any) -> None:
    """The corpus tolerance for estimates and SEs: 1e-4 relative or 1e-3 of R's SE."""
    r, s = numbers(ref), numbers(se)
    bound = np.maximum(1e-4 * np.abs(r), 1e-3 * np.abs(s))
    assert np.all(np.abs(np.asarray(ours, float) - r) <= bound), (ours, r)


def assert_p(ours: np.ndarray, ref: Any) -> None:
    """p-values: 1e-3 absolute or 1% relative."""
    r = numbers(ref)
    assert np.all(np.abs(np.asarray(ours, float) - r) <= np.maximum(1e-3, 0.01 * r)), (ours, r)


def assert_rel(ours: Any, ref: Any, rel: float) -> None:
    o, r = np.asarray(ours, float), numbers(ref)
    assert np.array_equal(np.isinf(o), np.isinf(r)), (o, r)
    fin = np.isfinite(r)
    assert np.all(np.abs(o[fin] - r[fin]) <= rel * np.abs(r[fin])), (o, r)


def label(text: str) -> str:
    """emmeans' contrast labels compared without spaces, parentheses or case."""
    return "".join(ch for ch in str(text) if ch not in " ()").lower()
