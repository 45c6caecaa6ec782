"""Expressions -> Python closures, type-checked against a contract when one is known.

The lark tree is walked once; each node becomes a closure over its children's
closures. Nothing here evaluates user text as Python, reads attributes, or calls
anything but the fixed functions in :data:`FUNCTIONS`.
"""

from __future__ import annotations

import functools
import importlib.resources
import math
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from runink.dsl.errors import DslError, finding, shift
from runink.dsl.expr.regex import regex_problem
from runink.dsl.strings import EscapeError, unquote
from runink.findings import Finding, Position, did_you_mean

#: Longest expression, in characters.
MAX_EXPRESSION_LENGTH = 4096
#: Deepest nesting of the expression tree (parentheses, unary operators, calls...).
MAX_DEPTH = 48
#: Largest exponent ``**`` accepts, in absolute value.
MAX_EXPONENT = 1024
#: Largest integer a computation may produce, in bits.
MAX_INT_BITS = 4096
#: Longest number literal, in characters.
MAX_NUMBER_LENGTH = 64
#: Longest string a computation may produce (``+``), in characters.
MAX_STRING_LENGTH = 1 << 20
#: Longest value ``matches`` runs its regex on, in characters.
MAX_MATCH_INPUT = 1 << 16

#: Static types: the ODCS logical types (integer folded into number), plus null and any.
TYPES = ("string", "number", "boolean", "date", "timestamp", "object", "array", "null", "any")
_LOGICAL = {
    "string": "string",
    "number": "number",
    "integer": "number",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamp",
    "object": "object",
    "array": "array",
}
_TEMPORAL = {"date", "timestamp"}

Env = tuple[Mapping[str, Any], datetime]
Fn = Callable[[Env], Any]


class ExprRuntimeError(Exception):
    """An expression that cannot be evaluated on one record (the record goes to the DLQ)."""

    def __init__(self, message: str, position: Position) -> None:
        self.position = position
        self.reason = message
        super().__init__(f"{position}: {message}")


@dataclass(frozen=True)
class CompiledExpr:
    """A checked expression, ready to evaluate against records."""

    source: str
    position: Position
    fields_used: frozenset[str]
    result_type: str
    _fn: Fn = field(repr=False, compare=False)

    def evaluate(self, record: Mapping[str, Any], *, now: datetime | None = None) -> Any:
        """The expression's value for ``record``; ``now`` pins ``now()``/``today()``.

        The runtime passes the run's start time, so that ``now()`` is one value per run.

        Raises :class:`ExprRuntimeError` for a value the operators cannot take
        (e.g. ``"a" - 1`` on untyped data, division by zero).
        """
        if now is None:
            now = datetime.now(UTC)
        elif now.tzinfo is None:
            now = now.replace(tzinfo=UTC)  # naive times are UTC, as everywhere in Runink
        return self._fn((record, now))

    def test(self, record: Mapping[str, Any], *, now: datetime | None = None) -> bool:
        """True when the expression holds for ``record``; null counts as false."""
        value = self.evaluate(record, now=now)
        if value is None:
            return False
        if isinstance(value, bool):
            return value
        raise ExprRuntimeError(
            f"a condition must be true or false, found {_kind(value)}", self.position
        )


@functools.cache
def _parser() -> Lark:
    grammar = (importlib.resources.files("runink.dsl") / "expr.lark").read_text("utf-8")
    return Lark(
        grammar,
        parser="lalr",
        lexer="basic",
        postlex=_Guard(),
        maybe_placeholders=True,
        propagate_positions=True,
    )


def compile_expression(
    text: str,
    position: Position | str,
    fields: Mapping[str, str] | None = None,
    *,
    boolean: bool = False,
) -> CompiledExpr:
    """Compile expression ``text`` written at ``position`` (a Position, or a file path).

    ``fields`` maps field paths (``"trader.email"``) to ODCS logical types when the
    record's contract is known: then unknown fields and type mismatches are errors.
    With ``boolean=True`` the result must be true/false (a condition).
    Raises :class:`~runink.dsl.errors.DslError` with every finding.
    """
    base = position if isinstance(position, Position) else Position(position)
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise DslError(
            [
                finding(
                    "expr.limit",
                    f"expression is {len(text)} characters long; "
                    f"the limit is {MAX_EXPRESSION_LENGTH}",
                    base,
                    "split the logic over several steps or assertions",
                )
            ]
        )
    if not text.strip():
        raise DslError([finding("expr.syntax", "empty expression", base, "write e.g. a > 0")])
    try:
        tree = _parse(text)
    except _Refused as refused:
        raise DslError(
            [finding(refused.code, refused.message, _at(base, refused.token), refused.hint)]
        ) from None
    except UnexpectedInput as err:
        raise DslError([_syntax_finding(err, text, base)]) from None
    deep = _too_deep(tree)
    if deep is not None:
        raise DslError(
            [
                finding(
                    "expr.limit",
                    f"expression nests deeper than {MAX_DEPTH} levels",
                    _at(base, deep),
                    "simplify it",
                )
            ]
        )
    compiler = _Compiler(base, fields)
    node = compiler.node(tree)
    if boolean and node.type not in ("boolean", "any", "null"):
        compiler.error(
            "expr.type",
            f"a condition must be true or false, this expression is {_a(node.type)}",
            base,
            "compare it, e.g. x > 0, or test it with 'is not null'",
        )
    if compiler.findings:
        raise DslError(compiler.findings)
    return CompiledExpr(
        source=text,
        position=base,
        fields_used=frozenset(compiler.fields_used),
        result_type=node.type,
        _fn=node.fn,
    )


