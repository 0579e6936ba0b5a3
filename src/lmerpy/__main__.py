"""The ``lmerpy`` command.

    lmerpy demo [--out DIR]
    lmerpy fit FORMULA [--data NAME|file.csv|file.parquet] [--ml]
               [--family NAME [--link LINK] [--zi "~ x"] [--disp "~ x"]]
               [--format text|json|markdown]

``demo`` reproduces the analysis of Kaplan (2010), *An Overview of Multilevel Regression*,
and prints its tables, the report's values beside lmerpy's; with ``--out`` it also writes
the report's figures there as PNG files (this needs matplotlib: pip install 'lmerpy[plot]').
``fit`` prints a fit's summary (text laid out as lme4's; with ``--family``, a generalized
model's, as lme4's ``glmer``, with glmmTMB's families, zero inflation and dispersion
models); ``lmerpy FORMULA ...`` is short for it. With no arguments,
``lmerpy`` runs ``demo`` without figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from . import datasets
from .errors import ArgumentError, DataError, LmerpyError
from .glmm.family import FAMILY_NAMES, Family, get_family
from .glmm.fit import glmer
from .glmm.result import GlmerResult
from .kaplan2010 import plots
from .kaplan2010.report import run_report
from .lmm.fit import lmer
from .lmm.result import LmerResult

DEFAULT_FORMULA = "normexam ~ standLRT + (standLRT | school)"
COMMANDS = ("demo", "fit")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``lmerpy`` command."""
    args = _arguments().parse_args(command_line(sys.argv[1:] if argv is None else argv))
    try:
        if args.command == "demo":
            demo(args.out)
        else:
            if args.link is not None and args.family is None:
                raise ArgumentError("--link needs a --family")
            family = None if args.family is None else get_family(args.family, args.link)
            fit_command(args.formula, args.data, args.ml, args.format, family, args.zi, args.disp)
    except LmerpyError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader (e.g. `head`) stopped early: not an error
        sys.stderr.close()
    return 0


def command_line(argv: list[str]) -> list[str]:
    """``demo`` when there are no arguments; ``fit`` when the first is not a command."""
    if not argv:
        return ["demo"]
    if argv[0] not in COMMANDS and not argv[0].startswith("-"):
        return ["fit", *argv]
    return argv


def demo(out: Path | None) -> None:
    """Print the report's tables beside lmerpy's; write its figures to ``out`` if given and
    matplotlib is installed (else a one-line note on stderr)."""
    if out is not None and not plots.have_matplotlib():
        print(f"note: no figures written: they need matplotlib ({plots.INSTALL})", file=sys.stderr)
        out = None
    if out is not None:
        plots.use_agg()
    print(run_report(out))


def fit_command(
    formula: str,
    source: str,
    ml: bool,
    fmt: str,
    family: str | Family | None = None,
    zi: str | None = None,
    disp: str | None = None,
) -> None:
    """Fit ``formula`` to the data named by ``source`` and print the summary: ``lmer``, or
    ``glmer`` when a family is given (with its ``zi=`` and ``disp=`` models)."""
    data = load_data(source)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # shown in the summary, from the fit's messages
        if family is None:
            if zi is not None or disp is not None:
                raise ArgumentError("--zi and --disp need a --family (glmer's zi= and disp=)")
            fit: LmerResult | GlmerResult = lmer(formula, data, reml=not ml)
        else:
            fit = glmer(formula, data, family, zi=zi, disp=disp)
        print(render(fit, fmt))


def load_data(source: str) -> pd.DataFrame:
    """A bundled data set by name, or a CSV or Parquet file."""
    path = Path(source)
    if path.suffix == ".csv":
        return _read(pd.read_csv, path)
    if path.suffix in {".parquet", ".pq"}:
        return _read(pd.read_parquet, path)
    return datasets.load(source)


def render(fit: LmerResult | GlmerResult, fmt: str) -> str:
    """The summary as text, Markdown, or JSON."""
    if fmt == "json":
        return json.dumps(fit_record(fit), indent=2)
    summary = fit.summary()
    return summary.to_markdown() if fmt == "markdown" else str(summary)


def fit_record(fit: LmerResult | GlmerResult) -> dict[str, Any]:
    """The main numbers of a fit as plain JSON-ready values."""
    table = fit.coef_table()
    family: dict[str, Any] = {}
    if isinstance(fit, GlmerResult):
        family = {
            "family": str(fit.family), "nAGQ": fit.nagq, "sigma": fit.sigma,
            "fixef_zi": fit.fixef_zi.to_dict(), "fixef_disp": fit.fixef_disp.to_dict(),
        }  # fmt: skip
    return {
        "formula": fit.design.spec.formula,
        "method": "REML" if fit.reml else "ML",
        **family,
        "nobs": fit.nobs,
        "ngroups": fit.ngroups,
        "reml_criterion": fit.reml_criterion,
        "logLik": fit.loglik,
        "AIC": fit.aic,
        "BIC": fit.bic,
        "deviance": fit.deviance,  # lme4's deviance(m): Σ deviance residuals for a GLMM
        "sigma": fit.sigma,
        "theta": fit.theta.to_dict(),
        "coefficients": table.to_dict(orient="index"),
        "varcorr": fit.varcorr.astype(object).where(fit.varcorr.notna(), None).to_dict("records"),
        "is_singular": fit.is_singular,
        "messages": list(fit.messages),
    }


def _read(reader: Any, path: Path) -> pd.DataFrame:
    if not path.exists():
        raise DataError(f"no such file: {path}")
    try:
        frame: pd.DataFrame = reader(path)
    except ImportError:
        raise DataError("reading Parquet needs pyarrow: pip install 'lmerpy[parquet]'") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    return frame


def _arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lmerpy", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="reproduce Kaplan (2010): the report's tables beside lmerpy's, and figures"
    )
    demo.add_argument(
        "--out", type=Path, default=None, metavar="DIR", help="write the figures here as PNG"
    )
    fit = commands.add_parser("fit", help="fit a mixed model and print its summary")
    fit.add_argument("formula", nargs="?", default=DEFAULT_FORMULA, help="an lme4 formula")
    fit.add_argument(
        "--data",
        default="exam",
        help=f"a CSV/Parquet file or one of: {', '.join(datasets.names())}",
    )
    fit.add_argument("--ml", action="store_true", help="fit by maximum likelihood, not REML")
    fit.add_argument(
        "--family",
        choices=FAMILY_NAMES,
        help="a generalized linear mixed model of this family (lme4's glmer; glmmTMB's families)",
    )
    fit.add_argument("--link", help="the family's link, if not its default (e.g. log)")
    fit.add_argument("--zi", help='a zero-inflation formula, e.g. "~ 1" (glmmTMB\'s ziformula)')
    fit.add_argument("--disp", help='a dispersion formula, e.g. "~ x" (glmmTMB\'s dispformula)')
    fit.add_argument("--format", choices=["text", "json", "markdown"], default="text")
    return parser


if __name__ == "__main__":
    sys.exit(main())
