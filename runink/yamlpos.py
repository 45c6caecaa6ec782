"""YAML documents that remember where every key and value came from.

PyYAML's safe loader loses positions, silently keeps the last of two duplicate keys,
and types YAML 1.1 scalars in ways that surprise (``2022-10-03`` becomes a date,
``no`` becomes False, ``010`` becomes 8, ``1:20`` becomes 80). We compose the node
graph with PyYAML and build the values ourselves, with YAML 1.2 core-schema typing:
dates stay strings (the ODCS schema expects strings), only ``true``/``false`` are
booleans, and every key and value keeps its line and column.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from runink.findings import Finding, Position

KeyPath = tuple[str | int, ...]

MAX_NODES = 200_000  # bounds alias expansion ("billion laughs")

_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")

_STR_TAG = "tag:yaml.org,2002:str"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_NULL_TAG = "tag:yaml.org,2002:null"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"


class _CoreSchemaLoader(yaml.SafeLoader):
    """SafeLoader whose implicit typing follows the YAML 1.2 core schema."""


_CoreSchemaLoader.yaml_implicit_resolvers = {}
for _tag, _regexp, _first in (
    (_BOOL_TAG, _BOOL, "tTfF"),
    (_INT_TAG, _INT, "-+0123456789"),
    (_FLOAT_TAG, _FLOAT, "-+0123456789."),
    (_NULL_TAG, _NULL, ["~", "n", "N", ""]),
):
    _CoreSchemaLoader.add_implicit_resolver(_tag, _regexp, list(_first))


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML document: plain Python data plus the position of every node."""

    path: str
    data: Any
    value_marks: Mapping[KeyPath, tuple[int, int]]
    key_marks: Mapping[KeyPath, tuple[int, int]]

    def position(self, keypath: KeyPath = (), *, key: bool = False) -> Position:
        """Where the value (or with ``key=True`` the key) at ``keypath`` is written.

        Falls back to the nearest ancestor that exists, so a missing field points at
        the mapping that should hold it.
        """
        path = tuple(keypath)
        while True:
            marks = self.key_marks if key else self.value_marks
            if path in marks:
                line, column = marks[path]
                return Position(self.path, line, column)
            if key and path in self.value_marks:
                line, column = self.value_marks[path]
                return Position(self.path, line, column)
            if not path:
                return Position(self.path, 1, 1)
            path = path[:-1]
            key = False


def format_keypath(keypath: KeyPath) -> str:
    """``("spec", "roles", "viewer", 0)`` -> ``spec.roles.viewer[0]``."""
    text = ""
    for part in keypath:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


