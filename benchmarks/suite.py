"""The benchmark suite: model definitions, simulated data, and the on-disk data every tool reads.

Every data set, bundled or simulated, is written once to a CSV (floats with 17 significant
digits, so they round-trip exactly) with a JSON sidecar naming the factor columns and their
levels. lme4, lmerpy, mixedlm and statsmodels all read those same files, so they fit identical
data. A data set's factors are read as Categoricals by the Python tools, except where the
sidecar lists them as ``text``: those stay as ``pd.read_csv`` gives them (strings), the data as
users load it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20240611
CAP_SECONDS = 600.0  # the cap on one fit
MIN_SECONDS = 2.0  # fast fits repeat until their timed fits add up to this ...
MAX_FITS = 100  # ... or this many fits


@dataclass(frozen=True)
class StatsmodelsSpec:
    """How statsmodels' MixedLM expresses a model: one grouping factor (``groups``), random
    effects within it (``re_formula``), and independent variance components (``vc``).
    Crossed factors need ``groups="_all"``: one group holding every row."""

    fixed: str
    groups: str
    re_formula: str | None = None
    vc: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MixedlmSpec:
    """How mixedlm expresses a generalized model: it has no ``cbind`` or ``scale()``, and
    wants a numeric 0/1 response. ``derived`` adds columns before the fit (in the timed call):
    ``"scale:COL"`` standardises COL as R's ``scale`` does, ``"is:COL:LEVEL"`` is 1 where COL
    equals LEVEL."""

    formula: str
    weights: str | None = None
    derived: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Model:
    """One benchmark model: lme4 formula, data set, and what each tool needs."""

    key: str
    title: str
    data: str
    formula: str
    suite: str  # "small", "large" or "glmm"
    statsmodels: StatsmodelsSpec | None
    once: frozenset[str] = frozenset()  # tools fitted once, without warm-up or repeats
    family: str | None = None  # a generalized model's family (lme4's glmer), else lmer
    mixedlm: MixedlmSpec | None = None  # a generalized model in mixedlm's terms
    nagq: int = 1  # a generalized model's quadrature nodes (lme4's nAGQ; 0: its first stage)
    skip: dict[str, str] = field(default_factory=dict)  # tools not run, with the reason


@dataclass(frozen=True)
class Simulation:
    """A simulated data set: ``nested`` draws y ~ x + (x | g), ``crossed`` y ~ x + (1|a) +
    (1|b), ``logistic`` a 0/1 y ~ x + (1|user) + (1|item). ``text``: the group labels are
    written as text ("g17"), which the Python tools read as strings."""

    kind: str
    rows: int
    levels: tuple[int, ...]
    text: bool = False


def _crossed(fixed: str, factors: list[str]) -> StatsmodelsSpec:
    return StatsmodelsSpec(fixed, "_all", "0", {f: f"0 + C({f})" for f in factors})


MODELS: list[Model] = [
    Model(
        "sleepstudy",
        "sleepstudy",
        "sleepstudy",
        "Reaction ~ Days + (Days | Subject)",
        "small",
        StatsmodelsSpec("Reaction ~ Days", "Subject", "~Days"),
    ),
    Model(
        "exam",
        "Exam HLM",
        "exam",
        "normexam ~ standLRT + (standLRT | school)",
        "small",
        StatsmodelsSpec("normexam ~ standLRT", "school", "~standLRT"),
    ),
    Model(
        "penicillin",
        "Penicillin",
        "penicillin",
        "diameter ~ 1 + (1 | plate) + (1 | sample)",
        "small",
        _crossed("diameter ~ 1", ["plate", "sample"]),
    ),
    Model(
        "pastes",
        "Pastes",
        "pastes",
        "strength ~ 1 + (1 | batch/cask)",
        "small",
        StatsmodelsSpec("strength ~ 1", "batch", None, {"cask": "0 + C(cask)"}),
    ),
    Model(
        "insteval",
        "InstEval",
        "insteval",
        "y ~ service + (1 | s) + (1 | d) + (1 | dept)",
        "small",
        _crossed("y ~ service", ["s", "d", "dept"]),
    ),
    Model(
        "insteval_dept",
        "InstEval, service × dept",
        "insteval",
        "y ~ service * dept + (1 | s) + (1 | d)",
        "small",
        _crossed("y ~ service * dept", ["s", "d"]),
    ),
    Model(
        "nested_1e6",
        "nested, 10⁶ rows × 10⁴ groups",
        "sim_nested_1e6",
        "y ~ x + (x | g)",
        "large",
        StatsmodelsSpec("y ~ x", "g", "~x"),
    ),
    Model(
        "nested_1e7",
        "nested, 10⁷ rows × 10⁵ groups",
        "sim_nested_1e7",
        "y ~ x + (x | g)",
        "large",
        StatsmodelsSpec("y ~ x", "g", "~x"),
        once=frozenset({"lme4", "statsmodels"}),
    ),
    Model(
        "crossed_1e6",
        "crossed, 10⁶ rows, 10⁴ × 10³ levels",
        "sim_crossed_1e6",
        "y ~ x + (1 | a) + (1 | b)",
        "large",
        _crossed("y ~ x", ["a", "b"]),
    ),
    Model(
        "nested_1e6_text",
        "nested, 10⁶ rows × 10⁴ groups, text labels",
        "sim_nested_1e6_text",
        "y ~ x + (x | g)",
        "large",
        StatsmodelsSpec("y ~ x", "g", "~x"),
        once=frozenset({"statsmodels"}),
    ),
]

_LAPLACE_LME4 = (
    "lme4's Laplace fit of this model takes about 7.5× its nAGQ = 0 fit (669 s against 89 s, "
    "measured on this machine before the suite had this model), beyond the cap: lmerpy's "
    "Laplace fit is compared with lme4's nAGQ = 0 fit (the row above)"
)
_NO_NAGQ0 = "glmmTMB has no nAGQ = 0: it fits by the Laplace approximation only (next row)"
LOGISTIC = "y ~ x + (1 | user) + (1 | item)"
MODELS += [
    Model(
        "logistic_1e6_nagq0",
        "crossed logistic, 10⁶ rows, 5,000 × 500 levels, nAGQ = 0",
        "sim_logistic_1e6",
        LOGISTIC,
        "large",
        None,
        once=frozenset({"mixedlm"}),
        family="binomial",
        mixedlm=MixedlmSpec(LOGISTIC),
        nagq=0,
        skip={"glmmTMB": _NO_NAGQ0},
    ),
    Model(
        "logistic_1e6",
        "crossed logistic, 10⁶ rows, 5,000 × 500 levels, Laplace",
        "sim_logistic_1e6",
        LOGISTIC,
        "large",
        None,
        once=frozenset({"glmmTMB", "mixedlm"}),
        family="binomial",
        mixedlm=MixedlmSpec(LOGISTIC),
        skip={"lme4": _LAPLACE_LME4},
    ),
]

MODELS += [
    Model(
        "cbpp",
        "cbpp, binomial",
        "cbpp",
        "cbind(incidence, size - incidence) ~ period + (1 | herd)",
        "glmm",
        None,
        family="binomial",
        mixedlm=MixedlmSpec("prop ~ period + (1 | herd)", weights="size"),
    ),
    Model(
        "grouseticks",
        "grouseticks, Poisson",
        "grouseticks",
        "TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)",
        "glmm",
        None,
        family="poisson",
        mixedlm=MixedlmSpec(
            "TICKS ~ YEAR + HEIGHT_s + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)",
            derived={"HEIGHT_s": "scale:HEIGHT"},
        ),
    ),
    Model(
        "verbagg",
        "VerbAgg, binomial",
        "verbagg",
        "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)",
        "glmm",
        None,
        family="binomial",
        mixedlm=MixedlmSpec(
            "r2_01 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)",
            derived={"r2_01": "is:r2:Y"},
        ),
    ),
]

SIMULATIONS: dict[str, Simulation] = {
    "sim_nested_1e6": Simulation("nested", 10**6, (10**4,)),
    "sim_nested_1e7": Simulation("nested", 10**7, (10**5,)),
    "sim_crossed_1e6": Simulation("crossed", 10**6, (10**4, 10**3)),
    "sim_nested_1e6_text": Simulation("nested", 10**6, (10**4,), text=True),
    "sim_logistic_1e6": Simulation("logistic", 10**6, (5000, 500)),
}

# Per-evaluation cost against n: the same nested model, a fixed number of groups.
SCALING_FORMULA = "y ~ x + (x | g)"
SCALING_GROUPS = 1000
SCALING_ROWS = (10**4, 10**5, 10**6, 10**7)
SCALING_THETA = (1.0, 0.2, 0.5)  # an interior point, lme4's order


def models_in(suite: str) -> list[Model]:
    """The models of ``small``, ``large``, ``glmm`` or ``all``."""
    return [m for m in MODELS if suite in ("all", m.suite)]


def model(key: str) -> Model:
    """The model named ``key``."""
    return next(m for m in MODELS if m.key == key)


def scaling_name(rows: int) -> str:
    """The data set name of the scaling series at ``rows`` rows."""
    return f"sim_scaling_{rows}"


def simulation(name: str) -> Simulation | None:
    """The simulation behind a data set name (None for a bundled data set)."""
    if name.startswith("sim_scaling_"):
        return Simulation("nested", int(name.rsplit("_", 1)[1]), (SCALING_GROUPS,))
    return SIMULATIONS.get(name)


def simulate(sim: Simulation, seed: int = SEED) -> pd.DataFrame:
    """Draw a simulated data set; group labels are integers, declared factors in the sidecar."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=sim.rows)
    if sim.kind == "nested":
        frame = _nested(rng, x, sim.levels[0])
    elif sim.kind == "logistic":
        frame = _logistic(rng, x, sim.levels)
    else:
        frame = _crossed_data(rng, x, sim.levels)
    if sim.text:
        factors = [c for c in frame.columns if c not in ("x", "y")]
        frame = frame.assign(**{c: "g" + frame[c].astype(str) for c in factors})
    return frame


