"""The ``lmerpy`` command.

    lmerpy fit FORMULA [--data NAME|file.csv|file.parquet] [--ml] [--format text|json|markdown]

prints the fit's summary (text laid out as lme4's). With no arguments, ``lmerpy`` fits the
report's random-slope model to the bundled Exam data.
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
from .api import lmer
from .errors import DataError, LmerpyError
from .result import LmerResult

DEFAULT_FORMULA = "normexam ~ standLRT + (standLRT | school)"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``lmerpy`` command."""
    args = _arguments().parse_args(
        ["fit"] if not (argv if argv is not None else sys.argv[1:]) else argv
    )
    try:
        data = load_data(args.data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # shown in the summary, from the fit's messages
            fit = lmer(args.formula, data, reml=not args.ml)
            print(render(fit, args.format))
    except LmerpyError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def load_data(source: str) -> pd.DataFrame:
    """A bundled data set by name, or a CSV or Parquet file."""
    path = Path(source)
    if path.suffix == ".csv":
        return _read(pd.read_csv, path)
    if path.suffix in {".parquet", ".pq"}:
        return _read(pd.read_parquet, path)
    return datasets.load(source)


def render(fit: LmerResult, fmt: str) -> str:
    """The summary as text, Markdown, or JSON."""
    if fmt == "json":
        return json.dumps(fit_record(fit), indent=2)
    summary = fit.summary()
    return summary.to_markdown() if fmt == "markdown" else str(summary)


def fit_record(fit: LmerResult) -> dict[str, Any]:
    """The main numbers of a fit as plain JSON-ready values."""
    table = fit.coef_table()
    return {
        "formula": fit.design.spec.formula,
        "method": "REML" if fit.reml else "ML",
        "nobs": fit.nobs,
        "ngroups": fit.ngroups,
        "reml_criterion": fit.reml_criterion,
        "logLik": fit.loglik,
        "AIC": fit.aic,
        "BIC": fit.bic,
        "deviance": fit.deviance,
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
    fit = commands.add_parser("fit", help="fit a linear mixed model and print its summary")
    fit.add_argument("formula", nargs="?", default=DEFAULT_FORMULA, help="an lme4 formula")
    fit.add_argument(
        "--data",
        default="exam",
        help=f"a CSV/Parquet file or one of: {', '.join(datasets.names())}",
    )
    fit.add_argument("--ml", action="store_true", help="fit by maximum likelihood, not REML")
    fit.add_argument("--format", choices=["text", "json", "markdown"], default="text")
    return parser


if __name__ == "__main__":
    sys.exit(main())
