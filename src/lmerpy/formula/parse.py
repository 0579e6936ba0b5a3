"""Formula text -> AST -> ModelSpec, with errors that point into the formula."""

from __future__ import annotations

from functools import lru_cache

from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ..errors import ArgumentTypeError, FormulaLimitError, FormulaSyntaxError
from .ast import BinOp, Call, Node, Paren, UnaryOp
from .expand import expand
from .grammar import parser
from .limits import MAX_DEPTH, MAX_LENGTH
from .spec import ModelSpec
from .transform import ToAst

__all__ = ["parse_ast", "parse_formula"]

# Terminals as a person would name them.
_WORDS = {
    "NAME": "a variable name",
    "QNAME": "a `quoted name`",
    "NUMBER": "a number",
    "STRING": "a string",
    "CMP_OP": "a comparison",
    "POW_OP": "'^'",
    "$END": "the end of the formula",
}
_CHARACTER_HINTS = {
    "_": " (a name cannot start with '_'; put unusual column names in backticks: `_x`)",
    "`": " (a `quoted name` must be closed on the same line)",
    '"': " (a string must be closed on the same line)",
    "'": " (a string must be closed on the same line)",
    "=": " ('=' only names an option inside a call, as in poly(x, 2, raw = TRUE))",
}
_OPERATORS = {"PLUS", "MINUS", "STAR", "SLASH", "COLON", "TILDE", "VBAR", "POW_OP", "CMP_OP"}


def parse_formula(text: str) -> ModelSpec:
    """Parse an lme4 formula into a ModelSpec (lme4: the formula half of ``lFormula``).

    No part of the text is ever evaluated; function names must be on the allow-list
    in ``lmerpy.formula.functions``, and term-type wrappers must be registered.

    Example:
        >>> spec = parse_formula("Reaction ~ Days + (Days | Subject)")
        >>> str(spec)
        'Reaction ~ 1 + Days + (1 + Days | Subject)'

    Raises:
        FormulaSyntaxError: the text is not a formula lmerpy reads (with a caret).
        FormulaSemanticError: it parses but does not describe a model.
        FormulaLimitError: it exceeds a resource limit (``lmerpy.formula.limits``).
    """
    if not isinstance(text, str):
        raise ArgumentTypeError(f"a formula must be a string, not {type(text).__name__}")
    return _parse(text)


@lru_cache(maxsize=512)
def _parse(text: str) -> ModelSpec:
    """A formula's spec, parsed once per text (a spec is immutable; errors are not cached):
    refits, bootstrap replicates and case deletions parse the same formula again and again."""
    lhs, rhs = parse_ast(text)
    return expand(lhs, rhs, text)


def parse_ast(text: str) -> tuple[Node | None, Node]:
    """Parse formula text into its (lhs, rhs) AST, with no expansion."""
    if not isinstance(text, str):
        raise ArgumentTypeError(f"a formula must be a string, not {type(text).__name__}")
    _check_size(text)
    if "~" not in text:
        raise FormulaSyntaxError(
            "missing '~': a formula needs a response and a right-hand side, e.g. 'y ~ x + (1 | g)'",
            text,
            len(text.rstrip()),
        )
    try:
        tree = parser().parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(exc, text) from None
    lhs, rhs = ToAst().transform(tree)
    _check_depth(rhs if lhs is None else BinOp("~", lhs, rhs), text)
    return lhs, rhs


def _check_size(text: str) -> None:
    if len(text) > MAX_LENGTH:
        raise FormulaLimitError(
            f"the formula is {len(text)} characters long; the limit is {MAX_LENGTH}",
            text,
            MAX_LENGTH,
        )
    depth = 0
    for i, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if depth > MAX_DEPTH:
            raise FormulaLimitError(f"parentheses are nested more than {MAX_DEPTH} deep", text, i)


