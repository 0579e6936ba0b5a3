"""Find ``lme4.lark`` and build the LALR parser from it, once."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

from lark import Lark

__all__ = ["grammar_text", "parser"]


def grammar_text() -> str:
    """The text of ``grammar/lme4.lark``: the copy inside an installed wheel, or the
    checkout's own copy in an editable install or a source tree."""
    packaged = resources.files("lmerpy").joinpath("_grammar", "lme4.lark")
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    checkout = Path(__file__).resolve().parents[3] / "grammar" / "lme4.lark"
    return checkout.read_text(encoding="utf-8")


@functools.cache
def parser() -> Lark:
    """The formula parser: LALR(1), positions kept, built on first use."""
    return Lark(
        grammar_text(),
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=False,
        cache=True,  # the parse table, in the temporary directory: 0.5 s per process saved
    )
