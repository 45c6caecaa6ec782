"""String literal escapes shared by feature files and expressions.

Known escapes are JSON's (plus ``\\'``); a backslash before any other character is
kept as written, so a regex such as ``"^\\d{3}$"`` reads the same inside a feature
file, inside an expression, and inside an expression inside a feature file.
"""

from __future__ import annotations

import re

_ESCAPE = re.compile(r"\\(u[0-9A-Fa-f]{4}|u|.)", re.DOTALL)
_SIMPLE = {
    '"': '"',
    "'": "'",
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}


class EscapeError(ValueError):
    """A ``\\u`` escape without four hex digits; ``offset`` is where it starts."""

    def __init__(self, offset: int) -> None:
        self.offset = offset
        super().__init__("\\u needs four hex digits")


def unquote(literal: str) -> str:
    """The value of a quoted literal (``"..."`` or ``'...'``), escapes decoded."""
    body = literal[1:-1]

    def replace(match: re.Match[str]) -> str:
        code = match.group(1)
        if code == "u":
            raise EscapeError(match.start() + 1)
        if len(code) == 5:
            return chr(int(code[1:], 16))
        return _SIMPLE.get(code, match.group(0))

    return _ESCAPE.sub(replace, body)