def _check_depth(root: Node, text: str) -> None:
    """Reject expressions nested deeper than MAX_DEPTH (a sum chain counts once)."""
    stack: list[tuple[Node, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise FormulaLimitError(
                f"the formula is nested more than {MAX_DEPTH} levels deep; simplify it",
                text,
                node.start,
                node.end,
            )
        stack.extend((child, depth + 1) for child in _children(node))


def _children(node: Node) -> list[Node]:
    if isinstance(node, BinOp):
        if node.op in {"+", "-"}:  # flatten the chain, so long sums stay shallow
            chain: list[Node] = []
            while isinstance(node, BinOp) and node.op in {"+", "-"}:
                chain.append(node.right)
                node = node.left
            return [*chain, node]
        return [node.left, node.right]
    if isinstance(node, UnaryOp):
        return [node.operand]
    if isinstance(node, Paren):
        return [node.inner]
    if isinstance(node, Call):
        return [*node.args, *(v for _, v in node.kwargs)]
    return []


def _syntax_error(exc: UnexpectedInput, text: str) -> FormulaSyntaxError:
    pos = min(exc.pos_in_stream or 0, len(text)) if exc.pos_in_stream is not None else len(text)
    if isinstance(exc, UnexpectedCharacters):
        ch = text[pos]
        hint = _CHARACTER_HINTS.get(ch, " (lmerpy formulas hold no Python code)")
        return FormulaSyntaxError(f"unexpected character {ch!r}{hint}", text, pos)
    token = exc.token if isinstance(exc, UnexpectedToken) else None
    if isinstance(exc, UnexpectedEOF) or (token is not None and token.type == "$END"):
        return _error_at_end(text, exc)
    assert isinstance(exc, UnexpectedToken) and token is not None
    return _error_at_token(text, token, exc.expected)


def _error_at_end(text: str, exc: UnexpectedInput) -> FormulaSyntaxError:
    unclosed = _unclosed_paren(text)
    if unclosed is not None:
        return FormulaSyntaxError(
            "unbalanced parentheses: this '(' is never closed", text, unclosed
        )
    stripped = text.rstrip()
    last = stripped[-1:] or " "
    end = len(stripped) - 1
    if last in "+-*/:^|~,=<>" or stripped.endswith("%in%"):
        return FormulaSyntaxError(
            f"the formula ends after '{last}': a term is missing after it", text, end
        )
    return FormulaSyntaxError("the formula ends too early", text, end)


def _error_at_token(text: str, token: Token, expected: set[str]) -> FormulaSyntaxError:
    pos = token.start_pos or 0
    previous = text[:pos].rstrip()[-1:]
    if token.type == "RPAR" and _unclosed_paren(text[:pos]) is None:
        return FormulaSyntaxError("unbalanced parentheses: this ')' has no matching '('", text, pos)
    if previous == "|" and token.type in {"RPAR", "COMMA"}:
        return FormulaSyntaxError(
            "nothing after '|': name the grouping factor, e.g. (1 | g)", text, pos
        )
    if token.type in {"VBAR", "__ANON_0"} and previous in {"(", ","}:
        return FormulaSyntaxError(
            "nothing before '|': give the random-effect terms, e.g. (1 | g)", text, pos
        )
    if token.type == "TILDE":
        return FormulaSyntaxError("a formula has only one '~'", text, pos)
    if token.type in _OPERATORS and previous in tuple("+-*/:^|~(,"):
        return FormulaSyntaxError(
            f"'{token}' follows '{previous}' with no term between them", text, pos
        )
    if token.type == "LPAR" and previous and previous not in "+-*/:^|~(,":
        return FormulaSyntaxError(
            "'(' here needs an operator before it (a function name goes right before '(')",
            text,
            pos,
        )
    words = sorted({_word(t) for t in expected})
    return FormulaSyntaxError(f"unexpected '{token}'; expected " + _join(words), text, pos)


def _word(terminal: str) -> str:
    if terminal in _WORDS:
        return _WORDS[terminal]
    for t in parser().terminals:
        if t.name == terminal:
            return f"'{t.pattern.value}'"
    return terminal.lower()


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _unclosed_paren(text: str) -> int | None:
    opened: list[int] = []
    for i, ch in enumerate(text):
        if ch == "(":
            opened.append(i)
        elif ch == ")" and opened:
            opened.pop()
    return opened[-1] if opened else None
