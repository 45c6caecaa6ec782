"""Feature files -> :class:`~runink.dsl.nodes.Feature`, with positioned, human errors.

The grammar is ``feature.lark`` (LALR); this module turns lark's tree into the
immutable AST, translates lark's exceptions into findings, and runs the checks
that need no repository: tag names, tag argument shapes, scenario names, and the
syntax of every expression written in the file.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import cast

from lark import Lark, Token, Tree
from lark.exceptions import (
    LarkError,
    UnexpectedCharacters,
    UnexpectedInput,
    UnexpectedToken,
)

from runink.dsl.errors import DslError, finding
from runink.dsl.expr import compile_expression
from runink.dsl.nodes import ArgPath, Feature, Scenario, StepLine, Tag, Value
from runink.dsl.strings import EscapeError, unquote
from runink.dsl.tags import TAGS, check_tag
from runink.findings import Finding, Position

#: Deepest nesting of (), [] and {} in tag arguments.
MAX_NESTING = 32
#: Longest number literal, in characters.
MAX_NUMBER_LENGTH = 64

_OPEN = {"LPAR": "(", "LSQB": "[", "LBRACE": "{"}
_CLOSE = {"RPAR": ")", "RSQB": "]", "RBRACE": "}"}
_BACKTICKED = re.compile(r"^`([^`]+)`$")

_HUMAN = {
    "FEATURE": "'Feature:'",
    "SCENARIO": "'Scenario:'",
    "STEP_KW": "a step line (Given/When/Then/And/But/Do)",
    "TAG_NAME": "a tag (@name)",
    "TEXT": "a name or text",
    "DESC": "a description line",
    "_NL": "the end of the line",
    "KEY": "an argument name",
    "STRING": 'a string ("...")',
    "NUMBER": "a number",
    "TRUE": "true",
    "FALSE": "false",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "COMMA": "','",
    "COLON": "':'",
    "EQUAL": "'='",
    "$END": "the end of the file",
}
_VALUE_TERMINALS = {"STRING", "NUMBER", "TRUE", "FALSE", "LSQB", "LBRACE"}


class _TooDeep(Exception):
    def __init__(self, token: Token) -> None:
        self.token = token


class _Brackets:
    """Postlexer: newlines inside brackets are not line ends (tag args span lines)."""

    always_accept = ("_NL",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        depth = 0
        for token in stream:
            if token.type in _OPEN:
                depth += 1
                if depth > MAX_NESTING:
                    raise _TooDeep(token)
            elif token.type in _CLOSE:
                depth = max(0, depth - 1)
            elif token.type == "_NL" and depth:
                continue
            yield token


@functools.cache
def _parser() -> Lark:
    grammar = (importlib.resources.files("runink.dsl") / "feature.lark").read_text("utf-8")
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        postlex=_Brackets(),
        maybe_placeholders=True,
        propagate_positions=True,
    )


def parse_feature(text: str, path: str) -> Feature:
    """Parse the feature file ``path`` whose content is ``text``.

    Raises :class:`~runink.dsl.errors.DslError` with every finding (syntax errors
    stop at the first; checks after parsing report all they find).
    """
    source = text.removeprefix("\ufeff")
    if not source.endswith("\n"):
        source += "\n"
    try:
        tree = _parser().parse(source)
    except _TooDeep as err:
        raise DslError(
            [
                finding(
                    "dsl.syntax",
                    f"tag arguments nest deeper than {MAX_NESTING} levels",
                    _pos(path, err.token),
                    "flatten the value",
                )
            ]
        ) from None
    except UnexpectedInput as err:
        raise DslError([_syntax_finding(err, source, path)]) from None
    except LarkError as err:  # pragma: no cover - lark reports input errors as UnexpectedInput
        raise DslError([finding("dsl.syntax", str(err), Position(path))]) from None
    return _Builder(path).feature(tree)


def _kids(tree: Tree[Token]) -> list[Tree[Token] | Token | None]:
    # lark leaves None for an absent optional part (maybe_placeholders).
    return cast(list[Tree[Token] | Token | None], tree.children)


def _pos(path: str, token: Token) -> Position:
    return Position(path, token.line or 1, token.column or 1)


# -- lark's errors, in words --------------------------------------------------------


def _expected(names: set[str] | frozenset[str] | list[str]) -> str:
    words = sorted({_HUMAN.get(n, n.lower()) for n in names if not n.startswith("__")})
    if not words:
        return "something else"
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


_STRING_AT = re.compile(r'"(?:[^"\\\r\n]|\\[^\r\n])*"')


def _syntax_finding(err: UnexpectedInput, source: str, path: str) -> Finding:
    line = err.line or 1
    column = err.column or 1
    # Lines as lark counts them: only "\n" ends a line.
    lines = [text.removesuffix("\r") for text in source.split("\n")[:-1]] or [""]
    if line < 1 or (isinstance(err, UnexpectedToken) and err.token.type == "$END"):
        line, column = len(lines), len(lines[-1]) + 1
    position = Position(path, line, column)
    if isinstance(err, UnexpectedToken):
        expected = set(err.accepts or err.expected or ())
        at_end = err.token.type == "$END"
    else:
        expected = set(err.allowed or ()) if isinstance(err, UnexpectedCharacters) else set()
        at_end = False
    expected.discard("COMMENT")
    expected.discard("WS")
    rest = "" if at_end else lines[line - 1][column - 1 :] if line <= len(lines) else ""
    found = _found_text(rest)

    if rest.startswith('"') and not _STRING_AT.match(rest):
        return finding(
            "dsl.syntax",
            "unterminated string: no closing '\"' on this line",
            position,
            'close the string with " (write \\" for a quote inside it)',
        )
    if at_end:
        return finding(
            "dsl.syntax",
            f"unexpected end of file: expected {_expected(expected)}",
            position,
            _hint_for(expected),
        )
    if _FEATURE_AT.match(rest) and "FEATURE" not in expected:
        return finding(
            "dsl.syntax",
            "a second 'Feature:': a file holds one feature",
            position,
            "move it to a file of its own under features/"
            if not expected & _CLOSERS
            else "an argument list above is not closed: " + _hint_for(expected),
        )
    if rest.startswith("@") and "SCENARIO" in expected and "TAG_NAME" not in expected:
        return finding(
            "dsl.syntax",
            f"unexpected tag {found} before the first 'Scenario:'",
            position,
            "scenario tags go under the 'Scenario:' line; feature tags (@herd, @module, "
            "@requires, @affinity, @slo) go above 'Feature:'",
        )
    if "STEP_KW" in expected and "TAG_NAME" in expected:
        return finding(
            "dsl.syntax",
            f"unexpected {found} in a scenario: expected a tag or a step line",
            position,
            "a scenario holds tags (@source(...), @step(...)) and lines starting with "
            "Given, When, Then, And, But or Do; start a comment with '#'",
        )
    if rest.startswith("\r"):
        return finding(
            "dsl.syntax",
            "a carriage return (\\r) that does not end a line",
            position,
            "save the file with \\n or \\r\\n line endings",
        )
    if not rest:
        found = "end of line"
    return finding(
        "dsl.syntax",
        f"unexpected {found}: expected {_expected(expected)}",
        position,
        _value_hint(rest, expected) or _hint_for(expected),
    )


_PYTHON_WORDS = {
    "True": "write true",
    "False": "write false",
    "None": "tag arguments have no null: leave the argument out",
    "null": "tag arguments have no null: leave the argument out",
}


def _value_hint(rest: str, expected: set[str]) -> str:
    """Hints for the usual slips in tag arguments: Python spellings and unquoted text."""
    if not expected & (_VALUE_TERMINALS | {"EQUAL"}):
        return ""
    if rest.startswith("'"):
        return 'strings are written in double quotes: "..."'
    word = re.match(r"[A-Za-z_]\w*", rest)
    if word and word.group(0) in _PYTHON_WORDS:
        return _PYTHON_WORDS[word.group(0)]
    if expected == {"EQUAL"}:
        return 'a bare word is an argument name (name=value); quote text: "..."'
    return ""


_FEATURE_AT = re.compile(r"Feature[ \t]*:")
_CLOSERS = {"RPAR", "RSQB", "RBRACE"}


def _found_text(rest: str) -> str:
    word = _STRING_AT.match(rest) or re.match(r"[\w@.:/-]+|\S", rest)
    return f"'{_short(word.group(0))}'" if word else "blank"


def _short(text: str) -> str:
    return text if len(text) <= 30 else text[:27] + "..."


def _hint_for(expected: set[str]) -> str:
    if "FEATURE" in expected:
        return "a feature file starts with its tags, then 'Feature: <name>'"
    if "RPAR" in expected and "COMMA" in expected:
        return "separate arguments with ',' and close the list with ')'"
    if "RSQB" in expected:
        return "separate list items with ',' and close the list with ']'"
    if "RBRACE" in expected:
        return "write a map as {key: value, ...} and close it with '}'"
    if "COLON" in expected:
        return "write a map as {key: value, ...}"
    if expected & _VALUE_TERMINALS:
        return 'a value is a string ("..."), a number, true/false, a list [...] or a map {...}'
    if "SCENARIO" in expected:
        return "a feature needs at least one 'Scenario: <name>'"
    if "_NL" in expected:
        return "put one tag line, step or keyword per line"
    return ""


# -- tree -> AST --------------------------------------------------------------------


class _Builder:
    def __init__(self, path: str) -> None:
        self.path = path
        self.findings: list[Finding] = []

    def pos(self, token: Token) -> Position:
        return _pos(self.path, token)

    def feature(self, tree: Tree[Token]) -> Feature:
        node = next(c for c in tree.children if isinstance(c, Tree))
        tags: list[Tag] = []
        description: list[str] = []
        scenarios: list[Scenario] = []
        header: Token | None = None
        name = ""
        for child in node.children:
            if isinstance(child, Token):
                if child.type == "FEATURE":
                    header = child
                elif child.type == "TEXT":
                    name = child.value.strip()
            elif child.data == "tag_line":
                tags.extend(self.tag(t) for t in child.children if isinstance(t, Tree))
            elif child.data == "description":
                description.append(str(child.children[0]).strip())
            elif child.data == "scenario":
                scenarios.append(self.scenario(child))
        assert header is not None
        position = self.pos(header)
        if not name:
            self.findings.append(
                finding(
                    "dsl.missing-name",
                    "the feature has no name",
                    position,
                    "write 'Feature: <name>'",
                )
            )
        for tag in tags:
            self.findings.extend(check_tag(tag, where="feature", check_expression=_check_expr))
        self.findings.extend(_duplicate_tags(tags, "the feature"))
        self.findings.extend(_duplicate_scenarios(scenarios))
        if self.findings:
            raise DslError(self.findings)
        return Feature(
            name=name,
            description="\n".join(description),
            tags=tuple(tags),
            scenarios=tuple(scenarios),
            position=position,
        )

    def scenario(self, tree: Tree[Token]) -> Scenario:
        header = tree.children[0]
        assert isinstance(header, Token)
        position = self.pos(header)
        name = ""
        tags: list[Tag] = []
        steps: list[StepLine] = []
        primary = ""
        for child in tree.children[1:]:
            if isinstance(child, Token):
                if child.type == "TEXT":
                    name = child.value.strip()
            elif child.data == "tag_line":
                tags.extend(self.tag(t) for t in child.children if isinstance(t, Tree))
            elif child.data == "step_line":
                step = self.step(child, primary)
                if step.keyword not in ("And", "But"):
                    primary = step.keyword
                steps.append(step)
        scenario = Scenario(name=name, tags=tuple(tags), steps=tuple(steps), position=position)
        if not name:
            self.findings.append(
                finding(
                    "dsl.missing-name",
                    "the scenario has no name",
                    position,
                    "write 'Scenario: <name>'; the name is part of the pipeline id",
                )
            )
        if not tags and not steps:
            self.findings.append(
                finding(
                    "dsl.empty-scenario",
                    f"scenario {name!r} is empty: no tags and no steps",
                    position,
                    "give it a @source, its @step tags and @sink, or remove it",
                )
            )
        for tag in tags:
            self.findings.extend(check_tag(tag, where="scenario", check_expression=_check_expr))
        self.findings.extend(_duplicate_tags(tags, f"scenario {name!r}"))
        schedule, stream = scenario.tags_named("schedule"), scenario.tags_named("stream")
        if schedule and stream:
            self.findings.append(
                finding(
                    "dsl.conflicting-tags",
                    f"scenario {name!r} has both @schedule and @stream",
                    stream[0].position,
                    "a pipeline runs on a schedule, as a stream, or once per revision",
                )
            )
        for step in steps:
            if step.expression is not None and step.expression_position is not None:
                self.findings.extend(_check_expr(step.expression, step.expression_position))
        return scenario

    def step(self, tree: Tree[Token], primary: str) -> StepLine:
        keyword_token = tree.children[0]
        assert isinstance(keyword_token, Token)
        text_token = tree.children[1] if len(tree.children) > 1 else None
        text = text_token.value.rstrip() if isinstance(text_token, Token) else ""
        keyword = keyword_token.value
        effective = primary if keyword in ("And", "But") else keyword
        expression: str | None = None
        expression_position: Position | None = None
        match = _BACKTICKED.match(text)
        if match and effective == "Then" and isinstance(text_token, Token):
            expression = match.group(1)
            expression_position = Position(
                self.path, text_token.line or 1, (text_token.column or 1) + 1
            )
        return StepLine(
            keyword=keyword,
            text=text,
            position=self.pos(keyword_token),
            expression=expression,
            expression_position=expression_position,
        )

    def tag(self, tree: Tree[Token]) -> Tag:
        name_token = tree.children[0]
        assert isinstance(name_token, Token)
        arguments = tree.children[1] if len(tree.children) > 1 else None
        args: list[Value] = []
        kwargs: dict[str, Value] = {}
        positions: dict[ArgPath, Position] = {}
        key_positions: dict[str, Position] = {}
        if isinstance(arguments, Tree):
            for item in _kids(arguments):
                if item is None:
                    continue
                if isinstance(item, Tree) and item.data == "kwarg":
                    key_token, value_tree = item.children
                    assert isinstance(key_token, Token)
                    key = key_token.value
                    if key_token.type == "STRING":
                        key = self.string(key_token)
                    if key in kwargs:
                        self.findings.append(
                            finding(
                                "dsl.tag-argument",
                                f"argument {key!r} is given twice",
                                self.pos(key_token),
                                "give each argument once",
                            )
                        )
                    kwargs[key] = self.value(value_tree, (key,), positions)
                    key_positions[key] = self.pos(key_token)
                else:
                    if kwargs:
                        self.findings.append(
                            finding(
                                "dsl.tag-argument",
                                "a positional argument follows a keyword argument",
                                self.first_position(item),
                                "write positional arguments first, then key=value ones",
                            )
                        )
                    args.append(self.value(item, (len(args),), positions))
        return Tag(
            name=name_token.value[1:],
            args=tuple(args),
            kwargs=MappingProxyType(kwargs),
            position=self.pos(name_token),
            positions=MappingProxyType(positions),
            key_positions=MappingProxyType(key_positions),
            has_parens=arguments is not None,
        )

    def first_position(self, node: Tree[Token] | Token | None) -> Position:
        if isinstance(node, Token):
            return self.pos(node)
        if isinstance(node, Tree):
            for child in node.children:
                if child is not None:
                    return self.first_position(child)
            meta = node.meta
            if not meta.empty:
                return Position(self.path, meta.line, meta.column)
        return Position(self.path)

    def value(
        self, node: Tree[Token] | Token | None, path: ArgPath, positions: dict[ArgPath, Position]
    ) -> Value:
        assert isinstance(node, Tree)
        kind = node.data
        token = next((c for c in node.children if isinstance(c, Token)), None)
        if not node.meta.empty:
            positions[path] = Position(self.path, node.meta.line, node.meta.column)
        if kind == "string":
            assert token is not None
            return self.string(token)
        if kind == "number":
            assert token is not None
            return self.number(token)
        if kind in ("true", "false"):
            return kind == "true"
        if kind == "list":
            items: list[Value] = []
            for child in _kids(node):
                if child is None:
                    continue
                items.append(self.value(child, (*path, len(items)), positions))
            return tuple(items)
        if kind == "map":
            mapping: dict[str, Value] = {}
            for pair in _kids(node):
                if pair is None:
                    continue
                assert isinstance(pair, Tree)
                key_token, value_tree = pair.children
                assert isinstance(key_token, Token)
                key = self.string(key_token) if key_token.type == "STRING" else key_token.value
                mapping[key] = self.value(value_tree, (*path, key), positions)
            return MappingProxyType(mapping)
        raise AssertionError(f"unknown value node {kind}")  # pragma: no cover

    def string(self, token: Token) -> str:
        try:
            return unquote(token.value)
        except EscapeError as err:
            position = self.pos(token)
            self.findings.append(
                finding(
                    "dsl.syntax",
                    "invalid escape in string: \\u needs four hex digits",
                    Position(position.file, position.line, position.column + err.offset),
                    "write e.g. \\u00e9",
                )
            )
            return str(token.value)[1:-1]

    def number(self, token: Token) -> int | float:
        text = token.value
        if len(text) > MAX_NUMBER_LENGTH:
            self.findings.append(
                finding(
                    "dsl.tag-argument",
                    f"number has {len(text)} characters; the limit is {MAX_NUMBER_LENGTH}",
                    self.pos(token),
                    "write it as a string if it is an identifier",
                )
            )
            return 0
        if any(c in text for c in ".eE"):
            value = float(text)
            if value in (float("inf"), float("-inf")):
                self.findings.append(
                    finding("dsl.tag-argument", "number is too large", self.pos(token))
                )
            return value
        return int(text)


def _duplicate_tags(tags: list[Tag], owner: str) -> Iterator[Finding]:
    seen: dict[str, Tag] = {}
    for tag in tags:
        spec = TAGS.get(tag.name)
        if spec is None or spec.repeatable:
            continue
        first = seen.get(tag.name)
        if first is None:
            seen[tag.name] = tag
            continue
        yield finding(
            "dsl.duplicate-tag",
            f"{owner} has '@{tag.name}' twice (first at line {first.position.line})",
            tag.position,
            f"'@{tag.name}' may appear once; remove one",
        )


def _scenario_key(name: str) -> str:
    return " ".join(name.casefold().split())


def _duplicate_scenarios(scenarios: list[Scenario]) -> Iterator[Finding]:
    seen: dict[str, Scenario] = {}
    for scenario in scenarios:
        if not scenario.name:
            continue
        key = _scenario_key(scenario.name)
        first = seen.get(key)
        if first is None:
            seen[key] = scenario
            continue
        yield finding(
            "dsl.duplicate-scenario",
            f"scenario {scenario.name!r} is defined twice (first at line {first.position.line})",
            scenario.position,
            "scenario names are pipeline ids and must be unique in a feature "
            "(compared ignoring case and spacing)",
        )


def _check_expr(text: str, position: Position) -> list[Finding]:
    try:
        compile_expression(text, position, None, boolean=True)
    except DslError as err:
        return list(err.findings)
    return []


def known_tags() -> Mapping[str, str]:
    """Every recognised tag name (without ``@``) with a one-line summary."""
    return {name: spec.summary for name, spec in TAGS.items()}
