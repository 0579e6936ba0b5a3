"""``python -m lmerpy``: fit an lme4 formula to a bundled data set and print the fit."""

from __future__ import annotations

import argparse
import sys
import warnings

from . import datasets
from .api import lmer
from .errors import LmerpyError
from .printing import format_fit

DEFAULT_FORMULA = "normexam ~ standLRT + (standLRT | school)"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``lmerpy`` command."""
    args = _arguments().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # printed below, from the fit's messages
            fit = lmer(args.formula, datasets.load(args.data), reml=not args.ml)
    except LmerpyError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_fit(fit, args.data))
    return 0


def _arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lmerpy", description=__doc__)
    parser.add_argument("formula", nargs="?", default=DEFAULT_FORMULA, help="an lme4 formula")
    parser.add_argument("--data", default="exam", choices=datasets.names(), help="data set")
    parser.add_argument("--ml", action="store_true", help="fit by maximum likelihood")
    return parser


if __name__ == "__main__":
    sys.exit(main())
