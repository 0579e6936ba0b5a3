"""Overdispersed counts with excess zeros: Poisson, negative binomial and zero-inflated fits of
glmmTMB's Salamanders data, and how many zeros each expects (docs/families.md).

    python examples/families.py [--out docs/figures]

Prints the three fits' logLik and AIC, the likelihood-ratio test of the negative binomial's
dispersion, and, with --out, draws observed against expected zero counts by species (needs
matplotlib: pip install 'lmerpy[plot]').
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import lmerpy

FORMULA = "count ~ spp + mined + (1 | site)"


def fits(data: pd.DataFrame) -> dict[str, lmerpy.GlmerResult]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmerpy.errors.ConvergenceWarning)
        return {
            "Poisson": lmerpy.glmer(FORMULA, data, "poisson"),
            "negative binomial": lmerpy.glmer(FORMULA, data, "nbinom2"),
            "zero-inflated Poisson": lmerpy.glmer(FORMULA, data, "poisson", zi="~ spp + mined"),
        }


def expected_zeros(fit: lmerpy.GlmerResult) -> np.ndarray:
    """P(y = 0) of each row at the fitted conditional means."""
    mu = fit.predict(type="conditional").to_numpy()
    if fit.family.name == "nbinom2":
        theta = fit.sigma
        return np.asarray((theta / (theta + mu)) ** theta)
    p = fit.predict(type="zprob").to_numpy()
    return np.asarray(p + (1 - p) * np.exp(-mu))


def zeros_by_species(data: pd.DataFrame, models: dict[str, lmerpy.GlmerResult]) -> pd.DataFrame:
    table = {"observed": (data["count"] == 0).groupby(data["spp"], observed=True).sum()}
    for name, fit in models.items():
        table[name] = (
            pd.Series(expected_zeros(fit), index=data.index)
            .groupby(data["spp"], observed=True)
            .sum()
        )
    return pd.DataFrame(table)


def draw(table: pd.DataFrame, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    table.plot.bar(ax=ax, width=0.8, color=["0.2", "tab:red", "tab:blue", "tab:green"])
    ax.set_xlabel("species")
    ax.set_ylabel("zero counts (of 92 samples)")
    ax.set_title("Salamanders: observed zeros and the zeros each model expects")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    path = out / "salamanders_zeros.png"
    fig.savefig(path, dpi=120)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the figure into this folder")
    args = parser.parse_args()
    data = lmerpy.datasets.load("salamanders")
    models = fits(data)
    for name, fit in models.items():
        print(f"{name:22s} logLik {fit.loglik:9.2f}  AIC {fit.aic:8.2f}  npar {fit.npar}")
    print(lmerpy.anova(models["Poisson"], models["negative binomial"]))
    table = zeros_by_species(data, models)
    print(table.round(1))
    if args.out:
        print("figure:", draw(table, args.out))


if __name__ == "__main__":
    main()
