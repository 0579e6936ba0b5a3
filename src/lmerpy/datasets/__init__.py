"""Data sets bundled with lmerpy, as R has them (factors as ordered-level Categoricals).

>>> from lmerpy import datasets
>>> exam = datasets.load("exam")
>>> exam.shape
(4059, 10)
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import DataError

__all__ = ["DESCRIPTIONS", "load", "names"]

DESCRIPTIONS: dict[str, str] = {
    "exam": "Exam scores of 4,059 students in 65 inner-London schools (R package mlmRev, Exam).",
    "sleepstudy": "Reaction times of 18 subjects over 10 days of sleep deprivation (lme4).",
    "dyestuff": "Yield of dyestuff from 6 batches of an intermediate product, 5 each (lme4).",
    "dyestuff2": "Simulated data in Dyestuff's layout, with no batch-to-batch variation (lme4).",
    "penicillin": "Penicillin potency: 6 samples assayed on 24 plates, fully crossed (lme4).",
    "pastes": "Strength of paste in casks nested within 10 delivery batches (lme4).",
    "cake": "Breakage angle of chocolate cakes: 3 recipes, 6 temperatures, 15 replicates (lme4).",
    "orthodont": "Orthodontic distance growth of 27 children from age 8 to 14 (R package nlme).",
    "cbpp": "Contagious bovine pleuropneumonia: new cases in 15 herds over 4 periods (lme4).",
    "grouseticks": "Ticks on red grouse chicks, by brood, location and year (lme4).",
    "insteval": "73,421 lecture ratings by 2,972 students of 1,128 lecturers (lme4 InstEval).",
    "verbagg": "Verbal aggression: 316 people's yes/perhaps/no to 24 items (lme4 VerbAgg).",
    "salamanders": "Salamander counts in 23 streams, by species and mining (glmmTMB Salamanders).",
    "owls": "Sibling negotiation calls in 27 barn owl nests, by food and parent (glmmTMB Owls).",
}


def names() -> list[str]:
    """The bundled data sets."""
    return sorted(DESCRIPTIONS)


def load(name: str) -> pd.DataFrame:
    """Load a bundled data set (R: ``data(name)``), factors as pandas Categoricals
    with R's level order, so that contrasts and column names match lme4's."""
    if name not in DESCRIPTIONS:
        raise DataError(f"no bundled data set {name!r}; available: {', '.join(names())}")
    folder = resources.files(__name__)
    with resources.as_file(folder.joinpath(f"{name}.csv.gz")) as path:
        frame = pd.read_csv(path)
    schema = json.loads(folder.joinpath(f"{name}.schema.json").read_text(encoding="utf-8"))
    return _with_schema(frame, schema)


def read_csv(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A CSV written from R with its ``NAME.schema.json`` beside it (as lmerpy's reference
    corpora are): factors become Categoricals with R's level order (no R function; R:
    ``read.csv`` then ``factor(x, levels)``)."""
    csv = Path(path)
    schema_path = csv.with_name(csv.name.removesuffix(".gz").removesuffix(".csv") + ".schema.json")
    try:
        schema = json.loads(schema_path.read_text(encoding="utf-8"))
        frame = pd.read_csv(csv)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {os.fspath(csv)!r} with its schema: {exc}") from None
    return _with_schema(frame, schema)


def _with_schema(frame: pd.DataFrame, schema: dict[str, Any]) -> pd.DataFrame:
    for column in schema["columns"]:
        if column["type"] == "factor" and column["name"] in frame:
            values = frame[column["name"]]
            labels = values.astype("string").astype(object).where(values.notna())
            frame[column["name"]] = pd.Categorical(labels, categories=column["levels"])
    return frame