class _Refused(Exception):
    """Raised by the token guard; carries what to report and where."""

    def __init__(self, code: str, message: str, hint: str, token: Token) -> None:
        self.code, self.message, self.hint, self.token = code, message, hint, token


class _Guard:
    """Postlexer: refuses dunder names and deep brackets as the tokens stream by.

    Brackets leave no trace in the tree, so their depth is counted here; a dunder is
    refused before any syntax error that follows it.
    """

    always_accept = ()

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        depth = 0
        for token in stream:
            if token.type in ("LPAR", "LSQB"):
                depth += 1
                if depth > MAX_DEPTH:
                    raise _Refused(
                        "expr.limit",
                        f"expression nests deeper than {MAX_DEPTH} brackets",
                        "simplify it",
                        token,
                    )
            elif token.type in ("RPAR", "RSQB"):
                depth -= 1
            elif token.type == "NAME" and token.value.startswith("__"):
                raise _Refused(
                    "expr.forbidden-name",
                    f"names starting with '__' are not allowed: {token.value!r}",
                    "expressions read record fields and call "
                    + ", ".join(FUNCTIONS)
                    + "; nothing else",
                    token,
                )
            yield token


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> Tree[Token]:
    # Trees are only read, never changed, so one parse serves every place the same
    # expression is written (token positions are relative to the text).
    return _parser().parse(text)


def _at(base: Position, token: Token) -> Position:
    return shift(base, token.line or 1, token.column or 1)


def _first_token(tree: Tree[Token] | Token | None) -> Token | None:
    stack: list[Tree[Token] | Token | None] = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, Token):
            return item
        if isinstance(item, Tree):
            stack.extend(reversed(item.children))
    return None


