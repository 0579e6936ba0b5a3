"""Formula AST -> ModelSpec: R's term algebra and lme4's random-term rules, as pure functions.

- ``+`` joins terms, ``-`` removes them; ``1``/``0``/``-1`` decide the intercept (last word wins).
- ``a*b`` is ``a + b + a:b``; ``a/b`` is ``a + a:b``; ``a %in% b`` is ``a:b``;
  ``(a + b + c)^2`` is every interaction up to order 2. Terms are ordered by degree.
- ``(lhs | g)`` is a random term; ``(lhs || g)`` splits into ``(1 | g)`` and one
  ``(0 + t | g)`` per term t of lhs, exactly as lme4 1.1 does. With a factor f,
  ``(f || g)`` gives ``(1 | g) + (0 + f | g)``: f's own block keeps every level and the
  correlations among them (the "factor trap"; write ``diag(f | g)`` for independence).
- Grouping: ``a:b`` is one factor; ``a/b`` gives ``b:a`` and ``a``; ``a + b`` and ``a*b``
  give one term per factor (``a*b`` adds ``a:b``).
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import FormulaLimitError, FormulaSemanticError, FormulaSyntaxError
from ..terms import get_term_type, registered_term_types
from .ast import BinOp, Call, Literal, Name, Node, Number, Paren, String, UnaryOp, sum_operands
from .functions import CONTRASTS, FUNCTIONS, MAX_POLY_DEGREE
from .limits import MAX_POWER, MAX_TERMS
from .spec import LinearTerms, ModelSpec, RandomTerm, Term

__all__ = ["expand"]

_ARITHMETIC = {"+", "-", "*", "/", "^", "==", "!=", "<=", ">=", "<", ">"}


def expand(lhs: Node | None, rhs: Node, text: str) -> ModelSpec:
    """Build the ModelSpec of a parsed formula ``lhs ~ rhs``."""
    return _Expander(text).model_spec(lhs, rhs)


class _Terms:
    """Ordered set of terms plus the intercept decision (None until a 0/1 is seen)."""

    def __init__(self, terms: Iterable[frozenset[str]] = (), intercept: bool | None = None):
        self.terms = dict.fromkeys(terms)
        self.intercept = intercept


class _Expander:
    def __init__(self, text: str) -> None:
        self.text = text
        self.factors: dict[str, Node] = {}  # factor label -> node, in order of appearance
        self.n_terms = 0

    # ---- errors ---------------------------------------------------------------------
    def error(self, node: Node, message: str, cls: type = FormulaSemanticError) -> Exception:
        err: Exception = cls(message, self.text, node.start, node.end)
        return err

    # ---- the whole formula ----------------------------------------------------------
    def model_spec(self, lhs: Node | None, rhs: Node) -> ModelSpec:
        response = None if lhs is None else self.response(lhs)
        fixed_parts: list[tuple[str, Node]] = []
        random: list[RandomTerm] = []
        offsets: list[Node] = []
        for sign, node in self.split_sum(rhs):
            if self.is_random(node):
                if sign == "-":
                    raise self.error(node, "a random-effect term cannot be subtracted")
                random.extend(self.random_terms(node))
            elif _is_offset(node):
                if sign == "-":
                    raise self.error(node, "an offset cannot be subtracted")
                offsets.append(self.offset(_unparen(node)))
            else:
                fixed_parts.append((sign, node))
        fixed = self.linear(self.signed_sum(fixed_parts))
        return ModelSpec(response, fixed, tuple(random), tuple(offsets), formula=self.text)

    def split_sum(self, node: Node) -> list[tuple[str, Node]]:
        """Top-level signed operands, looking through parentheses around sums of terms."""
        out: list[tuple[str, Node]] = []
        for sign, part in sum_operands(node):
            inner = _unparen(part)
            if inner is not part and sign == "+" and _is_sum(inner) and _has_bar(inner):
                out.extend(self.split_sum(inner))
            else:
                out.append((sign, part))
        return out

    def signed_sum(self, parts: list[tuple[str, Node]]) -> _Terms:
        acc = _Terms()
        for sign, node in parts:
            self.no_bars(node)
            acc = self.combine(acc, self.terms(node), subtract=(sign == "-"))
        return acc

    # ---- response ---------------------------------------------------------------------
    def response(self, node: Node) -> Node:
        self.no_bars(node)
        inner = _unparen(node)
        if isinstance(inner, Call) and inner.func == "cbind":
            self.check_call(inner, allow_role="response")
            return inner
        self.value(node)
        return node

    # ---- random terms -------------------------------------------------------------------
    def is_random(self, node: Node) -> bool:
        inner = _unparen(node)
        if isinstance(inner, BinOp) and inner.op in {"|", "||"}:
            return True  # with or without parentheses: R's | binds loosest (y ~ 1 | g)
        return isinstance(inner, Call) and bool(inner.args) and _is_bar(_unparen(inner.args[0]))

    def random_terms(self, node: Node) -> list[RandomTerm]:
        inner = _unparen(node)
        if isinstance(inner, Call):
            return self.wrapped_term(inner)
        assert isinstance(inner, BinOp)
        lhs = self.linear(self.terms(self.no_bars(inner.left)), default_intercept=True)
        groups = self.groups(inner.right)
        if inner.op == "||":
            return [t for g in groups for t in self.split_double_bar(lhs, g, inner)]
        return [RandomTerm(lhs, g, start=inner.start, end=inner.end) for g in groups]

    def split_double_bar(
        self, lhs: LinearTerms, group: tuple[str, ...], node: Node
    ) -> list[RandomTerm]:
        parts = [LinearTerms(True)] if lhs.intercept else []
        parts += [LinearTerms(False, (t,)) for t in lhs.terms]
        return [RandomTerm(p, group, start=node.start, end=node.end) for p in parts]

    def wrapped_term(self, call: Call) -> list[RandomTerm]:
        if call.func in FUNCTIONS:
            raise self.error(
                call,
                f"{call.func}() cannot hold a random-effect term; "
                "write the term on its own, like '+ (x | g)'",
            )
        if call.func not in registered_term_types():
            known = ", ".join(registered_term_types())
            raise self.error(
                call,
                f"unknown random-effect term type '{call.func}'; registered term types: {known}",
                FormulaSyntaxError,
            )
        bar = _unparen(call.args[0])
        assert isinstance(bar, BinOp)
        if bar.op == "||" or len(call.args) > 1:
            what = "'||'" if bar.op == "||" else "a second positional argument"
            raise self.error(
                call,
                f"{call.func}(...) takes one term 'lhs | g' and options 'key = value', not {what}",
            )
        options = tuple(sorted((k, self.literal(v)) for k, v in call.kwargs))
        try:
            get_term_type(call.func, dict(options))
        except (TypeError, ValueError) as exc:
            raise self.error(call, f"bad options for {call.func}(...): {exc}") from None
        lhs = self.linear(self.terms(self.no_bars(bar.left)), default_intercept=True)
        return [
            RandomTerm(lhs, g, call.func, options, start=call.start, end=call.end)
            for g in self.groups(bar.right)
        ]

    def groups(self, node: Node) -> list[tuple[str, ...]]:
        """Grouping factors of ``(lhs | node)``, each a tuple of variable names."""
        node = _unparen(node)
        if isinstance(node, Name):
            return [(self.variable(node),)]
        if isinstance(node, BinOp) and node.op in {":", "/", "+", "*"}:
            left, right = self.groups(node.left), self.groups(node.right)
            if node.op == "+":
                return _unique(left + right)
            if node.op == "*":
                return _unique(left + right + _cross(left, right))
            if node.op == ":":
                return _cross(left, right)
            outer = tuple(dict.fromkeys(n for g in left for n in g))
            return _unique([tuple(dict.fromkeys(r + outer)) for r in right] + left)
        raise self.error(
            node,
            "a grouping factor must be a variable or an interaction of variables "
            "(g, a:b, a/b), not an expression",
        )

    # ---- fixed-effects term algebra ------------------------------------------------
    def linear(self, acc: _Terms, default_intercept: bool = True) -> LinearTerms:
        terms = sorted(acc.terms, key=len)  # stable: R orders terms by degree
        intercept = default_intercept if acc.intercept is None else acc.intercept
        return LinearTerms(intercept, tuple(self.term(t) for t in terms))

    def term(self, labels: frozenset[str]) -> Term:
        order = list(self.factors)
        return Term(tuple(self.factors[k] for k in sorted(labels, key=order.index)))

    def terms(self, node: Node) -> _Terms:
        """R's term algebra on one operand."""
        if isinstance(node, Paren):
            return self.terms(node.inner)
        if isinstance(node, Number):
            if node.value not in (0.0, 1.0):
                raise self.error(
                    node,
                    f"a number in a formula can only be 1 (intercept) or 0 (no intercept); "
                    f"for arithmetic use I(...), e.g. I({node} * x)",
                )
            return _Terms(intercept=node.value == 1.0)
        if isinstance(node, UnaryOp):
            inner = self.terms(node.operand)
            return self.combine(_Terms(), inner, subtract=True) if node.op == "-" else inner
        if isinstance(node, BinOp):
            return self.binary_terms(node)
        return self.count(_Terms([frozenset([self.factor(node)])]), node)

    def binary_terms(self, node: BinOp) -> _Terms:
        if node.op in {"+", "-"}:
            return self.signed_sum(sum_operands(node))
        if node.op == "^":
            return self.power(node)
        if node.op not in {":", "%in%", "*", "/"}:
            raise self.error(
                node,
                f"'{node.op}' is arithmetic, which a formula term cannot be; "
                f"wrap it in I(...), e.g. I({node})",
            )
        left, right = self.terms(node.left), self.terms(node.right)
        if node.op in {":", "%in%"}:
            return self.count(_Terms(_products(left.terms, right.terms)), node)
        if node.op == "*":
            both = list(left.terms) + list(right.terms)
            return self.count(_Terms(both + _products(left.terms, right.terms)), node)
        outer = frozenset().union(*left.terms)  # a/b: a + (all of a):b
        return self.count(_Terms(list(left.terms) + _products([outer], right.terms)), node)

    def power(self, node: BinOp) -> _Terms:
        exponent = node.right
        if not (isinstance(exponent, Number) and exponent.value == int(exponent.value)) or not (
            1 <= exponent.value <= MAX_POWER
        ):
            raise self.error(
                exponent,
                f"the power of a term must be a whole number from 1 to {MAX_POWER} "
                f"((a + b)^2 means all interactions up to order 2); "
                f"for arithmetic use I(...), e.g. I(x^2)",
            )
        base = self.terms(node.left)
        acc = _Terms(base.terms)
        for _ in range(int(exponent.value) - 1):
            acc = self.count(_Terms(list(acc.terms) + _products(acc.terms, base.terms)), node)
        return acc

    def combine(self, acc: _Terms, new: _Terms, subtract: bool) -> _Terms:
        if not subtract:
            out = _Terms(list(acc.terms) + list(new.terms), acc.intercept)
            out.intercept = acc.intercept if new.intercept is None else new.intercept
            return out
        kept = [t for t in acc.terms if t not in new.terms]
        intercept = acc.intercept if new.intercept is None else not new.intercept
        return _Terms(kept, intercept)

    def count(self, acc: _Terms, node: Node) -> _Terms:
        if len(acc.terms) > MAX_TERMS:
            raise self.error(
                node,
                f"this expands to more than {MAX_TERMS} terms; lower the power or split the model",
                FormulaLimitError,
            )
        return acc

    # ---- factors and values ----------------------------------------------------------------
    def factor(self, node: Node) -> str:
        """Register a term factor (a variable or an allowed call); return its label."""
        if isinstance(node, Name):
            self.variable(node)
        elif isinstance(node, Call):
            self.check_call(node, allow_role="transform")
        else:
            raise self.error(
                node,
                "a formula term must be a variable or a function call; "
                f"for arithmetic use I(...), e.g. I({node})",
            )
        label = str(node)
        self.factors.setdefault(label, node)
        return label

    def variable(self, node: Name) -> str:
        if node.name == ".":
            raise self.error(node, "'.' (all other columns) is not supported; name the variables")
        if node.name in {"TRUE", "FALSE"}:
            raise self.error(node, f"{node.name} is a literal, not a variable")
        return node.name

    def value(self, node: Node) -> None:
        """Check an arithmetic expression (inside I(), log(), a response, ...)."""
        if isinstance(node, Name):
            self.variable(node)
        elif isinstance(node, Number):
            pass
        elif isinstance(node, Paren):
            self.value(node.inner)
        elif isinstance(node, UnaryOp):
            self.value(node.operand)
        elif isinstance(node, BinOp) and node.op in _ARITHMETIC:
            for side in sum_operands(node) if node.op in {"+", "-"} else [("", node.left)]:
                self.value(side[1])
            if node.op not in {"+", "-"}:
                self.value(node.right)
        elif isinstance(node, Call):
            self.check_call(node, allow_role="transform")
        else:
            what = "a string" if isinstance(node, String) else f"'{getattr(node, 'op', node)}'"
            raise self.error(node, f"{what} cannot be used in an arithmetic expression")

    def check_call(self, call: Call, allow_role: str) -> None:
        rule = FUNCTIONS.get(call.func)
        if rule is None:
            raise self.error(
                call,
                f"unknown function '{call.func}'; formulas may call: "
                + ", ".join(sorted(FUNCTIONS))
                + (
                    f"; random-effect term types: {', '.join(registered_term_types())}"
                    if allow_role == "transform"
                    else ""
                ),
                FormulaSyntaxError,
            )
        if rule.role != allow_role:
            where = {"offset": "as a term of the fixed part", "response": "as the response"}
            raise self.error(call, f"{call.func}(...) can only be used {where[rule.role]}")
        if not call.args or len(call.args) > rule.max_args:
            raise self.error(call, f"{call.func}(...) takes {_arity(rule.max_args)}")
        for arg in call.args[: 1 if rule.literal_args else None]:
            self.value(arg)
        for kind, arg in zip(rule.literal_args, call.args[1:], strict=False):
            self.literal_arg(call, kind, arg)
        allowed = dict(rule.keywords)
        for key, arg in call.kwargs:
            if key not in allowed:
                names = ", ".join(allowed) or "none"
                raise self.error(arg, f"{call.func}(...) has no option '{key}' (options: {names})")
            self.literal_of_kind(arg, allowed[key])

    def literal_arg(self, call: Call, kind: str, arg: Node) -> None:
        if kind == "degree":
            value = float(self.literal_of_kind(arg, "number"))
            if value != int(value) or not 1 <= value <= MAX_POLY_DEGREE:
                raise self.error(
                    arg,
                    f"the degree of poly() must be a whole number from 1 to {MAX_POLY_DEGREE}",
                    FormulaLimitError if value > MAX_POLY_DEGREE else FormulaSemanticError,
                )
        elif kind in ("number", "bool", "string"):
            self.literal_of_kind(arg, kind)
        elif not (isinstance(arg, Name) and arg.name in CONTRASTS):
            raise self.error(arg, "the contrast must be one of " + ", ".join(CONTRASTS))

    def literal_of_kind(self, node: Node, kind: str) -> float | str:
        value = self.literal(node)
        if kind == "string":
            if not isinstance(value, str):
                raise self.error(node, "expected a string here")
            return value
        ok = isinstance(value, bool) if kind == "bool" else isinstance(value, float | int)
        if not ok or (kind == "number" and isinstance(value, bool)):
            raise self.error(node, f"expected a {'TRUE/FALSE' if kind == 'bool' else kind} here")
        return float(value)

    def literal(self, node: Node) -> Literal:
        """A literal option value: a number, a string, TRUE or FALSE."""
        if isinstance(node, Number):
            return int(node.value) if node.value == int(node.value) else node.value
        if isinstance(node, UnaryOp) and isinstance(node.operand, Number) and node.op == "-":
            value = self.literal(node.operand)
            assert isinstance(value, float | int)
            return -value
        if isinstance(node, String):
            return node.value
        if isinstance(node, Name) and node.name in {"TRUE", "FALSE"}:
            return node.name == "TRUE"
        raise self.error(node, "an option must be a literal: a number, a string, TRUE or FALSE")

    def offset(self, call: Node) -> Node:
        assert isinstance(call, Call)
        self.check_call(call, allow_role="offset")
        return call.args[0]

    def no_bars(self, node: Node) -> Node:
        bar = _find_bar(node)
        if bar is not None:
            raise self.error(
                bar,
                "a random-effect term must be a term of the formula on its own, "
                "like '+ (x | g)', not part of an expression",
            )
        return node