def _nested(rng: np.random.Generator, x: np.ndarray, groups: int) -> pd.DataFrame:
    g = _codes(rng, x.size, groups)
    cov = np.array([[1.0, 0.3 * 0.5], [0.3 * 0.5, 0.25]])  # sd 1 and 0.5, correlation 0.3
    b = rng.multivariate_normal([0.0, 0.0], cov, size=groups)
    y = 1.0 + 0.5 * x + b[g, 0] + b[g, 1] * x + rng.normal(size=x.size)
    return pd.DataFrame({"y": y, "x": x, "g": g + 1})


def _crossed_data(rng: np.random.Generator, x: np.ndarray, levels: tuple[int, ...]) -> pd.DataFrame:
    a, b = (_codes(rng, x.size, k) for k in levels)
    ua, ub = rng.normal(size=levels[0]), 0.5 * rng.normal(size=levels[1])
    y = 1.0 + 0.5 * x + ua[a] + ub[b] + rng.normal(size=x.size)
    return pd.DataFrame({"y": y, "x": x, "a": a + 1, "b": b + 1})


def _logistic(rng: np.random.Generator, x: np.ndarray, levels: tuple[int, ...]) -> pd.DataFrame:
    """y ~ Bernoulli(logit⁻¹(-0.5 + 0.8 x + a_user + b_item)), a ~ N(0, 0.6²), b ~ N(0, 0.4²):
    recommendation-shaped data (benchmarks/glmm_stream.py draws the same model)."""
    user, item = (_codes(rng, x.size, k) for k in levels)
    a, b = 0.6 * rng.normal(size=levels[0]), 0.4 * rng.normal(size=levels[1])
    eta = -0.5 + 0.8 * x + a[user] + b[item]
    y = (rng.random(x.size) < 1.0 / (1.0 + np.exp(-eta))).astype(np.float64)
    return pd.DataFrame({"y": y, "x": x, "user": user + 1, "item": item + 1})


