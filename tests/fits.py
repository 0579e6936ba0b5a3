"""Fits shared by test modules, each made once per test session (MixedModels.jl's modelcache)."""

from __future__ import annotations

from functools import cache

import pandas as pd

import lmerpy


@cache
def data(name: str) -> pd.DataFrame:
    """A bundled data set, loaded once (tests must not modify it)."""
    return lmerpy.datasets.load(name)


@cache
def fit(formula: str, data_name: str = "exam", reml: bool = True) -> lmerpy.LmerResult:
    """``lmerpy.lmer(formula, data(data_name), reml=reml)``, fitted once."""
    return lmerpy.lmer(formula, data(data_name), reml=reml)
