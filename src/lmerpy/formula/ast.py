"""The formula AST: small immutable nodes with source spans, and nothing else.

Parsing gives these nodes (``transform.py``); expansion reads them into a
``ModelSpec`` (``expand.py``). Each node can print itself as R would deparse it,
which is how lmerpy names columns (``I(age^2)``, ``log(x + 1)``) and prints specs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

__all__ = [
    "BinOp",
    "Call",
    "Literal",
    "Name",
    "Node",
    "Number",
    "Paren",
    "String",
    "UnaryOp",
    "sum_operands",
]

# Binary operators printed without surrounding spaces, as R's deparse does.
_TIGHT = {"^", ":", "/"}  # R deparses these without spaces: I(x/2), I(x^2), a:b

Literal: TypeAlias = float | int | str | bool


@dataclass(frozen=True)
class _Base:
    start: int = field(compare=False, repr=False, kw_only=True, default=0)
    end: int = field(compare=False, repr=False, kw_only=True, default=0)


@dataclass(frozen=True)
class Name(_Base):
    """A variable: ``x``, ``log.dose``, or a backticked ```days of sleep```."""

    name: str

    def __str__(self) -> str:
        return self.name if _is_plain_name(self.name) else f"`{self.name}`"


@dataclass(frozen=True)
class Number(_Base):
    """A numeric literal."""

    value: float

    def __str__(self) -> str:
        return format(self.value, ".15g")


@dataclass(frozen=True)
class String(_Base):
    """A quoted string literal (only meaningful as a function argument)."""

    value: str

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'


@dataclass(frozen=True)
class Call(_Base):
    """``name(args, key = value)``; which names are allowed is checked by expansion."""

    func: str
    args: tuple[Node, ...]
    kwargs: tuple[tuple[str, Node], ...] = ()

    def __str__(self) -> str:
        parts = [str(a) for a in self.args] + [f"{k} = {v}" for k, v in self.kwargs]
        return f"{self.func}({', '.join(parts)})"


@dataclass(frozen=True)
class BinOp(_Base):
    """A binary operator: ``+ - * / : ^ %in% | ||`` or a comparison."""

    op: str
    left: Node
    right: Node

    def __str__(self) -> str:
        if self.op in {"+", "-"}:  # a chain of + and -, printed without deep recursion
            chain = sum_operands(self)
            return str(chain[0][1]) + "".join(f" {op} {operand}" for op, operand in chain[1:])
        if self.op in _TIGHT:
            return f"{self.left}{self.op}{self.right}"
        return f"{self.left} {self.op} {self.right}"


@dataclass(frozen=True)
class UnaryOp(_Base):
    """Unary ``-`` or ``+``."""

    op: str
    operand: Node

    def __str__(self) -> str:
        return f"{self.op}{self.operand}"


@dataclass(frozen=True)
class Paren(_Base):
    """Parentheses, kept so that ``(x | g)`` can be told from a bare bar."""

    inner: Node

    def __str__(self) -> str:
        return f"({self.inner})"


Node: TypeAlias = Name | Number | String | Call | BinOp | UnaryOp | Paren


def sum_operands(node: Node) -> list[tuple[str, Node]]:
    """Flatten a left-leaning chain of binary ``+``/``-`` into signed operands.

    ``a - b + c`` gives ``[("+", a), ("-", b), ("+", c)]``; anything else gives
    ``[("+", node)]``. Iterative, so a long sum never hits the recursion limit.
    """
    out: list[tuple[str, Node]] = []
    while isinstance(node, BinOp) and node.op in {"+", "-"}:
        out.append((node.op, node.right))
        node = node.left
    out.append(("+", node))
    out.reverse()
    return out


def _is_plain_name(name: str) -> bool:
    if not name or name[0].isdigit() or name[0] == "_":
        return False
    if name[0] == "." and len(name) > 1 and name[1].isdigit():
        return False
    return all(c.isalnum() or c in "._" for c in name) and name.isascii()