def _codes(rng: np.random.Generator, rows: int, levels: int) -> np.ndarray:
    """Random group codes with every level present (the first ``levels`` rows cover them)."""
    codes = rng.integers(0, levels, size=rows)
    codes[:levels] = rng.permutation(levels)
    return codes


def _bundled(name: str) -> tuple[pd.DataFrame, dict[str, list[str] | None]]:
    import lmerpy

    frame = lmerpy.datasets.load(name)
    factors = {
        str(c): [str(v) for v in frame[c].cat.categories]
        for c in frame.columns
        if isinstance(frame[c].dtype, pd.CategoricalDtype)
    }
    return frame, factors


def write_dataset(name: str, folder: Path) -> tuple[Path, Path]:
    """Write data set ``name`` (bundled or simulated) as CSV + JSON sidecar, once per folder."""
    csv, meta = folder / f"{name}.csv", folder / f"{name}.json"
    if csv.exists() and meta.exists():
        return csv, meta
    sim = simulation(name)
    if sim is None:
        frame, factors = _bundled(name)
    else:
        frame = simulate(sim)
        factors = {c: None for c in frame.columns if c not in ("x", "y")}
    frame.to_csv(csv, index=False, float_format="%.17g", na_rep="NA")
    levels = {c: int(frame[c].nunique()) for c in factors}
    text = sorted(factors) if sim is not None and sim.text else []
    sidecar = {"name": name, "rows": len(frame), "factors": factors, "levels": levels, "text": text}
    meta.write_text(json.dumps(sidecar))
    return csv, meta


def load_frame(csv: Path, meta: Path) -> pd.DataFrame:
    """Read a data set written by ``write_dataset``, factors as pandas Categoricals (levels in
    the sidecar's order; sorted when it gives none, as R's ``factor`` sorts), those the
    sidecar lists as ``text`` as ``pd.read_csv`` gives them."""
    sidecar = json.loads(meta.read_text())
    text = set(sidecar.get("text", []))
    factors: dict[str, list[str] | None] = {
        c: levels for c, levels in sidecar["factors"].items() if c not in text
    }
    dtypes = {c: "category" if levels is None else str for c, levels in factors.items()}
    frame = pd.read_csv(csv, dtype=dtypes)
    for column, levels in factors.items():
        if levels is not None:
            frame[column] = pd.Categorical(frame[column], categories=levels)
    return frame
