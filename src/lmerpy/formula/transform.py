"""lark parse tree -> formula AST: one binding per grammar alias (lark's calc example)."""

from __future__ import annotations

import re
from typing import Any

from lark import Token, Transformer_NonRecursive, v_args

from .ast import BinOp, Call, Name, Node, Number, Paren, String, UnaryOp

__all__ = ["ToAst"]


def _span(meta: Any) -> dict[str, int]:
    return {"start": meta.start_pos, "end": meta.end_pos}


def _binary(op: str) -> Any:
    def build(self: ToAst, meta: Any, children: list[Any]) -> BinOp:
        left, right = children[0], children[-1]
        return BinOp(op, left, right, **_span(meta))

    return v_args(meta=True)(build)


def _unary(op: str) -> Any:
    def build(self: ToAst, meta: Any, children: list[Any]) -> UnaryOp:
        return UnaryOp(op, children[0], **_span(meta))

    return v_args(meta=True)(build)


class ToAst(Transformer_NonRecursive):  # type: ignore[type-arg]
    """Builds ``ast`` nodes bottom-up, without recursion (deep input is safe)."""

    bar = _binary("|")
    dbar = _binary("||")
    add = _binary("+")
    sub = _binary("-")
    mul = _binary("*")
    div = _binary("/")
    in_op = _binary("%in%")
    colon = _binary(":")
    neg = _unary("-")
    pos = _unary("+")

    @v_args(meta=True)
    def compare(self, meta: Any, children: list[Any]) -> BinOp:
        left, op, right = children
        return BinOp(str(op), left, right, **_span(meta))

    @v_args(meta=True)
    def power(self, meta: Any, children: list[Any]) -> BinOp:
        left, _, right = children  # `**` is R's spelling of `^` too
        return BinOp("^", left, right, **_span(meta))

    @v_args(meta=True)
    def var(self, meta: Any, children: list[Token]) -> Name:
        return Name(str(children[0]), **_span(meta))

    @v_args(meta=True)
    def qvar(self, meta: Any, children: list[Token]) -> Name:
        return Name(str(children[0])[1:-1], **_span(meta))

    @v_args(meta=True)
    def number(self, meta: Any, children: list[Token]) -> Number:
        return Number(float(children[0]), **_span(meta))

    @v_args(meta=True)
    def string(self, meta: Any, children: list[Token]) -> String:
        body = str(children[0])[1:-1]
        return String(re.sub(r"\\(.)", r"\1", body), **_span(meta))

    @v_args(meta=True)
    def paren(self, meta: Any, children: list[Node]) -> Paren:
        return Paren(children[0], **_span(meta))

    @v_args(meta=True)
    def call(self, meta: Any, children: list[Any]) -> Call:
        func, *rest = children
        items: list[Any] = rest[0] if rest else []
        args = tuple(a for a in items if not isinstance(a, tuple))
        kwargs = tuple(a for a in items if isinstance(a, tuple))
        return Call(str(func), args, kwargs, **_span(meta))

    def args(self, children: list[Any]) -> list[Any]:
        return children

    def kwarg(self, children: list[Any]) -> tuple[str, Node]:
        return (str(children[0]), children[1])

    def two_sided(self, children: list[Node]) -> tuple[Node | None, Node]:
        return (children[0], children[1])

    def one_sided(self, children: list[Node]) -> tuple[Node | None, Node]:
        return (None, children[0])