def _arity(n: int) -> str:
    return "one argument" if n == 1 else f"one to {n} arguments"


def _unparen(node: Node) -> Node:
    while isinstance(node, Paren):
        node = node.inner
    return node


def _is_bar(node: Node) -> bool:
    return isinstance(node, BinOp) and node.op in {"|", "||"}


def _is_offset(node: Node) -> bool:
    inner = _unparen(node)
    return isinstance(inner, Call) and inner.func == "offset"


def _is_sum(node: Node) -> bool:
    return isinstance(node, BinOp) and node.op in {"+", "-"}


def _find_bar(node: Node) -> Node | None:
    stack = [node]
    while stack:
        n = stack.pop()
        if _is_bar(n):
            return n
        if isinstance(n, BinOp):
            stack += [n.right, n.left]
        elif isinstance(n, UnaryOp):
            stack.append(n.operand)
        elif isinstance(n, Paren):
            stack.append(n.inner)
        elif isinstance(n, Call):
            stack += [v for _, v in reversed(n.kwargs)] + list(reversed(n.args))
    return None


def _has_bar(node: Node) -> bool:
    return _find_bar(node) is not None


def _products(
    left: Iterable[frozenset[str]], right: Iterable[frozenset[str]]
) -> list[frozenset[str]]:
    right = list(right)
    return [a | b for a in left for b in right]


def _cross(left: list[tuple[str, ...]], right: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    return _unique([tuple(dict.fromkeys(a + b)) for a in left for b in right])


def _unique(groups: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    return list(dict.fromkeys(groups))
