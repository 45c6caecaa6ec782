"""Regex checks for ``matches``: a length cap and a catastrophic-backtracking heuristic.

Python's ``re`` backtracks, so a pattern such as ``(a+)+$`` takes exponential time on
a near-miss. We refuse, at compile time, the shapes that cause it: a group repeated
without bound (``*``, ``+``, ``{n,}``) whose body itself repeats or alternates, and
back-references. This refuses some harmless patterns (``(ab|cd)+``); a character
class or a bounded repeat says the same thing safely.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_REGEX_LENGTH = 512


@dataclass
class _Group:
    start: int
    risky: bool = False  # the body repeats or alternates


def regex_problem(pattern: str) -> tuple[str, int] | None:
    """Why ``pattern`` is refused and the 0-based offset to point at, or None if it is fine."""
    if len(pattern) > MAX_REGEX_LENGTH:
        return (f"regex is {len(pattern)} characters long; the limit is {MAX_REGEX_LENGTH}", 0)
    try:
        re.compile(pattern)
    except re.error as err:
        return (f"invalid regex: {err.msg}", err.pos or 0)
    stack: list[_Group] = [_Group(0)]
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 < n and pattern[i + 1].isdigit() and pattern[i + 1] != "0":
                return ("back-references are not allowed in regexes", i)
            i += 2
            continue
        if c == "[":
            i = _skip_class(pattern, i)
            continue
        if c == "(":
            if pattern.startswith("(?P=", i):
                return ("back-references are not allowed in regexes", i)
            stack.append(_Group(i))
            i = _skip_extension(pattern, i + 1)
            continue
        if c == "|":
            stack[-1].risky = True
            i += 1
            continue
        if c == ")" and len(stack) > 1:
            group = stack.pop()
            end = i + 1
            quantifier, unbounded, variable = _quantifier(pattern, end)
            if unbounded and group.risky:
                return (
                    "regex repeats a group that itself repeats or alternates "
                    "(catastrophic backtracking)",
                    group.start,
                )
            if group.risky or variable:
                stack[-1].risky = True
            i = end + len(quantifier)
            continue
        if c in "*+?{":
            quantifier, _unbounded, variable = _quantifier(pattern, i)
            if variable:
                stack[-1].risky = True
            i += max(1, len(quantifier))
            continue
        i += 1
    return None


def _skip_extension(pattern: str, i: int) -> int:
    """Past the ``?:``, ``?P<name>``, ``?=``, ``?<!``, ``?i:`` ... that opens a group at ``i``."""
    if not pattern.startswith("?", i):
        return i
    j = i + 1
    if pattern.startswith((":", "=", "!"), j):
        return j + 1
    if pattern.startswith(("<=", "<!"), j):
        return j + 2
    if pattern.startswith("P<", j):
        return pattern.index(">", j) + 1
    while j < len(pattern) and (pattern[j].isalpha() or pattern[j] == "-"):
        j += 1
    return j + 1 if pattern.startswith(":", j) else j


def _skip_class(pattern: str, start: int) -> int:
    i = start + 1
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i + 1


_BRACES = re.compile(r"\{(\d*)(,?)(\d*)\}")


def _quantifier(pattern: str, i: int) -> tuple[str, bool, bool]:
    """The quantifier at ``i`` (text, unbounded?, variable count?)."""
    if i >= len(pattern):
        return ("", False, False)
    c = pattern[i]
    text = ""
    unbounded = variable = False
    if c in "*+":
        text, unbounded, variable = c, True, True
    elif c == "?":
        text, variable = c, True
    elif c == "{":
        match = _BRACES.match(pattern, i)
        if match is None:
            return ("", False, False)
        text = match.group(0)
        low, comma, high = match.groups()
        unbounded = bool(comma) and not high
        variable = bool(comma) and low != high
    if text and pattern.startswith(("?", "+"), i + len(text)):
        text += pattern[i + len(text)]  # lazy or possessive suffix
    return (text, unbounded, variable)