class _Builder:
    def __init__(self, path: str) -> None:
        self.path = path
        self.value_marks: dict[KeyPath, tuple[int, int]] = {}
        self.key_marks: dict[KeyPath, tuple[int, int]] = {}
        self.findings: list[Finding] = []
        self.count = 0
        self._active: set[int] = set()

    def mark(self, node: yaml.Node) -> tuple[int, int]:
        return node.start_mark.line + 1, node.start_mark.column + 1

    def finding(self, node: yaml.Node, code: str, message: str, key: str, hint: str) -> None:
        line, column = self.mark(node)
        self.findings.append(Finding(code, message, Position(self.path, line, column), key, hint))

    def build(self, node: yaml.Node, keypath: KeyPath) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooLarge(node)
        self.value_marks.setdefault(keypath, self.mark(node))
        if id(node) in self._active:
            self.finding(
                node,
                "yaml.recursive-alias",
                "an alias refers to the node that contains it",
                format_keypath(keypath),
                "remove the recursive anchor/alias",
            )
            return None
        if isinstance(node, yaml.MappingNode):
            self._active.add(id(node))
            try:
                return self.build_mapping(node, keypath)
            finally:
                self._active.discard(id(node))
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ_TAG:
                self.unsupported_tag(node, keypath)
            self._active.add(id(node))
            try:
                return [self.build(item, (*keypath, i)) for i, item in enumerate(node.value)]
            finally:
                self._active.discard(id(node))
        assert isinstance(node, yaml.ScalarNode)
        return self.scalar(node, keypath)

    def build_mapping(self, node: yaml.MappingNode, keypath: KeyPath) -> dict[str, Any]:
        if node.tag != _MAP_TAG:
            self.unsupported_tag(node, keypath)
        result: dict[str, Any] = {}
        first_seen: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.finding(
                    key_node,
                    "yaml.complex-key",
                    "a mapping key must be a plain scalar",
                    format_keypath(keypath),
                    "write the key as a string",
                )
                continue
            key = str(key_node.value)
            if key in first_seen:
                first_line = first_seen[key].start_mark.line + 1
                self.finding(
                    key_node,
                    "yaml.duplicate-key",
                    f"duplicate key {key!r} (first defined on line {first_line})",
                    format_keypath((*keypath, key)),
                    "remove one of the two; YAML would silently keep only the last",
                )
                continue
            first_seen[key] = key_node
            child = (*keypath, key)
            self.key_marks[child] = self.mark(key_node)
            result[key] = self.build(value_node, child)
        return result

    def scalar(self, node: yaml.ScalarNode, keypath: KeyPath) -> Any:
        value = str(node.value)
        tag = node.tag
        if tag == _STR_TAG:
            return value
        if tag == _NULL_TAG:
            return None
        if tag == _BOOL_TAG:
            return value.lower() == "true"
        if tag == _INT_TAG:
            try:
                if value.startswith(("0x", "0o")):
                    return int(value, 0)
                return int(value, 10)
            except ValueError:
                pass
        if tag == _FLOAT_TAG:
            lowered = value.lower()
            if lowered.endswith(".inf"):
                return -math.inf if lowered.startswith("-") else math.inf
            if lowered == ".nan":
                return math.nan
            try:
                return float(value)
            except ValueError:
                pass
        self.unsupported_tag(node, keypath)
        return value

    def unsupported_tag(self, node: yaml.Node, keypath: KeyPath) -> None:
        self.finding(
            node,
            "yaml.unsupported-tag",
            f"unsupported YAML tag {node.tag!r}",
            format_keypath(keypath),
            "remove the explicit '!tag'; plain YAML values are enough",
        )


class _TooLarge(Exception):
    def __init__(self, node: yaml.Node) -> None:
        self.node = node


def parse_yaml(text: str, path: str) -> tuple[YamlDocument | None, list[Finding]]:
    """Parse one YAML document; return it (or None) and every problem found."""
    try:
        nodes = list(yaml.compose_all(text, Loader=_CoreSchemaLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = (exc.problem or "invalid YAML").replace("'<stream end>'", "the end of the file")
        context = f" ({exc.context})" if exc.context else ""
        return None, [
            Finding(
                "yaml.syntax",
                f"malformed YAML: {problem}{context}",
                Position(path, line, column),
                hint="check indentation, quoting and ':' after keys near here",
            )
        ]
    except yaml.YAMLError as exc:
        return None, [Finding("yaml.syntax", f"malformed YAML: {exc}", Position(path, 1, 1))]
    documents = [n for n in nodes if n is not None]
    if not documents:
        return None, [
            Finding(
                "yaml.empty",
                "the file is empty",
                Position(path, 1, 1),
                hint="a manifest needs apiVersion, kind, metadata and spec",
            )
        ]
    findings: list[Finding] = []
    if len(documents) > 1:
        extra = documents[1]
        findings.append(
            Finding(
                "yaml.multiple-documents",
                f"expected one YAML document, found {len(documents)}",
                Position(path, extra.start_mark.line + 1, extra.start_mark.column + 1),
                hint="put each manifest in a file of its own",
            )
        )
    builder = _Builder(path)
    try:
        data = builder.build(documents[0], ())
    except _TooLarge as exc:
        line, column = builder.mark(exc.node)
        return None, [
            Finding(
                "yaml.too-large",
                f"the document expands to more than {MAX_NODES} nodes",
                Position(path, line, column),
                hint="aliases (*name) multiply the document; write it out plainly",
            )
        ]
    findings.extend(builder.findings)
    document = YamlDocument(path, data, builder.value_marks, builder.key_marks)
    return document, findings
