"""``python -m lmerpy``: parse a formula and show its spec against a bundled data set."""

from __future__ import annotations

import argparse
import sys

from . import datasets
from .errors import LmerpyError
from .formula import parse_formula

DEFAULT_FORMULA = "normexam ~ standLRT + (standLRT | school)"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``lmerpy`` command."""
    args = _arguments().parse_args(argv)
    try:
        data = datasets.load(args.data)
        spec = parse_formula(args.formula)
    except LmerpyError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    missing = [v for v in spec.variables if v not in data.columns]
    print(f"Data: {args.data} ({len(data)} rows) - {datasets.DESCRIPTIONS[args.data]}")
    print(f"Formula: {args.formula}")
    print(f"Spec:    {spec}")
    print(f"Fixed terms:  {', '.join(spec.fixed.labels) or '(none)'}")
    for term in spec.random:
        levels = data[list(term.group)].drop_duplicates().shape[0]
        print(f"Random term:  {term}   {term.group_name}: {levels} levels")
    if missing:
        print(f"error: not columns of {args.data}: {', '.join(missing)}", file=sys.stderr)
        return 2
    return 0


def _arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lmerpy", description=__doc__)
    parser.add_argument("formula", nargs="?", default=DEFAULT_FORMULA, help="an lme4 formula")
    parser.add_argument("--data", default="exam", choices=datasets.names(), help="data set")
    return parser


if __name__ == "__main__":
    sys.exit(main())
