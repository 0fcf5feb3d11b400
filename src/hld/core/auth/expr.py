"""A small, safe condition language for attribute-based rules.

    subject.department == resource.department and env.hour >= 9
    action in ["read", "list"] or subject.id == resource.owner
    not (resource.visibility == "private")

Grammar: ``or`` < ``and`` < ``not`` < comparison (``== != < <= > >= in``) < operand.
Operands are dotted attribute paths, string/number/boolean/null literals and ``[...]``
lists. Expressions compile once to nested closures; nothing is ever passed to ``eval``.
A missing attribute reads as null; ordering across incomparable types is false rather
than an error, so a malformed request denies instead of crashing the evaluator.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

Context = Mapping[str, Any]
Evaluator = Callable[[Context], Any]

EXPRESSION_CHARS_MAX = 2000  # rules are written by people; longer is a mistake

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<number>-?\d+(?:\.\d+)?)
    | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    )""", re.VERBOSE)

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge,
}
_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}


class ExpressionError(ValueError):
    """The condition text is not a valid expression; the message says where."""


def compile_expression(text: str) -> Evaluator:
    """Compile ``text``; the result maps a context to a value (truthy means the rule applies)."""
    if len(text) > EXPRESSION_CHARS_MAX:
        raise ExpressionError(f"condition longer than {EXPRESSION_CHARS_MAX} characters")
    parser = _Parser(text)
    result = parser.parse_or()
    if parser.peek() is not None:
        raise ExpressionError(f"unexpected {parser.peek()!r} at offset {parser.offset} in {text!r}")
    return result


def _lookup(path: tuple[str, ...]) -> Evaluator:
    def read(ctx: Context) -> Any:
        value: Any = ctx
        for part in path:
            if not isinstance(value, Mapping):
                return None
            value = value.get(part)
        return value
    return read


def _compare(op: str, left: Evaluator, right: Evaluator) -> Evaluator:
    if op == "in":
        def contains(ctx: Context) -> bool:
            haystack = right(ctx)
            try:
                return haystack is not None and left(ctx) in haystack
            except TypeError:
                return False
        return contains
    fn = _COMPARE[op]

    def compare(ctx: Context) -> bool:
        try:
            return bool(fn(left(ctx), right(ctx)))
        except TypeError:
            return False
    return compare


def _either(left: Evaluator, right: Evaluator) -> Evaluator:
    return lambda ctx: bool(left(ctx)) or bool(right(ctx))


def _both(left: Evaluator, right: Evaluator) -> Evaluator:
    return lambda ctx: bool(left(ctx)) and bool(right(ctx))


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            match = _TOKEN.match(text, pos)
            if match is None or match.end() == pos:
                raise ExpressionError(f"cannot read {text[pos:].strip()[:20]!r} at offset "
                                      f"{pos} in {text!r}")
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind), match.start(kind)))
            pos = match.end()
        self.index = 0

    @property
    def offset(self) -> int:
        return self.tokens[self.index][2] if self.index < len(self.tokens) else len(self.text)

    def peek(self) -> str | None:
        return self.tokens[self.index][1] if self.index < len(self.tokens) else None

    def take(self) -> tuple[str, str, int]:
        if self.index >= len(self.tokens):
            raise ExpressionError(f"expression ends too early: {self.text!r}")
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect(self, value: str) -> None:
        if self.peek() != value:
            raise ExpressionError(f"expected {value!r} at offset {self.offset} in {self.text!r}")
        self.index += 1

    def parse_or(self) -> Evaluator:
        left = self.parse_and()
        while self.peek() == "or":
            self.index += 1
            right = self.parse_and()
            left = _either(left, right)
        return left

    def parse_and(self) -> Evaluator:
        left = self.parse_not()
        while self.peek() == "and":
            self.index += 1
            right = self.parse_not()
            left = _both(left, right)
        return left

    def parse_not(self) -> Evaluator:
        if self.peek() == "not":
            self.index += 1
            inner = self.parse_not()
            return lambda ctx: not inner(ctx)
        return self.parse_comparison()

    def parse_comparison(self) -> Evaluator:
        left = self.parse_operand()
        op = self.peek()
        if op in _COMPARE or op == "in":
            self.index += 1
            return _compare(str(op), left, self.parse_operand())
        following = self.tokens[self.index + 1][1] if self.index + 1 < len(self.tokens) else None
        if op == "not" and following == "in":
            self.index += 2
            inner = _compare("in", left, self.parse_operand())
            return lambda ctx: not inner(ctx)
        return left

    def parse_operand(self) -> Evaluator:
        kind, value, offset = self.take()
        if kind == "number":
            number: float | int = float(value) if "." in value else int(value)
            return lambda ctx: number
        if kind == "string":
            text = re.sub(r"\\(.)", r"\1", value[1:-1])
            return lambda ctx: text
        if value == "(":
            inner = self.parse_or()
            self.expect(")")
            return inner
        if value == "[":
            items: list[Evaluator] = []
            while self.peek() != "]":
                items.append(self.parse_operand())
                if self.peek() == ",":
                    self.index += 1
                elif self.peek() != "]":
                    raise ExpressionError(f"expected ',' or ']' at offset {self.offset} "
                                          f"in {self.text!r}")
            self.index += 1
            return lambda ctx: [item(ctx) for item in items]
        if kind == "name":
            if value in ("true", "false", "null"):
                constant = {"true": True, "false": False, "null": None}[value]
                return lambda ctx: constant
            if value in _KEYWORDS:
                raise ExpressionError(f"unexpected {value!r} at offset {offset} in {self.text!r}")
            return _lookup(tuple(value.split(".")))
        raise ExpressionError(f"unexpected {value!r} at offset {offset} in {self.text!r}")