def _too_deep(tree: Tree[Token]) -> Token | None:
    """The first token of a subtree nested beyond MAX_DEPTH, iteratively (no recursion)."""
    stack: list[tuple[Tree[Token], int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            meta = node.meta
            if not meta.empty:
                return Token("NODE", "", line=meta.line, column=meta.column)
            token = _first_token(node)  # pragma: no cover - every node has a position
            return token if token is not None else Token("NODE", "", line=1, column=1)
        for index, child in enumerate(node.children):
            if isinstance(child, Tree):
                # Left-associative chains (a + b + c ...) are walked as one level.
                same = index == 0 and child.data == node.data == "arith"
                stack.append((child, depth if same else depth + 1))
    return None


# -- syntax errors ------------------------------------------------------------------

_HUMAN = {
    "NAME": "a field or function name",
    "STRING": "a string",
    "NUMBER": "a number",
    "TRUE": "true",
    "FALSE": "false",
    "NULL": "null",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COMMA": "','",
    "COMP_OP": "a comparison (== != < <= > >=)",
    "ADD_OP": "'+' or '-'",
    "MUL_OP": "'*', '/' or '%'",
    "POW": "'**'",
    "_DOT": "'.'",
    "_OR": "'or'",
    "_AND": "'and'",
    "_NOT": "'not'",
    "_IN": "'in'",
    "_IS": "'is'",
    "_MATCHES": "'matches'",
    "$END": "the end of the expression",
}
_PYTHONISMS = {
    "=": "compare with '=='",
    "&": "write 'and'",
    "|": "write 'or'",
    "!": "write 'not', or '!=' to compare",
    "`": "the backticks go around the whole expression only",
}


def _expected(names: set[str]) -> str:
    words = sorted({_HUMAN.get(n, n.lower()) for n in names})
    if len(words) > 6:
        return "an operator or the end of the expression" if "$END" in names else "a value"
    if not words:
        return "something else"
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _syntax_finding(err: UnexpectedInput, text: str, base: Position) -> Finding:
    line = max(1, err.line or 1)
    column = max(1, err.column or 1)
    position = shift(base, line, column)
    if isinstance(err, UnexpectedCharacters):
        char = err.char
        if char in "\"'":
            return finding(
                "expr.syntax",
                f"unterminated string: no closing {char}",
                position,
                f"close the string with {char}",
            )
        return finding(
            "expr.syntax",
            f"unexpected character {char!r}: expected {_expected(set(err.allowed or ()))}",
            position,
            _PYTHONISMS.get(char, ""),
        )
    if isinstance(err, UnexpectedToken):
        token = err.token
        expected = set(err.expected or ())
        if token.type == "$END":
            lines = text.split("\n")
            return finding(
                "expr.syntax",
                f"unexpected end of expression: expected {_expected(expected)}",
                shift(base, len(lines), len(lines[-1]) + 1),
                "close every '(' and '[', and give every operator its operands",
            )
        return finding(
            "expr.syntax",
            f"unexpected '{token}': expected {_expected(expected)}",
            position,
            "a comparison takes one operator: write a < b and b < c"
            if token.type == "COMP_OP"
            else "",
        )
    return finding("expr.syntax", str(err), position)  # pragma: no cover


# -- compilation --------------------------------------------------------------------

_NOCONST = object()


@dataclass(frozen=True)
class _Node:
    fn: Fn
    type: str
    const: Any = _NOCONST


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, datetime):
        return "a timestamp"
    if isinstance(value, date):
        return "a date"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    return "a value of another kind"


def _a(type_: str) -> str:
    return {"null": "null", "any": "a value"}.get(
        type_, ("an " if type_[0] in "aeiou" else "a ") + type_
    )


def _comparable(a: str, b: str) -> bool:
    if "any" in (a, b) or "null" in (a, b) or a == b:
        return True
    stringy = {"string", *_TEMPORAL}
    return a in stringy and b in stringy


class _Compiler:
    def __init__(self, base: Position, fields: Mapping[str, str] | None) -> None:
        self.base = base
        self.fields = fields
        self.findings: list[Finding] = []
        self.fields_used: set[str] = set()

    def error(self, code: str, message: str, position: Position, hint: str = "") -> None:
        self.findings.append(finding(code, message, position, hint))

    def at(self, node: Tree[Token] | Token | None) -> Position:
        if isinstance(node, Tree) and not node.meta.empty:
            return shift(self.base, node.meta.line, node.meta.column)
        token = _first_token(node)
        return _at(self.base, token) if token is not None else self.base

    def node(self, tree: Tree[Token] | Token | None) -> _Node:
        assert isinstance(tree, Tree)
        # Dispatch on the grammar's rule names through a fixed table, not getattr.
        method = _RULES.get(str(tree.data))
        assert method is not None, f"no compiler for rule {tree.data}"
        return method(self, tree)

    # literals

    def c_string(self, tree: Tree[Token]) -> _Node:
        token = tree.children[0]
        assert isinstance(token, Token)
        value = self.decode_string(token)
        return _Node(lambda env: value, "string", value)

    def decode_string(self, token: Token) -> str:
        try:
            return unquote(token.value)
        except EscapeError:
            self.error(
                "expr.syntax",
                "invalid escape in string: \\u needs four hex digits",
                _at(self.base, token),
                "write e.g. \\u00e9",
            )
            return ""

    def c_number(self, tree: Tree[Token]) -> _Node:
        token = tree.children[0]
        assert isinstance(token, Token)
        text = token.value
        if len(text) > MAX_NUMBER_LENGTH:
            self.error(
                "expr.limit",
                f"number has {len(text)} characters; the limit is {MAX_NUMBER_LENGTH}",
                self.at(token),
            )
            return _Node(lambda env: 0, "number", 0)
        value: int | float = float(text) if any(c in text for c in ".eE") else int(text)
        if isinstance(value, float) and math.isinf(value):
            self.error("expr.limit", "number is too large", self.at(token))
        return _Node(lambda env: value, "number", value)

    def c_true(self, tree: Tree[Token]) -> _Node:
        return _Node(lambda env: True, "boolean", True)

    def c_false(self, tree: Tree[Token]) -> _Node:
        return _Node(lambda env: False, "boolean", False)

    def c_null(self, tree: Tree[Token]) -> _Node:
        return _Node(lambda env: None, "null", None)

    def c_list(self, tree: Tree[Token]) -> _Node:
        items = [self.node(c) for c in tree.children if c is not None]
        fns = [i.fn for i in items]
        if all(i.const is not _NOCONST for i in items):
            value = tuple(i.const for i in items)
            return _Node(lambda env: value, "array", value)
        return _Node(lambda env: tuple(f(env) for f in fns), "array")

    # fields

    def c_path(self, tree: Tree[Token]) -> _Node:
        segments: list[str] = []
        for token in tree.children:
            assert isinstance(token, Token)
            segment = self.decode_string(token) if token.type == "STRING" else token.value
            if segment.startswith("__"):
                self.error(
                    "expr.forbidden-name",
                    f"names starting with '__' are not allowed: {segment!r}",
                    self.at(token),
                    "expressions read record fields only",
                )
                return _Node(lambda env: None, "any")
            segments.append(segment)
        if segments[0] == "record" and len(tree.children) > 1:
            segments = segments[1:]
        elif segments == ["record"]:
            self.error(
                "expr.unknown-field",
                "'record' alone is not a value",
                self.at(tree),
                "name one of its fields: record.<field>",
            )
            return _Node(lambda env: None, "any")
        key = ".".join(segments)
        self.fields_used.add(key)
        type_ = self.field_type(segments, tree)
        names = tuple(segments)

        def lookup(env: Env) -> Any:
            value: Any = env[0]
            for name in names:
                if not isinstance(value, Mapping):
                    return None
                value = value.get(name)
            return value

        return _Node(lookup, type_)

    def field_type(self, segments: list[str], tree: Tree[Token]) -> str:
        if self.fields is None:
            return "any"
        key = ".".join(segments)
        if key in self.fields:
            return _LOGICAL.get(self.fields[key], "any")
        for end in range(len(segments) - 1, 0, -1):
            prefix = ".".join(segments[:end])
            if prefix not in self.fields:
                continue
            prefix_type = _LOGICAL.get(self.fields[prefix], "any")
            nested_known = any(f.startswith(prefix + ".") for f in self.fields)
            if prefix_type in ("object", "any") and not nested_known:
                return "any"
            if prefix_type not in ("object", "any"):
                self.error(
                    "expr.unknown-field",
                    f"field {prefix!r} is {_a(prefix_type)}; it has no field {segments[end]!r}",
                    self.at(tree),
                )
                return "any"
            break
        self.error(
            "expr.unknown-field",
            f"unknown field {key!r}",
            self.at(tree),
            did_you_mean(key, self.fields)
            or ("the contract's fields: " + ", ".join(sorted(self.fields))[:200]),
        )
        return "any"

    # boolean logic

    def condition(self, tree: Tree[Token] | Token | None) -> Fn:
        node = self.node(tree)
        if node.type not in ("boolean", "any", "null"):
            self.error(
                "expr.type",
                f"expected true or false, found {_a(node.type)}",
                self.at(tree),
                "compare it, e.g. x > 0, or test it with 'is not null'",
            )
        fn = node.fn
        position = self.at(tree)

        def truth(env: Env) -> bool:
            value = fn(env)
            if value is None:
                return False
            if isinstance(value, bool):
                return value
            raise ExprRuntimeError(f"expected true or false, found {_kind(value)}", position)

        return truth

    def c_or_(self, tree: Tree[Token]) -> _Node:
        fns = [self.condition(c) for c in tree.children]
        return _Node(lambda env: any(f(env) for f in fns), "boolean")

    def c_and_(self, tree: Tree[Token]) -> _Node:
        fns = [self.condition(c) for c in tree.children]
        return _Node(lambda env: all(f(env) for f in fns), "boolean")

    def c_not_(self, tree: Tree[Token]) -> _Node:
        fn = self.condition(tree.children[0])
        return _Node(lambda env: not fn(env), "boolean")

    # comparisons

    def c_compare(self, tree: Tree[Token]) -> _Node:
        left_tree, op_token, right_tree = tree.children
        assert isinstance(op_token, Token)
        op = op_token.value
        left, right = self.node(left_tree), self.node(right_tree)
        position = self.at(op_token)
        if "null" in (left.type, right.type):
            self.error(
                "expr.type",
                f"'{op}' with null is always false",
                position,
                "write 'x is null' or 'x is not null'",
            )
        elif not _comparable(left.type, right.type):
            self.error(
                "expr.type",
                f"cannot compare {_a(left.type)} with {_a(right.type)} using '{op}'",
                position,
                "convert one side, or compare fields of the same type",
            )
        elif op not in ("==", "!=") and {left.type, right.type} & {"boolean", "object", "array"}:
            kind = next(t for t in (left.type, right.type) if t in {"boolean", "object", "array"})
            self.error(
                "expr.type",
                f"'{op}' does not order {_a(kind)}s",
                position,
                "use == or != for them",
            )
        lf, rf = left.fn, right.fn
        test = _ORDER[op]
        return _Node(lambda env: _compare(test, op, lf(env), rf(env), position), "boolean")

    def c_in_(self, tree: Tree[Token]) -> _Node:
        return self.membership(tree, negate=False)

    def c_not_in(self, tree: Tree[Token]) -> _Node:
        return self.membership(tree, negate=True)

    def membership(self, tree: Tree[Token], *, negate: bool) -> _Node:
        left_tree, right_tree = tree.children
        left, right = self.node(left_tree), self.node(right_tree)
        position = self.at(right_tree)
        if right.type not in ("array", "string", "object", "any", "null"):
            self.error(
                "expr.type",
                f"'in' needs a list, a string or an object on its right, found {_a(right.type)}",
                position,
                "write x in [1, 2, 3]",
            )
        elif right.type == "string" and left.type not in ("string", "any", "null"):
            self.error(
                "expr.type",
                f"'in' a string looks for a substring, found {_a(left.type)} on the left",
                self.at(left_tree),
            )
        lf, rf = left.fn, right.fn

        def contains(env: Env) -> bool:
            item, container = lf(env), rf(env)
            if item is None or container is None:
                return False
            return _contains(item, container, position) != negate

        return _Node(contains, "boolean")

    def c_matches(self, tree: Tree[Token]) -> _Node:
        left_tree, right_tree = tree.children
        left, right = self.node(left_tree), self.node(right_tree)
        if left.type not in ("string", "any", "null", *_TEMPORAL):
            self.error(
                "expr.type",
                f"'matches' takes a string on its left, found {_a(left.type)}",
                self.at(left_tree),
            )
        if not isinstance(right.const, str):
            self.error(
                "expr.regex",
                "'matches' takes a string literal regex on its right",
                self.at(right_tree),
                'write e.g. x matches "^[A-Z]{3}$"',
            )
            return _Node(lambda env: False, "boolean")
        problem = regex_problem(right.const)
        if problem is not None:
            message, offset = problem
            start = self.at(right_tree)
            self.error(
                "expr.regex",
                message,
                start,
                "use a character class or a bounded repeat, e.g. [a-z]+ or (ab){1,5}"
                if "backtracking" in message
                else f"the regex starts at column {start.column + 1}, error at offset {offset}",
            )
            return _Node(lambda env: False, "boolean")
        regex = re.compile(right.const)
        lf = left.fn
        position = self.at(left_tree)

        def match(env: Env) -> bool:
            value = lf(env)
            if value is None:
                return False
            if not isinstance(value, str):
                raise ExprRuntimeError(f"'matches' needs a string, found {_kind(value)}", position)
            if len(value) > MAX_MATCH_INPUT:
                raise ExprRuntimeError(
                    f"value is {len(value)} characters long; 'matches' reads at most "
                    f"{MAX_MATCH_INPUT}",
                    position,
                )
            return regex.search(value) is not None

        return _Node(match, "boolean")

    def c_is_null(self, tree: Tree[Token]) -> _Node:
        fn = self.node(tree.children[0]).fn
        return _Node(lambda env: fn(env) is None, "boolean")

    def c_is_not_null(self, tree: Tree[Token]) -> _Node:
        fn = self.node(tree.children[0]).fn
        return _Node(lambda env: fn(env) is not None, "boolean")

    # arithmetic

    def c_arith(self, tree: Tree[Token]) -> _Node:
        # Walk the left spine iteratively: a + b + c ... can be long.
        operands: list[Tree[Token] | Token | None] = []
        ops: list[Token] = []
        node: Tree[Token] | Token | None = tree
        while isinstance(node, Tree) and node.data == "arith":
            left_tree, op, right_tree = node.children
            assert isinstance(op, Token)
            operands.append(right_tree)
            ops.append(op)
            node = left_tree
        operands.append(node)
        operands.reverse()
        ops.reverse()
        first = self.node(operands[0])
        type_ = first.type
        chain: list[tuple[Callable[[Any, Any, Position], Any], Fn, Position]] = []
        for op_token, operand in zip(ops, operands[1:], strict=True):
            right = self.node(operand)
            type_ = self.binary(op_token, type_, right.type)
            chain.append((_ARITH[op_token.value], right.fn, self.at(op_token)))
        head = first.fn

        def run(env: Env) -> Any:
            value = head(env)
            for apply, fn, position in chain:
                value = apply(value, fn(env), position)
            return value

        return _Node(run, type_)

    def binary(self, op_token: Token, lt: str, rt: str) -> str:
        """The result type of ``lt op rt``; records a finding when they do not fit."""
        op = op_token.value
        position = self.at(op_token)
        if op == "+" and "string" in (lt, rt):
            if {lt, rt} - {"string", "any", "null"}:
                self.error(
                    "expr.type",
                    f"'+' joins two strings or adds two numbers, found {_a(lt)} and {_a(rt)}",
                    position,
                )
            return "string"
        for side in (lt, rt):
            if side not in ("number", "any", "null"):
                self.error("expr.type", f"'{op}' takes numbers, found {_a(side)}", position)
                break
        return "any" if op == "+" and lt == rt == "any" else "number"

    def c_unary(self, tree: Tree[Token]) -> _Node:
        op_token, operand = tree.children
        assert isinstance(op_token, Token)
        node = self.node(operand)
        position = self.at(op_token)
        if node.type not in ("number", "any", "null"):
            self.error("expr.type", f"'{op_token}' takes a number, found {_a(node.type)}", position)
        negate = op_token.value == "-"
        if isinstance(node.const, int | float) and not isinstance(node.const, bool):
            value = -node.const if negate else node.const
            return _Node(lambda env: value, "number", value)
        fn = node.fn

        def sign(env: Env) -> Any:
            value = fn(env)
            if value is None:
                return None
            _need_number(value, position)
            return -value if negate else value

        return _Node(sign, "number")

    def c_power(self, tree: Tree[Token]) -> _Node:
        base_tree, op_token, exp_tree = tree.children
        assert isinstance(op_token, Token)
        base, exponent = self.node(base_tree), self.node(exp_tree)
        position = self.at(op_token)
        for side in (base.type, exponent.type):
            if side not in ("number", "any", "null"):
                self.error("expr.type", f"'**' takes numbers, found {_a(side)}", position)
                break
        if isinstance(exponent.const, int | float) and abs(exponent.const) > MAX_EXPONENT:
            self.error(
                "expr.limit",
                f"exponent {exponent.const} is too large; the limit is {MAX_EXPONENT}",
                self.at(exp_tree),
            )
        elif base.const is not _NOCONST and exponent.const is not _NOCONST:
            try:
                _power(base.const, exponent.const, position)
            except ExprRuntimeError as err:
                self.error("expr.limit", err.reason, position)
        if base.const is not _NOCONST and exponent.const is not _NOCONST and not self.findings:
            folded = _power(base.const, exponent.const, position)
            return _Node(lambda env: folded, "number", folded)
        bf, ef = base.fn, exponent.fn
        return _Node(lambda env: _power(bf(env), ef(env), position), "number")

    # functions

    def c_call(self, tree: Tree[Token]) -> _Node:
        name_token = tree.children[0]
        assert isinstance(name_token, Token)
        name = name_token.value
        position = self.at(name_token)
        args = [self.node(c) for c in tree.children[1:] if c is not None]
        if name.startswith("__"):
            self.error(
                "expr.forbidden-name",
                f"names starting with '__' are not allowed: {name!r}",
                position,
                "expressions call only: " + ", ".join(FUNCTIONS),
            )
            return _Node(lambda env: None, "any")
        spec = FUNCTIONS.get(name)
        if spec is None:
            self.error(
                "expr.unknown-function",
                f"unknown function {name!r}",
                position,
                did_you_mean(name, FUNCTIONS) or "functions: " + ", ".join(FUNCTIONS),
            )
            return _Node(lambda env: None, "any")
        if not spec.min_args <= len(args) <= spec.max_args:
            count = (
                str(spec.min_args)
                if spec.min_args == spec.max_args
                else f"{spec.min_args} to {spec.max_args}"
                if spec.max_args < _MANY
                else f"at least {spec.min_args}"
            )
            self.error(
                "expr.type",
                f"{name}() takes {count} argument(s), found {len(args)}",
                position,
                spec.signature,
            )
            return _Node(lambda env: None, spec.result)
        for index, arg in enumerate(args):
            accepted = spec.params[min(index, len(spec.params) - 1)] if spec.params else ()
            if accepted and arg.type not in (*accepted, "any", "null"):
                self.error(
                    "expr.type",
                    f"{name}() takes {' or '.join(_a(t) for t in accepted)} as argument "
                    f"{index + 1}, found {_a(arg.type)}",
                    self.at(tree.children[index + 1]),
                    spec.signature,
                )
        result = spec.result
        if name == "coalesce":
            known = {a.type for a in args} - {"null", "any"}
            result = known.pop() if len(known) == 1 else "any"
        fns = [a.fn for a in args]
        impl = spec.impl
        return _Node(lambda env: impl(env, [f(env) for f in fns], position), result)


_RULES: Mapping[str, Callable[[_Compiler, Tree[Token]], _Node]] = {
    "string": _Compiler.c_string,
    "number": _Compiler.c_number,
    "true": _Compiler.c_true,
    "false": _Compiler.c_false,
    "null": _Compiler.c_null,
    "list": _Compiler.c_list,
    "path": _Compiler.c_path,
    "or_": _Compiler.c_or_,
    "and_": _Compiler.c_and_,
    "not_": _Compiler.c_not_,
    "compare": _Compiler.c_compare,
    "in_": _Compiler.c_in_,
    "not_in": _Compiler.c_not_in,
    "matches": _Compiler.c_matches,
    "is_null": _Compiler.c_is_null,
    "is_not_null": _Compiler.c_is_not_null,
    "arith": _Compiler.c_arith,
    "unary": _Compiler.c_unary,
    "power": _Compiler.c_power,
    "call": _Compiler.c_call,
}


# -- runtime ------------------------------------------------------------------------

_ORDER: Mapping[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _need_number(value: Any, position: Position) -> None:
    if not _is_number(value):
        raise ExprRuntimeError(f"expected a number, found {_kind(value)}", position)


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _coerce(a: Any, b: Any) -> tuple[Any, Any] | None:
    """Bring a pair to one comparable kind, or None when they are not comparable."""
    if _is_number(a) and _is_number(b):
        return a, b
    if isinstance(a, date) or isinstance(b, date):
        da, db = _as_datetime(a), _as_datetime(b)
        return None if da is None or db is None else (da, db)
    if type(a) is type(b) or (isinstance(a, str) and isinstance(b, str)):
        return a, b
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return list(a), list(b)
    return None


def _compare(test: Callable[[Any, Any], bool], op: str, a: Any, b: Any, position: Position) -> bool:
    if a is None or b is None:
        return False
    pair = _coerce(a, b)
    if pair is None:
        if op in ("==", "!="):
            return op == "!="
        raise ExprRuntimeError(f"cannot compare {_kind(a)} with {_kind(b)}", position)
    try:
        return bool(test(*pair))
    except TypeError:
        raise ExprRuntimeError(
            f"'{op}' does not order {_kind(a)} and {_kind(b)}", position
        ) from None


def _equal(a: Any, b: Any) -> bool:
    pair = _coerce(a, b)
    return pair is not None and pair[0] == pair[1]


def _contains(item: Any, container: Any, position: Position) -> bool:
    if isinstance(container, str):
        if not isinstance(item, str):
            raise ExprRuntimeError(f"'in' a string needs a string, found {_kind(item)}", position)
        return item in container
    if isinstance(container, Mapping):
        return isinstance(item, str) and item in container
    if isinstance(container, list | tuple):
        return any(_equal(item, element) for element in container)
    raise ExprRuntimeError(
        f"'in' needs a list, a string or an object, found {_kind(container)}", position
    )


def _bounded(value: Any, position: Position) -> Any:
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise ExprRuntimeError(f"number is larger than {MAX_INT_BITS} bits", position)
    if isinstance(value, str) and len(value) > MAX_STRING_LENGTH:
        raise ExprRuntimeError(f"string is longer than {MAX_STRING_LENGTH} characters", position)
    return value


def _arith(op: Callable[[Any, Any], Any], symbol: str) -> Callable[[Any, Any, Position], Any]:
    def apply(a: Any, b: Any, position: Position) -> Any:
        if a is None or b is None:
            return None
        if symbol == "+" and isinstance(a, str) and isinstance(b, str):
            if len(a) + len(b) > MAX_STRING_LENGTH:
                raise ExprRuntimeError(
                    f"string is longer than {MAX_STRING_LENGTH} characters", position
                )
            return a + b
        if not (_is_number(a) and _is_number(b)):
            raise ExprRuntimeError(f"'{symbol}' cannot take {_kind(a)} and {_kind(b)}", position)
        if symbol in ("/", "%") and b == 0:
            raise ExprRuntimeError("division by zero", position)
        try:
            return _bounded(op(a, b), position)
        except OverflowError:
            raise ExprRuntimeError(f"'{symbol}' overflows", position) from None

    return apply


_ARITH: Mapping[str, Callable[[Any, Any, Position], Any]] = {
    "+": _arith(operator.add, "+"),
    "-": _arith(operator.sub, "-"),
    "*": _arith(operator.mul, "*"),
    "/": _arith(operator.truediv, "/"),
    "%": _arith(operator.mod, "%"),
}


def _power(base: Any, exponent: Any, position: Position) -> Any:
    if base is None or exponent is None:
        return None
    if not (_is_number(base) and _is_number(exponent)):
        raise ExprRuntimeError(f"'**' cannot take {_kind(base)} and {_kind(exponent)}", position)
    if abs(exponent) > MAX_EXPONENT:
        raise ExprRuntimeError(f"exponent {exponent} is larger than {MAX_EXPONENT}", position)
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and exponent > 0
        and abs(base).bit_length() * exponent > MAX_INT_BITS
    ):
        raise ExprRuntimeError(f"result would be larger than {MAX_INT_BITS} bits", position)
    if base < 0 and not float(exponent).is_integer():
        raise ExprRuntimeError("a negative number to a fractional power", position)
    if base == 0 and exponent < 0:
        raise ExprRuntimeError("division by zero", position)
    try:
        return _bounded(base**exponent, position)
    except OverflowError:
        raise ExprRuntimeError("'**' overflows", position) from None


# -- functions ----------------------------------------------------------------------

_MANY = 64
Impl = Callable[[Env, list[Any], Position], Any]


@dataclass(frozen=True)
class FunctionSpec:
    """One built-in function: arity, accepted argument types, result type, and docs."""

    signature: str
    summary: str
    min_args: int
    max_args: int
    params: tuple[tuple[str, ...], ...]
    result: str
    impl: Impl


def _nullsafe(fn: Callable[..., Any]) -> Impl:
    def impl(env: Env, args: list[Any], position: Position) -> Any:
        if any(a is None for a in args):
            return None
        try:
            return fn(*args)
        except (TypeError, ValueError, OverflowError) as err:
            raise ExprRuntimeError(str(err), position) from None

    return impl


def _len(value: Any) -> int:
    if isinstance(value, str | list | tuple | Mapping):
        return len(value)
    raise TypeError(f"len() takes a string, array or object, found {_kind(value)}")


def _text(fn: Callable[[str], str]) -> Callable[[Any], str]:
    def apply(value: Any) -> str:
        if not isinstance(value, str):
            raise TypeError(f"expected a string, found {_kind(value)}")
        return fn(value)

    return apply


def _abs(value: Any) -> Any:
    if not _is_number(value):
        raise TypeError(f"abs() takes a number, found {_kind(value)}")
    return abs(value)


def _round(value: Any, digits: Any = 0) -> Any:
    if not _is_number(value) or not isinstance(digits, int) or isinstance(digits, bool):
        raise TypeError("round() takes a number and a whole number of digits")
    if not 0 <= digits <= 15:
        raise ValueError("round() keeps 0 to 15 digits")
    return round(value, digits) if digits else round(value)


def _coalesce(env: Env, args: list[Any], position: Position) -> Any:
    return next((a for a in args if a is not None), None)


def _now(env: Env, args: list[Any], position: Position) -> datetime:
    return env[1]


def _today(env: Env, args: list[Any], position: Position) -> date:
    return env[1].astimezone(UTC).date()


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        parsed = _as_datetime(value)
        if parsed is not None:
            return date.fromisoformat(value) if len(value) == 10 else parsed.date()
    raise ValueError(f"not an ISO date: {str(value)[:40]!r}")


def _timestamp(value: Any) -> datetime:
    parsed = _as_datetime(value)
    if parsed is None:
        raise ValueError(f"not an ISO timestamp: {str(value)[:40]!r}")
    return parsed


def _affix(name: str, test: Callable[[str, str], bool]) -> Callable[[Any, Any], bool]:
    def apply(value: Any, affix: Any) -> bool:
        if not isinstance(value, str) or not isinstance(affix, str):
            raise TypeError(f"{name}() takes two strings")
        return test(value, affix)

    return apply


_S = ("string",)
_N = ("number",)
_T = ("string", "date", "timestamp")

FUNCTIONS: Mapping[str, FunctionSpec] = {
    "len": FunctionSpec(
        "len(x)",
        "length of a string, array or object",
        1,
        1,
        (("string", "array", "object"),),
        "number",
        _nullsafe(_len),
    ),
    "lower": FunctionSpec(
        "lower(s)", "lower-cased string", 1, 1, (_S,), "string", _nullsafe(_text(str.lower))
    ),
    "upper": FunctionSpec(
        "upper(s)", "upper-cased string", 1, 1, (_S,), "string", _nullsafe(_text(str.upper))
    ),
    "trim": FunctionSpec(
        "trim(s)",
        "string without leading and trailing white space",
        1,
        1,
        (_S,),
        "string",
        _nullsafe(_text(str.strip)),
    ),
    "startswith": FunctionSpec(
        "startswith(s, prefix)",
        "true when s starts with prefix",
        2,
        2,
        (_S, _S),
        "boolean",
        _nullsafe(_affix("startswith", str.startswith)),
    ),
    "endswith": FunctionSpec(
        "endswith(s, suffix)",
        "true when s ends with suffix",
        2,
        2,
        (_S, _S),
        "boolean",
        _nullsafe(_affix("endswith", str.endswith)),
    ),
    "abs": FunctionSpec("abs(n)", "absolute value", 1, 1, (_N,), "number", _nullsafe(_abs)),
    "round": FunctionSpec(
        "round(n, digits=0)",
        "n rounded half-to-even to 0..15 decimal digits",
        1,
        2,
        (_N, _N),
        "number",
        _nullsafe(_round),
    ),
    "coalesce": FunctionSpec(
        "coalesce(a, b, ...)", "the first argument that is not null", 1, _MANY, (), "any", _coalesce
    ),
    "now": FunctionSpec(
        "now()", "the current time (UTC), fixed for one run", 0, 0, (), "timestamp", _now
    ),
    "today": FunctionSpec("today()", "the current date (UTC)", 0, 0, (), "date", _today),
    "date": FunctionSpec(
        "date(s)", "an ISO date (or the date of a timestamp)", 1, 1, (_T,), "date", _nullsafe(_date)
    ),
    "timestamp": FunctionSpec(
        "timestamp(s)",
        "an ISO timestamp; without a zone it is UTC",
        1,
        1,
        (_T,),
        "timestamp",
        _nullsafe(_timestamp),
    ),
}
