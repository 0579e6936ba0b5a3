"""The Python tools: one fit each, from formula to fitted model, and what it reports.

Each ``fit_*`` function is the whole timed call (formula parsing, design, optimisation) and
returns the objective evaluations, the REML criterion reached and whether it converged.
``skip_reason`` says, before any fit, why a tool cannot run a model.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata

import pandas as pd
from suite import Model

PYTHON_TOOLS = ("lmerpy", "mixedlm", "statsmodels")
DENSE_LIMIT_BYTES = 1 << 30  # statsmodels' dense variance-component columns beyond this: skip


@dataclass(frozen=True)
class FitOutcome:
    """What one fit reports."""

    evaluations: int | None
    objective: float | None
    converged: bool | None


def fit_lmerpy(model: Model, data: pd.DataFrame) -> FitOutcome:
    """lmer, or glmer for a generalized model (objective: -2 logLik; evaluations: of the
    Laplace deviance, the Hessian's for the standard errors included)."""
    import lmerpy

    if model.family is not None:
        g = lmerpy.glmer(model.formula, data, model.family, nagq=model.nagq)
        return FitOutcome(g.devfun.evaluations, float(g.objective), g.record.converged)
    fit = lmerpy.lmer(model.formula, data)
    return FitOutcome(fit.record.evaluations, float(fit.reml_criterion), fit.record.converged)


def fit_mixedlm(model: Model, data: pd.DataFrame) -> FitOutcome:
    """mixedlm's default optimiser: L-BFGS-B with exact gradients; ``function_evals`` counts
    value-and-gradient evaluations. Generalized models: its glmer (COBYQA), on the
    formula of ``model.mixedlm``; the derived columns are made inside the timed call."""
    import mixedlm

    if model.family is not None:
        spec = model.mixedlm
        assert spec is not None
        family = {"binomial": mixedlm.families.Binomial, "poisson": mixedlm.families.Poisson}
        frame = data.assign(**{k: _derived(data, v) for k, v in spec.derived.items()})
        g = mixedlm.glmer(spec.formula, frame, family=family[model.family](),
                          weights=spec.weights, nAGQ=model.nagq)  # fmt: skip
        loglik = g.logLik()
        value = float(getattr(loglik, "value", loglik))
        return FitOutcome(getattr(g, "n_iter", None), -2.0 * value, getattr(g, "converged", None))
    fit = mixedlm.lmer(model.formula, data)
    return FitOutcome(int(fit.function_evals), float(fit.REMLcrit()), bool(fit.converged))


def _derived(data: pd.DataFrame, rule: str) -> pd.Series:
    kind, column, *rest = rule.split(":")
    values = data[column]
    if kind == "scale":  # R's scale(): centred, divided by the sample standard deviation
        return (values - values.mean()) / values.std()
    return (values.astype(str) == rest[0]).astype(float)


def fit_statsmodels(model: Model, data: pd.DataFrame) -> FitOutcome:
    """statsmodels' MixedLM by REML. Evaluations are calls of its log-likelihood (its optimiser
    also calls the analytic score); the objective is -2 × the REML log-likelihood, which has
    lme4's constants (sleepstudy: 1743.628 in both)."""
    import statsmodels.formula.api as smf

    spec = model.statsmodels
    assert spec is not None
    frame = data.assign(_all=1) if spec.groups == "_all" else data
    md = smf.mixedlm(
        spec.fixed,
        frame,
        groups=spec.groups,
        re_formula=spec.re_formula,
        vc_formula=spec.vc or None,
    )
    calls = _count_calls(md, "loglike")
    result = md.fit(reml=True)
    return FitOutcome(calls[0], float(-2.0 * result.llf), bool(result.converged))


def _count_calls(obj: object, name: str) -> list[int]:
    counter = [0]
    method = getattr(obj, name)

    def counted(*args: object, **kwargs: object) -> object:
        counter[0] += 1
        return method(*args, **kwargs)

    setattr(obj, name, counted)
    return counter


FITTERS: dict[str, Callable[[Model, pd.DataFrame], FitOutcome]] = {
    "lmerpy": fit_lmerpy,
    "mixedlm": fit_mixedlm,
    "statsmodels": fit_statsmodels,
}


def fit(tool: str, model: Model, data: pd.DataFrame) -> FitOutcome:
    """One fit of ``model`` by ``tool``, warnings silenced (convergence is reported)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return FITTERS[tool](model, data)


def installed(tool: str) -> bool:
    """Whether the tool's package is installed."""
    try:
        metadata.version(tool)
    except metadata.PackageNotFoundError:
        return False
    return True


def skip_reason(tool: str, model: Model, rows: int, levels: dict[str, int]) -> str | None:
    """Why ``tool`` does not run ``model`` (None when it does). ``levels``: levels per factor."""
    if tool in PYTHON_TOOLS and not installed(tool):
        return f"{tool} is not installed (pip install {tool})"
    if tool in model.skip:
        return model.skip[tool]
    if tool == "glmmTMB" and model.family is None:
        return "glmmTMB runs the generalized models only"
    if tool == "statsmodels" and model.family is not None:
        return (
            "statsmodels has no maximum-likelihood GLMM (its BinomialBayesMixedGLM and "
            "PoissonBayesMixedGLM are variational Bayes)"
        )
    if tool != "statsmodels":
        return None
    spec = model.statsmodels
    if spec is None:
        return "statsmodels' MixedLM cannot express this model"
    if spec.groups == "_all":
        return _dense_reason(rows, sum(levels[f] for f in spec.vc))
    return None


def _dense_reason(rows: int, columns: int) -> str | None:
    size = rows * columns * 8
    if size <= DENSE_LIMIT_BYTES:
        return None
    return (
        f"crossed random effects: statsmodels puts all {rows:,} rows in one group with dense "
        f"indicator columns ({rows:,} × {columns:,} = {size / 2**30:.1f} GiB) and solves with "
        f"them at every evaluation (~{rows * columns**2:.1e} flops each); not run: estimated "
        f"not to finish within the cap"
    )
