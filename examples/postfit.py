"""After the fit, on the Exam data: marginal means of exam score by school gender, their
contrasts, R² and the ICC, type II Wald tests, cluster-robust standard errors and the
simulated-residual diagnostics (docs/postfit.md).

    python examples/postfit.py [--out docs/figures]

Prints each step; with --out, draws the residual diagnostics (needs matplotlib:
pip install 'lmerpy[plot]').
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

import lmerpy

FORMULA = "normexam ~ standLRT + sex + schgend + (standLRT | school)"


def main(out: Path | None = None) -> None:
    pd.set_option("display.width", 120, "display.precision", 4)
    exam = lmerpy.datasets.load("exam")
    fit = lmerpy.lmer(FORMULA, exam)
    print(fit.coef_table())

    em = fit.emmeans("schgend")  # Kenward-Roger df, averaged over sex
    print("\n== emmeans(m, ~ schgend)\n", em, sep="")
    print("\n== pairs(.)\n", em.pairs(), sep="")
    print(
        "\n== emmeans(m, ~ sex | schgend), pairs\n",
        fit.emmeans("sex", by="schgend").pairs(),
        sep="",
    )

    print("\n== r2_nakagawa(m), icc(m)")
    print(
        {k: round(v, 4) for k, v in fit.r2().items()},
        {k: round(v, 4) for k, v in fit.icc().items()},
    )

    print("\n== car::Anova(m, type = 2, test = 'F')\n", fit.anova(type=2, test="F"), sep="")
    print("\n== coef_test(m, vcov = 'CR2')\n", fit.coef_table(vcov="CR2"), sep="")

    res = fit.simulated_residuals(nsim=250, seed=1)
    print("\n== simulated residuals\n", res.tests(), sep="")
    if out is not None:
        import matplotlib

        matplotlib.use("Agg")
        out.mkdir(parents=True, exist_ok=True)
        figure = res.plot()
        figure.suptitle(f"lmerpy: simulated residuals of {FORMULA}", fontsize=9)
        figure.tight_layout()
        figure.savefig(out / "exam_residuals.png", dpi=110)
        print(f"\nwrote {out / 'exam_residuals.png'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="folder for the figure")
    main(parser.parse_args().out)
